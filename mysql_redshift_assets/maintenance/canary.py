"""The canary rows `check-target` loads: every planner type, at the edges the type tests use.

Each column is a MySQL column as `information_schema` would describe it, with the values an
extraction of it could write: the limits of every integer, the widest decimals, float extremes,
a latin1 VARCHAR(10) whose 10 characters need 30 UTF-8 bytes, 4-byte characters, text at the
65,535-byte VARCHAR limit, a NUL byte, a date before 1582, a 2 MiB binary, MySQL's TIME range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.targets import dialect_of

ROWS = 4
MAX_U64 = 18446744073709551615
_POINT_WKB = bytes.fromhex("0101000000000000000000f03f0000000000000040")  # POINT(1 2)


def _col(
    name: str,
    data_type: str,
    column_type: str | None = None,
    *,
    octets: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    charset: str | None = None,
) -> SourceColumn:
    return SourceColumn(
        name=name, data_type=data_type, column_type=column_type or data_type, nullable=True,
        char_octet_length=octets, numeric_precision=precision, numeric_scale=scale,
        datetime_precision=6 if data_type in ("datetime", "timestamp", "time") else None,
        ordinal=0, charset=charset,
    )  # fmt: skip


def _ts(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


D38 = "9999999999999999999999999999.9999999999"  # 38 digits: Decimal arithmetic would round
D65 = "9" * 35 + "." + "9" * 30

CANARY: list[tuple[SourceColumn, list[Any]]] = [
    (_col("id", "int", "int(11)"), [1, 2, 3, 4]),
    (_col("ti", "tinyint", "tinyint(4)"), [-128, 127, 0, None]),
    (_col("tu", "tinyint", "tinyint(3) unsigned"), [0, 255, 1, None]),
    (_col("si", "smallint", "smallint(6)"), [-32768, 32767, 0, None]),
    (_col("su", "smallint", "smallint(5) unsigned"), [0, 65535, 1, None]),
    (_col("mi", "mediumint", "mediumint(9)"), [-8388608, 8388607, 0, None]),
    (_col("i", "int", "int(11)"), [-2147483648, 2147483647, 0, None]),
    (_col("iu", "int", "int(10) unsigned"), [0, 4294967295, 1, None]),
    (_col("bi", "bigint", "bigint(20)"), [-(2**63), 2**63 - 1, 0, None]),
    (_col("bu", "bigint", "bigint(20) unsigned"), [Decimal(0), Decimal(MAX_U64), Decimal(1), None]),
    (_col("d38", "decimal", "decimal(38,10)", precision=38, scale=10),
     [Decimal("-" + D38), Decimal(D38), Decimal("0.0000000001"), None]),
    (_col("d65", "decimal", "decimal(65,30)", precision=65, scale=30), ["-" + D65, D65, "0." + "0" * 29 + "1", None]),
    (_col("f", "float"), [3.4028234663852886e38, -1.1754943508222875e-38, 0.0, None]),
    (_col("db", "double"), [1.7976931348623157e308, -2.2250738585072014e-308, 0.0, None]),
    (_col("b1", "bit", "bit(1)", precision=1), [True, False, None, None]),
    (_col("b5", "bit", "bit(5)", precision=5), [0, 31, None, None]),
    (_col("b64", "bit", "bit(64)", precision=64), [Decimal(0), Decimal(MAX_U64), None, None]),
    # latin1 is cp1252 in MySQL: 10 euro signs are 10 bytes there and 30 in UTF-8.
    (_col("vl", "varchar", "varchar(10)", octets=10, charset="latin1"), ["é" * 10, "€" * 10, "", None]),
    (_col("vu", "varchar", "varchar(20)", octets=80, charset="utf8mb4"),
     ["😀" * 20, "it's \"quoted\" \\ ;", "line\nbreak\ttab", None]),
    (_col("tx", "text", octets=65535, charset="utf8mb4"), ["ü" * 32767, "x" * 65535, "", None]),
    (_col("en", "enum", "enum('a','bé')", octets=8, charset="utf8mb4"), ["a", "bé", None, None]),
    (_col("js", "longtext", octets=4294967295, charset="utf8mb4"), ['{"a": [1, 2.5, null]}', "[]", None, None]),
    (_col("bn", "binary", "binary(4)", octets=4), [b"\x00\x00\x00\x00", b"\xff\xfe\x00\x01", None, None]),
    (_col("vb", "varbinary", "varbinary(10)", octets=10), [b"a\x00b", b"", None, None]),
    (_col("lb", "longblob", octets=4294967295), [bytes(range(256)) * 8192, b"\x00", None, None]),
    (_col("da", "date"), [date(1, 1, 1), date(1582, 10, 10), date(9999, 12, 31), None]),
    (_col("dt", "datetime", "datetime(6)"),
     [_ts(1, 1, 1), _ts(9999, 12, 31, 23, 59, 59, 999999), _ts(1970, 1, 1), None]),
    (_col("ts", "timestamp", "timestamp(6)"),
     [_ts(1970, 1, 1, 0, 0, 1), _ts(2038, 1, 19, 3, 14, 7, 999999), None, None]),
    (_col("tm", "time", "time(6)"), ["-838:59:59.000000", "838:59:59.000000", "00:00:00.000000", None]),
    (_col("y", "year", "year(4)"), [1901, 2155, 0, None]),
    (_col("g", "geometry"), [_POINT_WKB, None, None, None]),
]  # fmt: skip

# Only where text keeps a NUL (Redshift): PostgreSQL cannot store NUL in text at all.
NUL_TEXT = (
    _col("nul", "varchar", "varchar(10)", octets=40, charset="utf8mb4"),
    ["a\x00b", None, None, None],
)


Column = tuple[SourceColumn, list[Any]]

# The second load's columns, added to the scratch table: one with MySQL's DEFAULT (the rows of
# the first load get it), one binary (VARBYTE on Redshift). The widening makes ADDED_TEXT wider.
ADDED_TEXT = _col("added_def", "varchar", "varchar(10)", octets=40, charset="utf8mb4")
WIDER_TEXT = _col("added_def", "varchar", "varchar(100)", octets=400, charset="utf8mb4")
ADDED_BINARY = _col("added_vb", "varbinary", "varbinary(16)", octets=16)
ADDED_DEFAULT = "dflt"  # MySQL's DEFAULT of ADDED_TEXT
ROW_OVER_COPY_LIMIT = 5_000_000  # bytes: over COPY's 4 MB row


def canary_rows(dialect: str) -> list[Column]:
    rows = list(CANARY) + ([NUL_TEXT] if dialect_of(dialect).nul_in_text else [])
    return numbered(rows)


def numbered(rows: list[Column]) -> list[Column]:
    """The columns with their ordinal positions 1, 2, ..."""
    return [(c.__class__(**{**c.__dict__, "ordinal": i}), v) for i, (c, v) in enumerate(rows, 1)]


def later_rows(rows: list[Column], ids: list[int], extra: Sequence[Column] = ()) -> list[Column]:
    """New rows of the canary's columns (and `extra`): the values of its rows 3 and 4 (the
    small ones), with the keys `ids`."""
    picked = [2, 3, 2, 3][: len(ids)]
    out: list[Column] = []
    for col, values in rows:
        out.append((col, list(ids) if col.name == "id" else [values[i] for i in picked]))
    return numbered(out + list(extra))


def big_row(rows: list[Column], key: int) -> list[Column]:
    """One row whose LONGBLOB holds ROW_OVER_COPY_LIMIT bytes: over COPY's row limit, though
    the value fits its column."""
    big = b"\x01" * ROW_OVER_COPY_LIMIT
    return numbered([
        (col, [key if col.name == "id" else big if col.name == "lb" else None])
        for col, _ in rows
    ])  # fmt: skip


def arrow_arrays(types: list[pa.DataType], values: list[list[Any]]) -> list[pa.Array]:
    return [pa.array(v, t) for t, v in zip(types, values, strict=True)]
