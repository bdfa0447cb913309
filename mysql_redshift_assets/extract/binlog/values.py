"""A binlog row's values made equal to what a plain SELECT returns through pymysql (the
reference the extractors are held to), where mysql-replication 1.0.17 decodes them otherwise.

Measured on MariaDB 10.11 (integration/test_binlog_values.py compares every type both ways):
- BIT: the library gives a string of '0'/'1'; a SELECT gives big-endian bytes. Converted.
- BINARY(n): the binlog drops the trailing zero bytes (as it drops a CHAR's trailing spaces);
  a SELECT returns all n bytes. Padded back to n.
- SET: the library gives a Python set; a SELECT gives the members comma-joined in definition
  order. Joined in that order.
- TIME(n) < 0 with a fraction: the library negates the whole seconds but adds the stored
  (complemented) fraction, so `-838:59:58.1234` comes out as `-838:59:58.8766`. Corrected:
  for such a value the true magnitude is `2 * whole + 1 - decoded`.
- FLOAT: the library gives the float32's exact double (0.1 -> 0.10000000149011612); a SELECT
  gives MySQL's text of it. Rounded to the shortest text that reads back as the same float32.
Unchanged and equal: integers (unsigned BIGINT included), DECIMAL (an exact Decimal), DOUBLE,
DATE, DATETIME (naive wall clock), TIMESTAMP (naive UTC: equal to a SELECT in a `+00:00` session),
YEAR, ENUM, CHAR/VARCHAR/TEXT in any charset (decoded by the column's charset), BLOB, JSON
(MariaDB's JSON is LONGTEXT). Zero dates (`0000-00-00`) come as None: the extractors' NULL too.
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Callable
from typing import Any

from pymysqlreplication.constants import FIELD_TYPE

Fix = Callable[[Any], Any]


def _bit(nbytes: int) -> Fix:
    return lambda text: int(text, 2).to_bytes(nbytes, "big")


def _binary(length: int) -> Fix:
    return lambda raw: raw.ljust(length, b"\0") if isinstance(raw, bytes) else raw


def _set(members: list[str]) -> Fix:
    return lambda chosen: ",".join(m for m in members if m in chosen)


def _negative_time(value: datetime.timedelta) -> datetime.timedelta:
    if value >= datetime.timedelta(0) or value.microseconds == 0:
        return value
    decoded = -value
    whole = datetime.timedelta(seconds=int(decoded.total_seconds()))
    return -(2 * whole + datetime.timedelta(seconds=1) - decoded)


def _float32(value: float) -> float:
    single = struct.unpack("<f", struct.pack("<f", value))[0]
    for digits in range(6, 10):
        text = float(f"{value:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", text))[0] == single:
            return text
    return value


def column_fixes(columns: list[Any]) -> list[tuple[str, Fix]]:
    """(column name, fix) for every column of a table map whose decoding needs one."""
    fixes: list[tuple[str, Fix]] = []
    for column in columns:
        kind = column.type
        if kind == FIELD_TYPE.BIT:
            fixes.append((column.name, _bit(column.bytes)))
        elif kind == FIELD_TYPE.STRING and getattr(column, "character_set_name", None) in (
            "binary",
            None,
        ):
            fixes.append((column.name, _binary(column.max_length)))
        elif kind == FIELD_TYPE.SET and column.set_values:
            fixes.append((column.name, _set(list(column.set_values))))
        elif kind == FIELD_TYPE.TIME2 and getattr(column, "fsp", 0):
            fixes.append((column.name, _negative_time))
        elif kind == FIELD_TYPE.FLOAT:
            fixes.append((column.name, _float32))
    return fixes


def fixed(values: dict[str, Any], fixes: list[tuple[str, Fix]]) -> dict[str, Any]:
    """`values` (one row image) with each fix applied to its non-NULL column."""
    for name, fix in fixes:
        value = values.get(name)
        if value is not None:
            values[name] = fix(value)
    return values
