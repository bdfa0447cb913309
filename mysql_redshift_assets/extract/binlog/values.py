"""A binlog row's values made equal to what the extractors read with a plain SELECT, where
mysql-replication 1.0.17 decodes them otherwise.

Measured on MariaDB 10.11 (integration/test_binlog_values.py compares every type both ways):
- BIT: the library gives a string of '0'/'1'; a SELECT gives big-endian bytes. Converted.
- BINARY(n): the binlog drops the trailing zero bytes (as it drops a CHAR's trailing spaces);
  a SELECT returns all n bytes. Padded back to n.
- An empty binary string (BINARY, VARBINARY, BLOB) comes as '' (str): bytes, b''.
- SET: the library gives a Python set, and None for the empty set (told apart from NULL only by
  the row's `none_sources`); a SELECT gives the members comma-joined in definition order, and ''.
- TIME(n) < 0 with a fraction: the library negates the whole seconds but adds the stored
  (complemented) fraction, so `-838:59:58.125` comes out as `-838:59:58.875`. Corrected: for
  such a value the true magnitude is `2 * whole + 1 - decoded`.
- YEAR 0000 (MySQL's zero year): the binlog byte is 0, which the library decodes as 1900 + 0;
  a SELECT gives 0. YEAR holds 1901..2155 and 0000 only, so 1900 is always the zero year.
Unchanged and equal: integers (unsigned BIGINT included), DECIMAL (an exact Decimal), FLOAT (the
float32's exact value, as the extractors read it: `f * 1E0`, since the text protocol prints 6
digits), DOUBLE, DATE, DATETIME (naive wall clock), TIMESTAMP (naive UTC: a SELECT in a `+00:00`
session), YEAR, ENUM, CHAR/VARCHAR/TEXT in any charset (decoded by the column's charset), BLOB,
JSON (MariaDB's JSON is LONGTEXT; MySQL's binary JSON is decoded by the library: untested here).
Zero dates (`0000-00-00`) come as None: the extractors' NULL too.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from pymysqlreplication.constants import FIELD_TYPE, NONE_SOURCE

Fix = Callable[[Any], Any]
_STRINGS = {FIELD_TYPE.VARCHAR, FIELD_TYPE.VAR_STRING, FIELD_TYPE.BLOB}


def _bit(nbytes: int) -> Fix:
    return lambda text: int(text, 2).to_bytes(nbytes, "big")


def _binary(length: int) -> Fix:
    return lambda raw: (raw if isinstance(raw, bytes) else raw.encode()).ljust(length, b"\0")


def _bytes(raw: Any) -> Any:
    return b"" if raw == "" else raw


def _set(members: list[str]) -> Fix:
    return lambda chosen: ",".join(m for m in members if m in chosen)


def _negative_time(value: datetime.timedelta) -> datetime.timedelta:
    if value >= datetime.timedelta(0) or value.microseconds == 0:
        return value
    decoded = -value
    whole = datetime.timedelta(seconds=int(decoded.total_seconds()))
    return -(2 * whole + datetime.timedelta(seconds=1) - decoded)


def _zero_year(value: int) -> int:
    return 0 if value == 1900 else value


def column_fixes(columns: list[Any]) -> list[tuple[str, Fix]]:
    """(column name, fix) for every column of a table map whose decoding needs one."""
    fixes: list[tuple[str, Fix]] = []
    for column in columns:
        kind = column.type
        if kind == FIELD_TYPE.BIT:
            fixes.append((column.name, _bit(column.bytes)))
        elif kind == FIELD_TYPE.STRING and column.character_set_name == "binary":
            fixes.append((column.name, _binary(column.max_length)))
        elif kind in _STRINGS and column.character_set_name == "binary":
            fixes.append((column.name, _bytes))
        elif kind == FIELD_TYPE.SET and column.set_values:
            fixes.append((column.name, _set(list(column.set_values))))
        elif kind == FIELD_TYPE.TIME2 and getattr(column, "fsp", 0):
            fixes.append((column.name, _negative_time))
        elif kind == FIELD_TYPE.YEAR:
            fixes.append((column.name, _zero_year))
    return fixes


def fixed(
    values: dict[str, Any], none_sources: dict[str, str], fixes: list[tuple[str, Fix]]
) -> dict[str, Any]:
    """`values` (one row image) with each fix applied to its non-NULL columns, and the empty
    SETs (None, told apart by `none_sources`) as ''."""
    for name, fix in fixes:
        value = values.get(name)
        if value is not None:
            values[name] = fix(value)
        elif none_sources.get(name) == NONE_SOURCE.EMPTY_SET:
            values[name] = ""
    return values


def missing_columns(none_sources: dict[str, str]) -> list[str]:
    """The columns a row image left out (`binlog_row_image` other than FULL)."""
    return sorted(
        name for name, source in none_sources.items() if source == NONE_SOURCE.COLS_BITMAP
    )
