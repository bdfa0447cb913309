"""Each warehouse a pipeline can target, as data: one `TargetDialect` record per kind.

What the modules below and beside the warehouse classes need to know of a target, as dlt's
destination capabilities hold it: the longest identifier (`identifiers`, `naming`,
`extract/plan`), the Parquet codec its loader reads (`store/`), each planned column's SQL type
(`column_type`: the DDL, `defs/` metadata), the longest values a load takes, which type changes
it makes in place (`load/evolve.py`), what `check-target` can ask of it, and the few SQL
spellings the reconciliation needs where the dialects differ (`reconcile/canonical.py`).
Nothing here runs SQL: what a warehouse does differently is an override in its class in
`load/`. Nothing outside `load/` and this module decides by a kind's name
(`unit/test_targets.py` reads the source for it).

It imports nothing of the project, so every layer may read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

TargetKind = Literal["duckdb", "postgres", "redshift"]

# Redshift's VARCHAR holds at most 65,535 bytes, its VARBYTE 16,777,216
# (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html,
# https://docs.aws.amazon.com/redshift/latest/dg/r_VARBYTE_type.html).
REDSHIFT_MAX_VARCHAR = 65_535
REDSHIFT_MAX_VARBYTE = 16_777_216
# "The maximum size of a single input row from any source is 4 MB"
# (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-source.html). Read as
# 4 MiB: a row between 4,000,000 and 4,194,304 bytes is left to COPY, whose refusal then
# carries SYS_LOAD_ERROR_DETAIL's row (`load/redshift_limits.py`), rather than refused here
# while Redshift may take it.
REDSHIFT_MAX_COPY_ROW = 4 * 1024 * 1024


class PlannedTypes(Protocol):
    """A column as the planner typed it (`PlannedColumn`, `FileColumn`): one type per dialect."""

    @property
    def redshift_type(self) -> str: ...

    @property
    def duckdb_type(self) -> str: ...

    @property
    def postgres_type(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class TargetDialect:
    """One kind of warehouse, as facts.

    - `kind`: the name a connections file gives it (`targets.<name>.kind`); `title`: as
      people write it, in messages.
    - `identifier_limit`: bytes of an identifier it keeps whole (longer names are shortened
      by `identifiers.shorten`, never cut by the database).
    - `parquet_codec`: the page codec of the files its loader reads.
    - `text_limit_bytes`, `binary_limit_bytes`: the longest text (UTF-8 bytes) and binary value
      a load takes; None: any.
    - `row_limit_bytes`: the largest row (its values' bytes, `store/parquet.py` `row_bytes`) a
      load takes; None: any.
    - `type_changes_in_place`: the kinds of column type (`load/evolve.py` `SqlType.kind`) that
      `ALTER COLUMN ... TYPE` widens in place; None: every kind (`changes_type_in_place`).
    - `nul_in_text`: whether its text columns keep a NUL character (the canary tries one).
    - `embedded`: a database file in this process, not a server: no privileges, isolation
      level or session to check, and `check-target` leaves its schemas.
    - `isolation_sql`: the query naming the default isolation level (None: embedded).
    - `hex_sql`, `hex_piece_sql`, `date_text`: the reconciliation's canonical text where the
      dialects spell it differently: binary as lowercase hex, 15 hex digits as an exact
      integer, and dates by `strftime` or by `to_char` (year 0 printed as 1 BC).
    - `planned_type`: which of a planned column's types is this dialect's (`column_type`).
    - `json_staging_type`, `json_parse_sql`: `json: super`: the staging type of a JSON
      document's text and the merge's parse of it into the JSON type (SUPER, JSONB, JSON);
      `json_typeof_sql`, `json_text_sql`: a parsed value's JSON type and text
      (`check-target`'s `json` probe).
    """

    kind: TargetKind
    title: str
    identifier_limit: int
    parquet_codec: str
    text_limit_bytes: int | None
    binary_limit_bytes: int | None
    row_limit_bytes: int | None
    type_changes_in_place: frozenset[str] | None
    nul_in_text: bool
    embedded: bool
    isolation_sql: str | None
    hex_sql: str
    hex_piece_sql: str
    date_text: Literal["strftime", "to_char"]
    planned_type: Callable[[PlannedTypes], str] = field(repr=False, compare=False)
    # `json: super` (`store/json_limits.py`).
    json_staging_type: str = "VARCHAR"
    json_parse_sql: str = "{}"
    json_typeof_sql: str = "JSON_TYPE({})"
    json_text_sql: str = "CAST({} AS VARCHAR)"

    def column_type(self, col: PlannedTypes) -> str:
        """The SQL type of a planned column in this warehouse."""
        return self.planned_type(col)

    def changes_type_in_place(self, kind: str) -> bool:
        """Whether `ALTER COLUMN ... TYPE` widens a column of this type kind in place (else the
        table is rebuilt)."""
        return self.type_changes_in_place is None or kind in self.type_changes_in_place


REDSHIFT = TargetDialect(
    kind="redshift",
    title="Redshift",
    # "Names and identifiers": at most 127 bytes
    # (https://docs.aws.amazon.com/redshift/latest/dg/r_names.html).
    identifier_limit=127,
    # COPY from Parquet documents gzip, snappy and bzip2 and nowhere says it reads ZSTD pages
    # (https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-columnar.html).
    parquet_codec="snappy",
    text_limit_bytes=REDSHIFT_MAX_VARCHAR,
    binary_limit_bytes=REDSHIFT_MAX_VARBYTE,
    row_limit_bytes=REDSHIFT_MAX_COPY_ROW,
    # `ALTER COLUMN column_name TYPE updated_varchar_data_type_size` is the only type change
    # in place, and not inside a transaction block
    # (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html).
    type_changes_in_place=frozenset({"varchar"}),
    nul_in_text=True,
    embedded=False,
    # https://docs.aws.amazon.com/redshift/latest/dg/r_STV_DB_ISOLATION_LEVEL.html
    isolation_sql=(
        "SELECT TRIM(isolation_level) FROM stv_db_isolation_level "
        "WHERE db_name = current_database()"
    ),
    # TO_HEX(varbyte) (https://docs.aws.amazon.com/redshift/latest/dg/r_TO_HEX.html); STRTOL
    # takes hex digits "within the signed 64-bit range"
    # (https://docs.aws.amazon.com/redshift/latest/dg/r_STRTOL.html), cast to DECIMAL(38,0) so
    # that SUM never wraps (https://docs.aws.amazon.com/redshift/latest/dg/r_SUM.html).
    hex_sql="TO_HEX({})",
    hex_piece_sql="CAST(STRTOL({}, 16) AS DECIMAL(38,0))",
    date_text="to_char",
    planned_type=lambda c: c.redshift_type,
    # JSON_PARSE takes VARCHAR (https://docs.aws.amazon.com/redshift/latest/dg/JSON_PARSE.html);
    # a COPY of a Parquet string into a SUPER column would keep it a SUPER string.
    json_staging_type=f"VARCHAR({REDSHIFT_MAX_VARCHAR})",
    json_parse_sql="JSON_PARSE({})",
    # https://docs.aws.amazon.com/redshift/latest/dg/JSON_TYPEOF.html, .../JSON_SERIALIZE.html
    json_typeof_sql="JSON_TYPEOF({})",
    json_text_sql="JSON_SERIALIZE({})",
)

POSTGRES = TargetDialect(
    kind="postgres",
    title="PostgreSQL",
    # NAMEDATALEN - 1; a longer name is truncated with only a NOTICE
    # (https://www.postgresql.org/docs/15/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS).
    identifier_limit=63,
    parquet_codec="snappy",  # the stand-in reads what Redshift will
    # The stand-in refuses what Redshift would refuse (`load/widths.py`).
    text_limit_bytes=REDSHIFT_MAX_VARCHAR,
    binary_limit_bytes=REDSHIFT_MAX_VARBYTE,
    row_limit_bytes=REDSHIFT_MAX_COPY_ROW,
    type_changes_in_place=None,
    nul_in_text=False,  # "invalid byte sequence for encoding UTF8: 0x00"
    embedded=False,
    isolation_sql="SHOW default_transaction_isolation",
    hex_sql="ENCODE({}, 'hex')",
    hex_piece_sql="CAST(CAST('x' || {} AS BIT(60)) AS BIGINT)",
    date_text="to_char",
    planned_type=lambda c: c.postgres_type,
    json_staging_type="TEXT",
    json_parse_sql="CAST({} AS JSONB)",
    json_typeof_sql="JSONB_TYPEOF({})",
    json_text_sql="CAST({} AS TEXT)",
)

DUCKDB = TargetDialect(
    kind="duckdb",
    title="DuckDB",
    # No limit (5,000 characters tried): it takes Redshift's, so a pipeline tried on DuckDB
    # gets the names it will have in Redshift.
    identifier_limit=REDSHIFT.identifier_limit,
    parquet_codec="zstd",  # the fastest to write here (`make bench`), level 1
    text_limit_bytes=None,
    binary_limit_bytes=None,
    row_limit_bytes=None,
    type_changes_in_place=None,
    nul_in_text=False,  # not relied on: the canary does not try it
    embedded=True,
    isolation_sql=None,
    hex_sql="LOWER(HEX({}))",
    hex_piece_sql="CAST('0x' || {} AS BIGINT)",
    date_text="strftime",
    planned_type=lambda c: c.duckdb_type,
    json_parse_sql="CAST({} AS JSON)",  # the JSON type is built into DuckDB's wheel
)

DIALECTS: dict[str, TargetDialect] = {d.kind: d for d in (DUCKDB, POSTGRES, REDSHIFT)}


def dialect_of(kind: str) -> TargetDialect:
    """The record of target kind `kind`; an unknown kind fails naming the known ones."""
    try:
        return DIALECTS[kind]
    except KeyError:
        raise ValueError(
            f"unknown target kind {kind!r}; the kinds are: {', '.join(sorted(DIALECTS))}"
        ) from None


def planned_types(col: PlannedTypes) -> tuple[str, ...]:
    """A planned column's type in every dialect: two plans of a column agree iff these do."""
    return tuple(d.column_type(col) for d in DIALECTS.values())
