"""One canonical text per planner type, spelled in each dialect so that all four agree.

MySQL/MariaDB, DuckDB, PostgreSQL and Redshift each turn a value into the same text, hash it
with MD5 (the one hash all four have) and sum a 60-bit piece of the hash per bucket. Sums of
pieces are order-independent and exact: each dialect sums them as a DECIMAL / NUMERIC /
HUGEINT, never a wrapping BIGINT, so the sums are compared as plain integers in Python.

| planner type (warehouse)     | canonical text                          | e.g.                        |
|------------------------------|-----------------------------------------|-----------------------------|
| integers, YEAR, BIT(2..64)   | decimal digits                          | `-42`, `18446744073709551615`|
| BIT(1) (BOOLEAN)             | `0` / `1`                               |                             |
| DECIMAL(p<=38,s)             | digits with exactly s decimals          | `-0.5000`                   |
| text, ENUM, SET, JSON, TIME, DECIMAL(p>38) | the text itself (UTF-8)   | `naïve 😀`                  |
| BINARY, VARBINARY, TINYBLOB  | lowercase hex                           | `00ff`                      |
| DATE                         | `YYYY-MM-DD`                            | zero / impossible: NULL     |
| DATETIME, TIMESTAMP          | `YYYY-MM-DD HH:MM:SS.ffffff`, UTC       | zero: NULL                  |

Year 0 (MariaDB stores `0000-01-01`; the warehouses hold it as 1 BC) is `0000-...` everywhere:
MariaDB's `+ INTERVAL 0 DAY` is NULL for year 0, so MySQL checks the month and day on year 2000
(leap like year 0 in the proleptic Gregorian calendar the extraction uses); PostgreSQL's and
Redshift's `YYYY` print 1 BC as `0001`, so they print year 0 shifted by 400 years (146,097 days,
the Gregorian cycle: the same month, day and clock) and write `0000` before it. DuckDB's
STRFTIME prints year 0 as `0000` itself. An earlier year (only a DATETIME read in a zone can
have one, and those are not compared) keeps PostgreSQL's ` BC` text, never equal to MySQL's.

`hash_columns:` (extract/shaping.py) are compared as what the warehouse should hold: MySQL
computes the same HMAC the extraction does, the warehouse's hex text is taken as it is.
`exclude_columns:` are neither planned nor compared, and never named in a result.

Excluded from the value hash (named in every result, never silently skipped):
FLOAT / DOUBLE / REAL (MySQL, DuckDB and PostgreSQL print binary floats with different digit
rules, so no exact common text exists), and binary columns over 32,767 bytes (BLOB and larger,
GEOMETRY): Redshift hashes binary through TO_HEX, whose VARCHAR result stops at 65,535 characters.

Where the warehouses spell a step differently (binary as hex, hex digits as an integer, dates
by STRFTIME or TO_CHAR), each target's record says how (`targets.py`: `hex_sql`,
`hex_piece_sql`, `date_text`). Redshift functions used, as AWS documents them:
- MD5(string) -> 32 hex characters: https://docs.aws.amazon.com/redshift/latest/dg/r_MD5.html
- STRTOL(num_string, 16) -> BIGINT, "must be within the signed 64-bit range" (so 15 hex
  digits, 60 bits): https://docs.aws.amazon.com/redshift/latest/dg/r_STRTOL.html
- SUM(BIGINT) returns BIGINT (it would overflow), SUM(DECIMAL) a NUMERIC(38): pieces are cast
  to DECIMAL(38,0) first: https://docs.aws.amazon.com/redshift/latest/dg/r_SUM.html
- MOD(a, b), both DECIMAL or both integer: https://docs.aws.amazon.com/redshift/latest/dg/r_MOD.html
- TO_CHAR(timestamp, 'YYYY-MM-DD HH24:MI:SS.US') (US: microseconds):
  https://docs.aws.amazon.com/redshift/latest/dg/r_TO_CHAR.html and r_FORMAT_strings.html
- TO_HEX(varbyte) -> VARCHAR: https://docs.aws.amazon.com/redshift/latest/dg/r_TO_HEX.html
- TO_CHAR's `BC` era indicator: https://docs.aws.amazon.com/redshift/latest/dg/r_FORMAT_strings.html
- date / timestamp + INTERVAL '146097 days' (a timestamp):
  https://docs.aws.amazon.com/redshift/latest/dg/r_interval_literals.html
- SUBSTRING(string, start, length), `||`, CASE, COALESCE, CAST(... AS VARCHAR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from mysql_redshift_assets.extract.schema_types import (
    BINARY_TYPES,
    INTEGER_TYPES,
    TEXT_TYPES,
    PlannedColumn,
)
from mysql_redshift_assets.extract.shaping import HASHED_TYPE
from mysql_redshift_assets.identifiers import quote_ident, quote_mysql_ident
from mysql_redshift_assets.targets import dialect_of

Dialect = Literal["mysql", "duckdb", "postgres", "redshift"]
Kind = Literal[
    "int", "int_plus", "bool", "decimal", "text", "raw_text", "binary", "date", "ts", "hashed"
]
MAX_HASHED_BINARY = 32_767  # bytes: TO_HEX's result must fit Redshift's 65,535-char VARCHAR
PIECE_START, PIECE_DIGITS = 17, 15  # hex digits 17..31 of an MD5: 60 bits, a positive BIGINT
NULL_PART = "'n'"  # not a hex digit: a NULL never reads as a hashed value
# pymysql formats every query with its parameters: a literal % in MySQL's text is written %%.
_MYSQL_DATE, _MYSQL_CLOCK = "%%m-%%d", "%%m-%%d %%H:%%i:%%s.%%f"  # after the year
_DUCKDB_DATETIME = "'%Y-%m-%d %H:%M:%S.%f'"
_CYCLE = "INTERVAL '146097 days'"  # 400 Gregorian years


@dataclass(frozen=True)
class Canonical:
    """A column and how its canonical text is spelled: `kind`, or `excluded` with the reason."""

    column: PlannedColumn
    kind: Kind | None
    excluded: str | None = None

    @property
    def source_name(self) -> str:
        return self.column.source.name


def canonical(col: PlannedColumn) -> Canonical:
    dt = col.source.data_type
    if col.parsed_json:
        return Canonical(
            col, None, "JSON parsed (`json: super`): the warehouse writes a document its own way"
        )
    if dt == HASHED_TYPE:  # MySQL computes the HMAC the warehouse should hold (shaping.py)
        return Canonical(col, "hashed")
    if dt in ("float", "double", "real"):
        return Canonical(col, None, "FLOAT/DOUBLE have no exact text common to every dialect")
    if dt == "bit":
        return Canonical(col, "bool" if pa.types.is_boolean(col.arrow_type) else "int_plus")
    if dt == "year":
        return Canonical(col, "int_plus")
    if dt in INTEGER_TYPES:
        return Canonical(col, "int")
    if dt in ("decimal", "numeric"):
        return Canonical(col, "decimal" if pa.types.is_decimal(col.arrow_type) else "raw_text")
    if dt in ("json", "time"):
        return Canonical(col, "raw_text")
    if dt in TEXT_TYPES:
        return Canonical(col, "text")
    if dt in BINARY_TYPES:
        octets = col.source.char_octet_length
        if octets is None or octets > MAX_HASHED_BINARY:
            return Canonical(
                col, None, f"binary over {MAX_HASHED_BINARY:,} bytes (Redshift TO_HEX)"
            )
        return Canonical(col, "binary")
    if dt == "date":
        return Canonical(col, "date")
    if dt in ("datetime", "timestamp"):
        return Canonical(col, "ts")
    return Canonical(col, None, f"{dt}: no canonical text (e.g. GEOMETRY, compared as WKB bytes)")


def mysql_text(c: Canonical) -> str:
    """The canonical text in MySQL/MariaDB (a session in time_zone '+00:00'); NULL stays NULL."""
    ref = quote_mysql_ident(c.source_name)
    match c.kind:
        case "hashed":
            return c.column.select_expr  # the HMAC's hex, as the extraction computes it
        case "int" | "decimal" | "raw_text":
            return f"CAST({ref} AS CHAR)"
        case "int_plus" | "bool":
            return f"CAST({ref} + 0 AS CHAR)"  # BIT and YEAR as numbers, not bytes or '0000'
        case "text":
            return f"CONVERT({ref} USING utf8mb4)"  # a latin1 column hashes its UTF-8 bytes
        case "binary":
            return f"LOWER(HEX({ref}))"
        case "date":
            # `+ INTERVAL 0 DAY` is NULL for zero and impossible dates, as the extraction makes
            # them, and for every date in year 0: those are checked on year 2000 (see above).
            return _mysql_year_zero(ref, _MYSQL_DATE, "DATE", "DAY")
        case "ts":
            return _mysql_year_zero(ref, _MYSQL_CLOCK, "DATETIME(6)", "SECOND")
    raise ValueError(f"column {c.source_name!r} is excluded: {c.excluded}")


def warehouse_text(dialect: Dialect, c: Canonical) -> str:
    """The canonical text in a warehouse; TIMESTAMPTZ is rendered in UTC (every warehouse
    session runs in UTC: `SET TimeZone` / `SET TIME ZONE` when it opens)."""
    ref = quote_ident(c.column.name)
    match c.kind:
        case "int" | "int_plus" | "decimal":
            return f"CAST({ref} AS VARCHAR)"
        case "bool":
            return f"CASE WHEN {ref} THEN '1' WHEN NOT {ref} THEN '0' END"
        case "text" | "raw_text" | "hashed":
            return ref
        case "binary":
            return dialect_of(dialect).hex_sql.format(ref)
        case "date":
            if dialect_of(dialect).date_text == "strftime":
                return f"STRFTIME({ref}, '%Y-%m-%d')"
            return _bc_year_zero(ref, "DATE", "-MM-DD")
        case "ts":
            value = f"CAST({ref} AS TIMESTAMP)" if c.column.source.data_type == "timestamp" else ref
            if dialect_of(dialect).date_text == "strftime":
                return f"STRFTIME({value}, {_DUCKDB_DATETIME})"
            return _bc_year_zero(value, "TIMESTAMP", "-MM-DD HH24:MI:SS.US")
    raise ValueError(f"column {c.column.name!r} is excluded: {c.excluded}")


def _mysql_year_zero(ref: str, month_on: str, cast: str, unit: str) -> str:
    """`YYYY-<month_on>` of a MySQL DATE / DATETIME, NULL where zero or impossible; year 0's
    month and day are checked on year 2000 (MariaDB's date arithmetic refuses year 0)."""
    on_2000 = f"CAST(CONCAT('2000-', DATE_FORMAT({ref}, '{month_on}')) AS {cast})"
    return (
        f"CASE WHEN YEAR({ref}) = 0 "
        f"THEN DATE_FORMAT({on_2000} + INTERVAL 0 {unit}, '0000-{month_on}') "
        f"ELSE DATE_FORMAT({ref} + INTERVAL 0 {unit}, '%%Y-{month_on}') END"
    )


def _bc_year_zero(value: str, kind: str, month_on: str) -> str:
    """PostgreSQL / Redshift TO_CHAR with year 0 (1 BC) printed `0000`, as MySQL prints it."""
    return (
        f"CASE WHEN {value} >= {kind} '0001-01-01' THEN TO_CHAR({value}, 'YYYY{month_on}') "
        f"WHEN {value} + {_CYCLE} >= {kind} '0400-01-01' "
        f"THEN '0000' || TO_CHAR({value} + {_CYCLE}, '{month_on}') "
        f"ELSE TO_CHAR({value}, 'YYYY{month_on} BC') END"
    )


def text_of(dialect: Dialect, c: Canonical) -> str:
    return mysql_text(c) if dialect == "mysql" else warehouse_text(dialect, c)


def concat(dialect: Dialect, parts: Sequence[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    if dialect == "mysql":
        return f"CONCAT({', '.join(parts)})"  # `||` is OR in MySQL's default sql_mode
    return "(" + " || ".join(parts) + ")"


def hashed_parts(dialect: Dialect, columns: Sequence[Canonical]) -> str:
    """Each value's MD5 (32 hex) or 'n' for NULL, concatenated: unambiguous, and short enough
    for Redshift's VARCHAR whatever the values' lengths."""
    return concat(dialect, [f"COALESCE(MD5({text_of(dialect, c)}), {NULL_PART})" for c in columns])


def piece(dialect: Dialect, md5_expr: str) -> str:
    """A 60-bit piece of an MD5 as an exact integer, ready to SUM without overflow."""
    digits = f"SUBSTRING({md5_expr}, {PIECE_START}, {PIECE_DIGITS})"
    if dialect == "mysql":
        return f"CAST(CONV({digits}, 16, 10) AS UNSIGNED)"
    return dialect_of(dialect).hex_piece_sql.format(digits)
