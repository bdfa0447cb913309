"""Binlog row images -> the planner's Arrow batch, value for value what a SELECT extracts.

The stream's values are Python objects equal to a SELECT's (`values.py` corrects the library).
Each becomes the text MySQL's text protocol would send for it, and `mysql_text.raw_to_arrow`
converts the column as it converts every extraction's: one conversion rule for both capture
contracts (DECIMAL through its text, never a float; zero dates NULL; BIT from its bytes). Then
DATETIME wall clocks become UTC instants in the table's zone, as `extract/table.py` does.

- DECIMAL: the column's scale, exactly (`1.5` of a DECIMAL(10,2) is the text `1.50`), all 65
  digits (quantized in a context wider than MySQL's DECIMAL).
- FLOAT: the float32's exact value as a double's text (the extraction reads `f * 1E0`).
- TIME: `[-]H:MM:SS` with the column's fractional digits, as MySQL prints it (a VARCHAR target).
- GEOMETRY: MySQL's internal value is a 4-byte SRID then the WKB; the extraction reads
  `ST_AsBinary`, the WKB: the SRID is cut off.
- JSON: MariaDB stores it as text (sent as it is). MySQL's binary JSON comes decoded; it is
  written back as compact JSON text, which may order an object's keys otherwise than MySQL
  prints them (the same document; MySQL cannot run here to compare).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Context, Decimal
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.extract.mysql_text import raw_to_arrow
from mysql_redshift_assets.extract.schema_types import GEOMETRY_TYPES, PlannedColumn
from mysql_redshift_assets.extract.zones import datetimes_to_utc, is_utc

_DECIMALS = Context(prec=100)


def _time_text(value: dt.timedelta, digits: int) -> str:
    micros = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
    sign, micros = ("-", -micros) if micros < 0 else ("", micros)
    seconds, fraction = divmod(micros, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{fraction:06d}"[: len(text) + 1 + digits] if digits else text


def mysql_text(col: PlannedColumn, value: Any) -> str | bytes | None:
    """`value` (a binlog image's) as MySQL's text protocol sends the column's SELECT."""
    if value is None:
        return None
    source = col.source
    kind = source.data_type
    if isinstance(value, bytes | bytearray):
        return bytes(value[4:] if kind in GEOMETRY_TYPES else value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        scale = source.numeric_scale or 0
        # MySQL's 65 digits: past the default context's 28 (quantize would raise)
        return format(value.quantize(Decimal(1).scaleb(-scale), context=_DECIMALS), "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _time_text(value, source.datetime_precision or 0)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def rows_to_arrow(
    columns: Sequence[PlannedColumn], schema: pa.Schema, rows: Sequence[dict[str, Any]], zone: str
) -> list[pa.Array]:
    """The planned columns of `rows` (images keyed by MySQL column name) as Arrow arrays."""
    arrays = []
    for col in columns:
        values = [mysql_text(col, row.get(col.source.name)) for row in rows]
        array = raw_to_arrow(col, values)
        if col.source.data_type == "datetime" and not is_utc(zone):
            array = datetimes_to_utc(array, zone)
        arrays.append(array)
    assert len(arrays) == len(schema)
    return arrays
