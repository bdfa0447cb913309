"""The one schema planner: how each MySQL column type is read, stored and created downstream.

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
| geometry (all kinds)  | binary (WKB)      | VARBYTE(1024000) | BLOB          | BYTEA            |

tinyint covers signed, unsigned and tinyint(1): it stays a number because MySQL stores
-128..127 in a "bool". VARCHAR(n): n is CHARACTER_OCTET_LENGTH, because Redshift counts bytes,
at least 1 and at most 65535 (longer text fails to load). VARBYTE(n): the octet length, at
least 1, at most 1024000. MariaDB reports JSON columns as longtext, so they map as longtext.
Zero dates (0000-00-00, 2024-00-00) and impossible ones (2024-02-31) become NULL. Any other
type is refused with ``UnsupportedTypeError`` rather than guessed. ``select_expr`` is the quoted
column except for geometry (``ST_AsBinary(`g`)``) and float (``(`f` * 1E0)``, because the text
protocol prints FLOAT with only 6 significant digits).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pymysql.converters

from mysql_redshift_assets.identifiers import normalize_columns, quote_mysql_ident

MAX_VARCHAR = 65535
MAX_VARBYTE = 1024000
_TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
_BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_GEOMETRY_TYPES = {
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
        "datetime wall clock, read with time_zone '+00:00' and written as UTC; "
        "zero dates become NULL.",
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
    if dt in _TEXT_TYPES or dt in _BINARY_TYPES:
        binary = dt in _BINARY_TYPES
        cap = MAX_VARBYTE if binary else MAX_VARCHAR
        octets = col.char_octet_length
        n = cap if octets is None else min(max(octets, 1), cap)
        target = _varbyte(n) if binary else _varchar(n)
        if octets is not None and octets > cap:
            return target, f"{dt} capped at {target.redshift}: longer values fail to load."
        return target, f"{dt} -> {target.redshift}, sized in bytes."
    if dt in _GEOMETRY_TYPES:
        return _varbyte(MAX_VARBYTE), f"{dt} as WKB bytes (ST_AsBinary); SRID is dropped."
    raise UnsupportedTypeError(
        f"column {col.name!r} has unsupported MySQL type {col.column_type!r} ({dt})"
    )


def plan_column(col: SourceColumn, name: str) -> PlannedColumn:
    """Plan one column; ``name`` is its already normalised warehouse name."""
    target, rule = _target(col)
    quoted = quote_mysql_ident(col.name)
    select_expr = quoted
    if col.data_type in _GEOMETRY_TYPES:
        select_expr = f"ST_AsBinary({quoted})"
    elif col.data_type == "float":
        # The text protocol prints FLOAT with 6 significant digits (16777215 -> '16777200');
        # as a DOUBLE it prints every digit, and the exact float32 value is parsed back.
        select_expr = f"({quoted} * 1E0)"
    return PlannedColumn(col, name, *target, select_expr=select_expr, rule=rule)


def plan_columns(cols: Sequence[SourceColumn], *, table: str) -> list[PlannedColumn]:
    """Plan a table's columns in ordinal order; name collisions raise IdentifierError."""
    ordered = sorted(cols, key=lambda c: c.ordinal)
    names = normalize_columns([c.name for c in ordered], table=table)
    return [plan_column(c, names[c.name]) for c in ordered]


def arrow_schema(planned: Sequence[PlannedColumn]) -> pa.Schema:
    # All nullable: NOT NULL in MySQL is not a promise worth failing a load over (zero dates
    # in a NOT NULL column become NULL here).
    return pa.schema([pa.field(p.name, p.arrow_type, nullable=True) for p in planned])


def raw_conversions() -> dict[Any, Any]:
    """The pymysql ``conv`` that makes every fetched value ``str``, ``bytes`` or None.

    ``conv={}`` does not work: pymysql takes its *encoders* from ``conv`` too, and connecting
    fails ("no default type converter defined") when it escapes its own autocommit setting.
    Keeping the encoders (type keys) and dropping the decoders (int keys) is what works.
    """
    return {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


def raw_to_arrow(col: PlannedColumn, values: Sequence[str | bytes | None]) -> pa.Array:
    """Convert values fetched over MySQL's text protocol to ``col.arrow_type``.

    Open the streaming connection as
    ``pymysql.connect(..., conv=raw_conversions(), cursorclass=pymysql.cursors.SSCursor)`` and
    run ``SET time_zone = '+00:00'`` on it before selecting ``col.select_expr`` values, so that
    TIMESTAMP columns arrive in UTC. Values are then ``str`` (numbers, dates, text, JSON, enum,
    set, time) or ``bytes`` (binary-charset columns: binary, blobs, bit, geometry) or None.
    Conversion is vectorised in Arrow; only BIT needs per-value Python work.
    """
    arrow_type = col.arrow_type
    try:
        if col.source.data_type == "bit":
            return _bits_to_arrow(values, arrow_type)
        if pa.types.is_binary(arrow_type):
            return pa.array(values, pa.binary())
        # Arrow accepts bytes for a string array and checks they are UTF-8.
        text = pa.array(values, pa.string())
        if pa.types.is_string(arrow_type):
            return text
        if pa.types.is_date32(arrow_type) or pa.types.is_timestamp(arrow_type):
            return _to_temporal(text, arrow_type)
        return text.cast(arrow_type)
    except pa.ArrowInvalid as exc:
        raise ValueError(
            f"column {col.source.name!r} ({col.source.column_type}) cannot become "
            f"{arrow_type}: {exc}"
        ) from exc


def _to_temporal(text: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    # A direct cast to a zoned type is refused: parse naive first, then declare it UTC.
    naive = pa.date32() if pa.types.is_date32(arrow_type) else pa.timestamp("us")
    try:
        parsed = text.cast(naive)
    except pa.ArrowInvalid:
        # Zero and impossible dates are rare; checking every value up front would cost 3x.
        parsed = _null_invalid_dates(text).cast(naive)
    return parsed.cast(arrow_type)


def _null_invalid_dates(text: pa.Array) -> pa.Array:
    """NULL where the date part is zero (0000-00-00, 2024-00-00) or impossible (2024-02-31)."""
    day = pc.utf8_slice_codeunits(text, 0, 10)
    # strptime is lenient (Feb 31 rolls over to March), so a round trip exposes bad dates.
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    valid = pc.equal(parsed.cast(pa.date32()).cast(pa.string()), day)
    return pc.if_else(pc.fill_null(valid, False), text, pa.scalar(None, pa.string()))


def _bits_to_arrow(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    # BIT arrives as big-endian bytes of ceil(M/8) length; Arrow has no kernel for that.
    numbers = [None if v is None else int.from_bytes(v, "big") for v in values]
    if pa.types.is_boolean(arrow_type):
        return pa.array([None if n is None else n != 0 for n in numbers], pa.bool_())
    if pa.types.is_decimal(arrow_type):
        return pa.array([None if n is None else str(n) for n in numbers]).cast(arrow_type)
    return pa.array(numbers, arrow_type)


def raw_text(value: Any) -> str:
    """A value as the MySQL text protocol sent it (str, or bytes for binary columns), as text."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(raw_text(value))


_COLUMNS_SQL = """SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, CHARACTER_OCTET_LENGTH,
  NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, ORDINAL_POSITION
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION"""
_PRIMARY_KEY_SQL = """SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY'
ORDER BY ORDINAL_POSITION"""


def read_source_columns(cursor: Any, schema: str, table: str) -> list[SourceColumn]:
    """Read a table's columns; [] when the table does not exist or is not visible.

    Works with any pymysql cursor returning tuples, including one opened with
    ``raw_conversions()`` (numbers then arrive as text and are parsed here).
    """
    cursor.execute(_COLUMNS_SQL, (schema, table))
    return [
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
        )
        for row in cursor.fetchall()
    ]


def read_primary_key(cursor: Any, schema: str, table: str) -> list[str]:
    """The PRIMARY KEY's source column names in key order; [] when there is none."""
    cursor.execute(_PRIMARY_KEY_SQL, (schema, table))
    return [raw_text(row[0]) for row in cursor.fetchall()]
