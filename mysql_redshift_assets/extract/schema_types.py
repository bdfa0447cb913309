"""The one schema planner: how each MySQL column type is read, stored and created downstream.

Pure: a column as `information_schema` describes it (`SourceColumn`, read by `catalog.py`) in,
its Arrow, Redshift, DuckDB and PostgreSQL types and its SELECT expression out. Decoding the
values MySQL sends is `mysql_text.py` (text protocol) and `readers/binary.py` (binary protocol).

| MySQL                 | Arrow             | Redshift         | DuckDB        | PostgreSQL       |
|-----------------------|-------------------|------------------|---------------|------------------|
| tinyint (incl. bool)  | int16             | SMALLINT         | SMALLINT      | SMALLINT         |
| smallint              | int16             | SMALLINT         | SMALLINT      | SMALLINT         |
| smallint unsigned     | int32             | INTEGER          | INTEGER       | INTEGER          |
| mediumint, int        | int32             | INTEGER          | INTEGER       | INTEGER          |
| int unsigned, bigint  | int64             | BIGINT           | BIGINT        | BIGINT           |
| bigint unsigned       | decimal128(20,0)  | DECIMAL(20,0)    | DECIMAL(20,0) | NUMERIC(20,0)    |
| decimal(p,s), p <= 38 | decimal128(p,s)   | DECIMAL(p,s)     | DECIMAL(p,s)  | NUMERIC(p,s)     |
| decimal(p,s), p > 38  | string (exact)    | VARCHAR(p+2)     | VARCHAR       | VARCHAR(p+2)     |
| float                 | float32           | REAL             | REAL          | REAL             |
| double, real          | float64           | DOUBLE PRECISION | DOUBLE        | DOUBLE PRECISION |
| bit(1)                | bool              | BOOLEAN          | BOOLEAN       | BOOLEAN          |
| bit(2..63)            | int64             | BIGINT           | BIGINT        | BIGINT           |
| bit(64)               | decimal128(20,0)  | DECIMAL(20,0)    | DECIMAL(20,0) | NUMERIC(20,0)    |
| char, varchar, *text  | string            | VARCHAR(n)       | VARCHAR       | VARCHAR(n)       |
| enum, set             | string            | VARCHAR(n)       | VARCHAR       | VARCHAR(n)       |
| json                  | string            | VARCHAR(65535)   | VARCHAR       | VARCHAR(65535)   |
| binary, varbinary     | binary            | VARBYTE(n)       | BLOB          | BYTEA            |
| *blob                 | binary            | VARBYTE(n)       | BLOB          | BYTEA            |
| date                  | date32            | DATE             | DATE          | DATE             |
| datetime(fsp)         | timestamp[us,UTC] | TIMESTAMP        | TIMESTAMP     | TIMESTAMP        |
| timestamp(fsp)        | timestamp[us,UTC] | TIMESTAMPTZ      | TIMESTAMPTZ   | TIMESTAMPTZ      |
| time                  | string            | VARCHAR(17)      | VARCHAR       | VARCHAR(17)      |
| year                  | int16             | SMALLINT         | SMALLINT      | SMALLINT         |
| geometry (all kinds)  | binary (WKB)      | VARBYTE(16777216)| BLOB          | BYTEA            |

tinyint covers signed, unsigned and tinyint(1): it stays a number because MySQL stores
-128..127 in a "bool". VARCHAR(n): n counts UTF-8 bytes, as Redshift does (`utf8_width`): a
latin1 VARCHAR(10) of accented letters is 20 bytes in UTF-8. At least 1 and at most 65535
(longer text is refused before loading, or cut with `text_overflow: truncate`). VARBYTE(n): the
octet length, at least 1, at most 16,777,216 (Redshift's limit,
https://docs.aws.amazon.com/redshift/latest/dg/r_VARBYTE_type.html). MariaDB reports JSON columns as
longtext with a `json_valid` CHECK: `catalog.py` reads the CHECK and they plan as json. With
`json: super` a json column is SUPER / JSON / JSONB instead (`JSON_SUPER`).
Zero dates (0000-00-00, 2024-00-00) and impossible ones (2024-02-31) become NULL.
DATETIME values are wall clocks in the zone the source declares (`time_zone:`, default UTC; a
table may override it) and become that instant in UTC (`extract/zones.py`, applied to every
reader's batches in `read_table`): an ambiguous wall clock (a daylight-saving fall-back repeats
01:00-02:00) is its first occurrence, a non-existent one (the spring-forward gap) is read with
the offset in force before the gap (zoneinfo's `fold=0`). TIMESTAMP values are instants already. Any other
type is refused with ``UnsupportedTypeError`` rather than guessed. ``select_expr`` is the quoted
column except for geometry (``ST_AsBinary(`g`)``) and float (``(`f` * 1E0)``, because the text
protocol prints FLOAT with only 6 significant digits).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import pyarrow as pa

from mysql_redshift_assets.identifiers import normalize_columns, quote_mysql_ident
from mysql_redshift_assets.targets import REDSHIFT_MAX_VARBYTE, REDSHIFT_MAX_VARCHAR

# Every type is sized for Redshift's limits, whatever the target: one planner table.
MAX_VARCHAR = REDSHIFT_MAX_VARCHAR
MAX_VARBYTE = REDSHIFT_MAX_VARBYTE
# Most UTF-8 bytes one character of a MySQL character set takes. Character sets not named here
# hold only characters of the Basic Multilingual Plane: at most 3 UTF-8 bytes each.
_UTF8_BYTES_PER_CHAR = {
    "ascii": 1,
    "utf8mb4": 4,
    "utf16": 4,
    "utf16le": 4,
    "utf32": 4,
    "gb18030": 4,
}
_UTF8_CHARSETS = {"utf8mb4", "utf8mb3", "utf8"}
TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
GEOMETRY_TYPES = {
    "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
    "multipolygon", "geometrycollection", "geomcollection",
}  # fmt: skip


class UnsupportedTypeError(ValueError):
    """A column's MySQL type has no mapping; the message names the column and the type."""


@dataclass(frozen=True)
class SourceColumn:
    """One row of information_schema.COLUMNS (type strings lowercased)."""

    name: str
    data_type: str
    column_type: str
    nullable: bool
    char_octet_length: int | None
    numeric_precision: int | None
    numeric_scale: int | None
    datetime_precision: int | None
    ordinal: int
    # Text columns only: MySQL's equality on them (case, accents, trailing spaces).
    charset: str | None = None
    collation: str | None = None
    # MariaDB's JSON: a LONGTEXT with a `json_valid` CHECK (`catalog.py`), planned as JSON.
    json: bool = False


@dataclass(frozen=True)
class PlannedColumn:
    source: SourceColumn
    name: str
    arrow_type: pa.DataType
    redshift_type: str
    duckdb_type: str
    postgres_type: str
    select_expr: str
    rule: str

    @property
    def parsed_json(self) -> bool:
        """`json: super`: a JSON document parsed into SUPER (JSONB, JSON) in the merge."""
        return self.redshift_type == JSON_SUPER.redshift


class _Target(NamedTuple):
    arrow: pa.DataType
    redshift: str
    duckdb: str
    postgres: str


def _same(arrow: pa.DataType, sql: str) -> _Target:
    return _Target(arrow, sql, sql, sql)


_SMALLINT = _same(pa.int16(), "SMALLINT")
_INTEGER = _same(pa.int32(), "INTEGER")
_BIGINT = _same(pa.int64(), "BIGINT")


def _varchar(n: int) -> _Target:
    return _Target(pa.string(), f"VARCHAR({n})", "VARCHAR", f"VARCHAR({n})")


def _varbyte(n: int) -> _Target:
    return _Target(pa.binary(), f"VARBYTE({n})", "BLOB", "BYTEA")


def _decimal(p: int, s: int) -> _Target:
    return _Target(
        pa.decimal128(p, s), f"DECIMAL({p},{s})", f"DECIMAL({p},{s})", f"NUMERIC({p},{s})"
    )


_UINT64 = _decimal(20, 0)
_TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")
# data_type -> (signed target, unsigned target): the narrowest signed type holding the range.
_INTEGERS = {
    "tinyint": (_SMALLINT, _SMALLINT),
    "smallint": (_SMALLINT, _INTEGER),
    "mediumint": (_INTEGER, _INTEGER),
    "int": (_INTEGER, _BIGINT),
    "integer": (_INTEGER, _BIGINT),
    "bigint": (_BIGINT, _UINT64),
}
_DOUBLE = _Target(pa.float64(), "DOUBLE PRECISION", "DOUBLE", "DOUBLE PRECISION")
_FIXED: dict[str, tuple[_Target, str]] = {
    "float": (_same(pa.float32(), "REAL"), "float -> REAL, read as a double to keep all digits."),
    "double": (_DOUBLE, "double -> DOUBLE PRECISION."),
    "real": (_DOUBLE, "real (a double) -> DOUBLE PRECISION."),
    "json": (_varchar(MAX_VARCHAR), "json as text; documents over 65535 bytes fail to load."),
    "date": (_same(pa.date32(), "DATE"), "date; zero or impossible dates become NULL."),
    "datetime": (
        _same(_TIMESTAMP_UTC, "TIMESTAMP"),
        "datetime wall clock in the declared zone (`time_zone:`), written as its UTC "
        "instant; zero dates become NULL.",
    ),
    "timestamp": (
        _same(_TIMESTAMP_UTC, "TIMESTAMPTZ"),
        "timestamp read in UTC (time_zone '+00:00'); zero timestamps become NULL.",
    ),
    "time": (_varchar(17), "time kept as MySQL text ('-838:59:59.000000'), sign and >24h."),
    "year": (_SMALLINT, "year -> SMALLINT (the zero year stays 0)."),
}


def _type_arg(col: SourceColumn, fallback: int | None) -> int | None:
    # COLUMN_TYPE carries the declared width ("bit(5)", "decimal(10,2)") even where the
    # numeric columns of information_schema are NULL on some server versions.
    match = re.search(r"\((\d+)", col.column_type)
    return int(match.group(1)) if match else fallback


def _target(col: SourceColumn) -> tuple[_Target, str]:
    dt = col.data_type
    if dt in _INTEGERS:
        unsigned = "unsigned" in col.column_type or "zerofill" in col.column_type
        target = _INTEGERS[dt][unsigned]
        if dt == "tinyint" and not unsigned and col.column_type.startswith("tinyint(1)"):
            return target, "tinyint(1) stays a number, not BOOLEAN: MySQL stores -128..127 in it."
        sign = "unsigned" if unsigned else "signed"
        return target, f"{dt} {sign} -> {target.redshift}, the narrowest type holding its range."
    if dt in ("decimal", "numeric"):
        p = col.numeric_precision or _type_arg(col, 10) or 10
        s = col.numeric_scale or 0
        if p <= 38:
            return _decimal(p, s), f"decimal({p},{s}) copied exactly."
        target = _Target(pa.string(), f"VARCHAR({p + 2})", "VARCHAR", f"VARCHAR({p + 2})")
        return target, f"decimal({p},{s}) exceeds 38 digits: kept exact as text."
    if dt in _FIXED:
        return _FIXED[dt]
    if dt == "bit":
        bits = _type_arg(col, col.numeric_precision) or 1
        if bits == 1:
            return _same(pa.bool_(), "BOOLEAN"), "bit(1) -> BOOLEAN."
        if bits < 64:
            return _BIGINT, f"bit({bits}) -> BIGINT holding the bits as an unsigned number."
        return _UINT64, "bit(64) -> DECIMAL(20,0) holding the bits as an unsigned number."
    if dt in TEXT_TYPES or dt in BINARY_TYPES:
        binary = dt in BINARY_TYPES
        cap = MAX_VARBYTE if binary else MAX_VARCHAR
        octets = col.char_octet_length if binary else utf8_width(col)
        n = cap if octets is None else min(max(octets, 1), cap)
        target = _varbyte(n) if binary else _varchar(n)
        if octets is not None and octets > cap:
            return target, f"{dt} capped at {target.redshift}: longer values fail to load."
        return target, f"{dt} -> {target.redshift}, sized in bytes."
    if dt in GEOMETRY_TYPES:
        return _varbyte(MAX_VARBYTE), f"{dt} as WKB bytes (ST_AsBinary); SRID is dropped."
    raise UnsupportedTypeError(
        f"column {col.name!r} has unsupported MySQL type {col.column_type!r} ({dt})"
    )


def utf8_width(col: SourceColumn) -> int | None:
    """Most UTF-8 bytes a text column's value takes (Redshift's VARCHAR counts UTF-8 bytes,
    https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html).

    UTF-8 character sets: the octet length already is. Others: characters x the most UTF-8
    bytes one character takes; CHAR/VARCHAR declare their characters, other types are bounded
    by their octet length (a character takes at least one byte).
    """
    octets = col.char_octet_length
    charset = (col.charset or "").lower()
    if octets is None or charset in _UTF8_CHARSETS or not charset:
        return octets
    chars = _type_arg(col, octets) if col.data_type in ("char", "varchar") else octets
    return (chars or octets) * _UTF8_BYTES_PER_CHAR.get(charset, 3)


# `json: super`: a JSON column (MySQL's, or MariaDB's LONGTEXT with a json_valid CHECK) is
# written as its text and parsed in the merge into SUPER / JSONB / JSON (`store/json_limits.py`).
JSON_SUPER = _Target(pa.string(), "SUPER", "JSON", "JSONB")


def is_json(col: SourceColumn) -> bool:
    """MySQL's JSON type, or MariaDB's (LONGTEXT with a `json_valid` CHECK)."""
    return col.data_type == "json" or col.json


def plan_column(col: SourceColumn, name: str, *, json_super: bool = False) -> PlannedColumn:
    """Plan one column; ``name`` is its already normalised warehouse name; `json_super`: JSON
    columns become SUPER (JSONB, JSON), not VARCHAR."""
    if json_super and is_json(col):
        target, rule = JSON_SUPER, "json parsed into SUPER (JSONB, JSON) in the merge."
    elif col.json:
        target, rule = _FIXED["json"]  # MariaDB's JSON: the same VARCHAR as MySQL's
    else:
        target, rule = _target(col)
    quoted = quote_mysql_ident(col.name)
    select_expr = quoted
    if col.data_type in GEOMETRY_TYPES:
        select_expr = f"ST_AsBinary({quoted})"
    elif col.data_type == "float":
        # The text protocol prints FLOAT with 6 significant digits (16777215 -> '16777200');
        # as a DOUBLE it prints every digit, and the exact float32 value is parsed back.
        select_expr = f"({quoted} * 1E0)"
    return PlannedColumn(col, name, *target, select_expr=select_expr, rule=rule)


def plan_columns(
    cols: Sequence[SourceColumn],
    *,
    table: str,
    limit: int | None = None,
    recorded: Mapping[str, str] | None = None,
    json_super: bool = False,
) -> list[PlannedColumn]:
    """Plan a table's columns in ordinal order, under the names `recorded` keeps and new names
    shortened to `limit` bytes (`identifiers.normalize_columns`); collisions raise
    IdentifierError."""
    ordered = sorted(cols, key=lambda c: c.ordinal)
    names = normalize_columns(
        [c.name for c in ordered], table=table, limit=limit, recorded=recorded
    )
    return [plan_column(c, names[c.name], json_super=json_super) for c in ordered]


def arrow_schema(planned: Sequence[PlannedColumn]) -> pa.Schema:
    # All nullable: NOT NULL in MySQL is not a promise worth failing a load over (zero dates
    # in a NOT NULL column become NULL here).
    return pa.schema([pa.field(p.name, p.arrow_type, nullable=True) for p in planned])


# MySQL integer types (the planner maps each to the narrowest signed type holding its range).
INTEGER_TYPES = frozenset(_INTEGERS)
