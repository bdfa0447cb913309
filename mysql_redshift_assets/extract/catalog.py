"""What MySQL says about a table: its columns, primary key and DEFAULTs, from information_schema."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pymysql

from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.identifiers import quote_mysql_ident


def _int(value: Any) -> int | None:
    return None if value is None else int(raw_text(value))


_COLUMNS_SQL = """SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_OCTET_LENGTH,
  NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, ORDINAL_POSITION,
  CHARACTER_SET_NAME, COLLATION_NAME
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION"""
DEFAULTS_SQL = """SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"""
# MariaDB stores JSON as LONGTEXT with a column CHECK `json_valid(`c`)`
# (https://mariadb.com/kb/en/json-data-type/); its CHECK_CONSTRAINTS names the table and the
# level (https://mariadb.com/kb/en/information-schema-check_constraints-table/). MySQL 8's has
# no TABLE_NAME and MySQL 5.7 has no such table: the query fails there, and nothing is JSON by
# CHECK (MySQL's JSON is its own type).
_JSON_CHECKS_SQL = """SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s"""
_PRIMARY_KEY_SQL = """SELECT COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND INDEX_NAME = 'PRIMARY'
ORDER BY SEQ_IN_INDEX"""


def read_source_columns(cursor: Any, schema: str, table: str) -> list[SourceColumn]:
    """Read a table's columns; [] when the table does not exist or is not visible.

    Works with any pymysql cursor returning tuples, including one opened with
    ``raw_conversions()`` (numbers then arrive as text and are parsed here).
    """
    cursor.execute(_COLUMNS_SQL, (schema, table))
    columns = [
        SourceColumn(
            name=raw_text(row[0]),
            data_type=raw_text(row[1]).lower(),
            column_type=raw_text(row[2]).lower(),
            nullable=raw_text(row[3]).upper() == "YES",
            char_octet_length=_int(row[4]),
            numeric_precision=_int(row[5]),
            numeric_scale=_int(row[6]),
            datetime_precision=_int(row[7]),
            ordinal=int(raw_text(row[8])),
            charset=None if row[9] is None else raw_text(row[9]),
            collation=None if row[10] is None else raw_text(row[10]),
        )
        for row in cursor.fetchall()
    ]
    if not any(c.data_type == "longtext" for c in columns):
        return columns
    checks = json_checked(cursor, schema, table)
    return [replace(c, json=True) if c.data_type == "longtext" and c.name in checks else c
            for c in columns]  # fmt: skip


def json_checked(cursor: Any, schema: str, table: str) -> set[str]:
    """The columns of `table` whose CHECK is exactly `json_valid(<column>)`: MariaDB's JSON."""
    try:
        cursor.execute(_JSON_CHECKS_SQL, (schema, table))
        clauses = {raw_text(row[0]).strip() for row in cursor.fetchall()}
    except pymysql.MySQLError:
        return set()  # MySQL: no such table or column
    names = (_json_valid_of(c) for c in clauses)
    return {n for n in names if n is not None}


def _json_valid_of(clause: str) -> str | None:
    """`json_valid(`a``b`)` -> 'a`b'; None for any other clause."""
    if not (clause.lower().startswith("json_valid(`") and clause.endswith("`)")):
        return None
    quoted = clause[len("json_valid(") : -1]
    name = quoted[1:-1].replace("``", "`")
    return name if quote_mysql_ident(name) == quoted else None


def read_primary_key(cursor: Any, schema: str, table: str) -> list[str]:
    """The PRIMARY KEY's source column names in key order; [] when there is none."""
    return list(read_primary_key_parts(cursor, schema, table))


def read_primary_key_parts(cursor: Any, schema: str, table: str) -> dict[str, int | None]:
    """The PRIMARY KEY's columns in key order, each with its prefix length (`KEY (b(16))`:
    MySQL keeps only those first characters / bytes unique) or None for the whole value."""
    cursor.execute(_PRIMARY_KEY_SQL, (schema, table))
    return {raw_text(row[0]): _int(row[1]) for row in cursor.fetchall()}


@dataclass(frozen=True)
class DeclaredDefault:
    """A column's DEFAULT as information_schema states it (text as MySQL / MariaDB print it);
    `load/mysql_defaults.py` says what it put into the rows it had when the column was added."""

    data_type: str  # lowercased
    nullable: bool
    default: str | None  # COLUMN_DEFAULT: MariaDB quotes a string literal, MySQL 8 does not
    extra: str  # EXTRA: MySQL 8 marks an expression DEFAULT_GENERATED


def declared_defaults(rows: Iterable[Sequence[Any]]) -> dict[str, DeclaredDefault]:
    """`DEFAULTS_SQL`'s rows: every column's DEFAULT, by MySQL column name."""
    return {
        raw_text(name): DeclaredDefault(
            data_type=raw_text(data_type).lower(),
            nullable=raw_text(nullable).upper() == "YES",
            default=None if default is None else raw_text(default),
            extra="" if extra is None else raw_text(extra),
        )
        for name, data_type, nullable, default, extra in rows
    }
