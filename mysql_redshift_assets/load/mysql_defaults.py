"""What MySQL wrote into the rows it had when a column was added: the column's DEFAULT.

A column added with a constant DEFAULT holds that constant in every row MySQL had; the loader
adds it with the same DEFAULT (load/evolve.py). An expression, a temporal constant or the
implicit zero of a NOT NULL column without DEFAULT is not reproduced: such a change is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mysql_redshift_assets.extract.catalog import DeclaredDefault


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


def column_defaults(
    declared: Mapping[str, DeclaredDefault] | None,
) -> dict[str, ColumnDefault] | None:
    """What MySQL put into its rows for each column (`extract.plan.plan_defaults`, by MySQL
    column name); None when the source has no catalog to say (the embedded demo)."""
    if declared is None:
        return None
    return {
        name: mysql_default(d.data_type, d.nullable, d.default, d.extra)
        for name, d in declared.items()
    }
