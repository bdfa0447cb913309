"""What MySQL wrote into the rows it had when a column was added: the column's DEFAULT.

A column added with a constant DEFAULT holds that constant in every row MySQL had; the loader
adds it with the same DEFAULT (load/evolve.py). An expression, a temporal constant or the
implicit zero of a NOT NULL column without DEFAULT is not reproduced: such a change is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.source import MySQLSource, Source


@dataclass(frozen=True)
class ColumnDefault:
    """What MySQL put into its existing rows when the column was added."""

    kind: Literal["null", "literal", "expression", "implicit"]
    sql: str | None = None  # the literal, as warehouse SQL


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")
_NUMERIC_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal",
                  "numeric", "float", "double", "real"}  # fmt: skip
_TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}


def mysql_default(data_type: str, nullable: bool, default: str | None, extra: str) -> ColumnDefault:
    """MariaDB writes a string literal quoted ('abc'), NULL as `NULL`, an expression as
    itself (current_timestamp()); MySQL 8 writes literals bare and marks expressions
    DEFAULT_GENERATED in EXTRA."""
    if default is None or default.upper() == "NULL":
        return ColumnDefault("null" if nullable else "implicit")
    generated = "default_generated" in extra.lower()
    if data_type in _NUMERIC_TYPES and _NUMBER.match(default) and not generated:
        return ColumnDefault("literal", default)
    if data_type in _TEXT_TYPES and not generated:
        if len(default) >= 2 and default[0] == default[-1] == "'":
            text = default[1:-1].replace("''", "'").replace("\\\\", "\\")
        else:
            text = default
        if "\\" not in text:  # escapes MariaDB may print are not worth guessing
            return ColumnDefault("literal", "'" + text.replace("'", "''") + "'")
    return ColumnDefault("expression", default)


_DEFAULTS_SQL = (
    "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"
)


def read_mysql_defaults(source: Source, schema: str, table: str) -> dict[str, ColumnDefault] | None:
    """MySQL's DEFAULT of every column of `schema.table`, by MySQL column name; None from a
    source without MySQL's catalog (the embedded demo)."""
    if not isinstance(source, MySQLSource):
        return None
    out = {}
    for chunk in source.stream(_DEFAULTS_SQL, (schema, table), 10_000):
        for name, data_type, nullable, default, extra in chunk:
            out[raw_text(name)] = mysql_default(
                raw_text(data_type).lower(),
                raw_text(nullable).upper() == "YES",
                None if default is None else raw_text(default),
                "" if extra is None else raw_text(extra),
            )
    return out
