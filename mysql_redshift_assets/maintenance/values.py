"""Value-by-value comparison of what was written to Parquet and what a warehouse returns.

One normalisation that loses nothing: instants as naive UTC, binary as bytes, REAL as the float32
it is (drivers print a float4 with the fewest digits that round-trip, then parse it as a double).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from mysql_redshift_assets.store.parquet import FileColumn


def normal(value: Any, sql_type: str) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if sql_type == "REAL" and isinstance(value, float):
        return struct.unpack("f", struct.pack("f", value))[0]
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}... ({len(value)} long)"


def compare_rows(
    columns: Sequence[FileColumn],
    sent: Sequence[Sequence[Any]],
    got: Sequence[Sequence[Any]],
    column_type: Callable[[FileColumn], str],
) -> list[str]:
    """`sent`: per column, its values in row order; `got`: the rows read back, in that order;
    `column_type`: each column's type in the warehouse. One line per differing value (empty:
    equal)."""
    rows = len(sent[0]) if sent else 0
    if len(got) != rows:
        return [f"{len(got)} rows read back, {rows} written"]
    problems = []
    for c, col in enumerate(columns):
        sql_type = column_type(col)
        for r in range(rows):
            want, have = normal(sent[c][r], sql_type), normal(got[r][c], sql_type)
            if want != have:
                problems.append(
                    f"{col.name} ({sql_type}) row {r + 1}: wrote {_show(want)}, read {_show(have)}"
                )
    return problems
