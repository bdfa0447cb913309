"""What one extraction needs to know about a table, checked against the source first.

Every user mistake that can be caught before a row moves is caught here, with a message naming
the file, the table and the key: an unknown table or column, no primary key in a merge mode, a
column whose normalised name changed since the last run. The plan is a value: it runs no SQL
(`bounds.py` asks the source for a run's bounds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.config.row_filter import parse_filter
from mysql_redshift_assets.extract.catalog import DEFAULTS_SQL, DeclaredDefault, declared_defaults
from mysql_redshift_assets.extract.key_identity import identity_column
from mysql_redshift_assets.extract.position import KeyColumn, Keyset
from mysql_redshift_assets.extract.row_filter import RowFilter, bind_filter, through_filter
from mysql_redshift_assets.extract.schema_types import (
    PlannedColumn,
    SourceColumn,
    arrow_schema,
    plan_columns,
)
from mysql_redshift_assets.extract.shaping import hash_column, hash_key, shape_columns
from mysql_redshift_assets.extract.source import MySQLSource, Source
from mysql_redshift_assets.identifiers import IdentifierError, identifier_limit


@dataclass(frozen=True)
class TablePlan:
    table: TableConfig
    columns: list[PlannedColumn]
    primary_key: list[str]
    cursor: str | None
    table_ref: str
    select_list: list[str]
    order_quoted: list[str]  # the keyset columns, quoted for the source
    # The columns each reader carries as the rows' keyset values, by their places in
    # `columns`: `order_quoted`'s columns, except that a cursor with a `cursor_fallback` is
    # carried as two (cursor, fallback) and `read_table` makes them one, COALESCE(cursor,
    # fallback), the expression `order_quoted` orders and compares on.
    order_indexes: list[int]
    arrow_schema: pa.Schema
    keyset: Keyset  # how a keyset row becomes a position, and a position bound values
    # `mra$key`, MySQL's identity of a collated or prefix key (`key_identity.py`), or None
    identity: PlannedColumn | None = None
    zone: str = "UTC"  # the zone this table's DATETIME values are wall clocks in
    fallback: str | None = None  # the cursor's `cursor_fallback` column
    # `where:` (extract/row_filter.py); with one, `table_ref` is the filtered rows (a derived
    # table every read selects from) and `base_ref` the table itself.
    row_filter: RowFilter | None = None
    base_ref: str = ""

    def through_filter(self, before: Any, after: Any) -> tuple[Any, Any]:
        """A binlog change's images seen through the row filter (`row_filter.through_filter`)."""
        return through_filter(self.row_filter, bool(self.primary_key), before, after)

    # `hash_columns:` as planned unhashed: how a binlog image's value becomes the HMAC's bytes
    unhashed: tuple[PlannedColumn, ...] = ()

    @property
    def cursor_is_pk(self) -> bool:
        return self.cursor is None or self.cursor in self.primary_key

    @property
    def key_names(self) -> tuple[str, ...]:
        """The primary key's warehouse names (what a refusal names a row by)."""
        names = self.column_map
        return tuple(names[k] for k in self.primary_key if k in names)

    @property
    def column_map(self) -> dict[str, str]:
        return {c.source.name: c.name for c in self.columns}

    def column(self, source_name: str) -> PlannedColumn:
        return next(c for c in self.columns if c.source.name == source_name)

    @property
    def cursor_type(self) -> str | None:
        """The MySQL data type of the keyset's leading expression (None: a composite key)."""
        if not self.cursor_is_pk:
            return self.column(self.cursor or "").source.data_type
        return (
            self.column(self.primary_key[0]).source.data_type
            if len(self.primary_key) == 1
            else None
        )

    @property
    def cursor_expr(self) -> str:
        """The keyset's leading expression, quoted (`COALESCE(c, f)` with a fallback)."""
        return self.order_quoted[0]


def plan_table(
    source: Source, table: TableConfig, loaded_names: Mapping[str, str] | None = None
) -> TablePlan:
    """Plan `table` from what the source says of it now. `loaded_names` maps source column names
    to the warehouse names earlier runs used (the watermark's `columns`): they never change."""
    source_columns = raw_columns = source.columns(table.source_schema, table.source_table)
    if not source_columns:
        raise ConfigError(
            table.error(None, f"table not found in source {source.name!r} (or no columns visible)")
        )
    limit = identifier_limit(table.target_kind)
    recorded = _recorded_names(table, loaded_names or {}, limit)
    declared_key = table.primary_key or source.primary_key(table.source_schema, table.source_table)
    # `exclude_columns:` are never planned, `hash_columns:` are planned as their HMAC
    source_columns = shape_columns(table, source_columns, declared_key)
    try:
        planned = plan_columns(
            source_columns,
            table=table.qualified,
            limit=limit,
            recorded=recorded,
            json_super=table.json == "super",
        )
    except IdentifierError as exc:
        raise ConfigError(table.error(None, str(exc))) from None
    primary_key = _primary_key(declared_key, table, {c.source.name for c in planned})
    _refuse_parsed_json(table, planned, primary_key)
    key = hash_key(table)
    unhashed = tuple(c for c in planned if c.source.name in table.hash_columns)
    if key is not None:
        planned = [hash_column(c, key) if c in unhashed else c for c in planned]
    prefixes = source.key_prefixes(table.source_schema, table.source_table)
    # The binlog carries a key's exact old and new bytes (a key change is a delete and an
    # insert), so a binlog table needs no identity of MySQL's collation.
    identity = (
        None if table.binlog else identity_column(table, source_columns, primary_key, prefixes)
    )
    if identity is not None:
        planned = [*planned, identity]
    cursor = table.cursor if table.mode in ("incremental", "time") else None
    if table.mode == "full":
        order = primary_key or [c.source.name for c in planned if c is not identity]
    elif cursor is None or cursor in primary_key:
        order = primary_key
    else:
        order = [cursor, *primary_key]
    index_of = {c.source.name: i for i, c in enumerate(planned)}
    keys = [planned[index_of[c]].source for c in order]
    order_quoted = [source.quote(c) for c in order]
    carried = [index_of[c] for c in order]
    fallback = _fallback(table, planned, cursor, primary_key)
    if fallback is not None:
        order_quoted[0] = f"COALESCE({source.quote(order[0])}, {source.quote(fallback)})"
        carried.insert(1, index_of[fallback])
    zone = table.time_zone or source.time_zone
    # `where:` is MySQL's predicate on the raw row: it may name an excluded or hashed column
    row_filter = _row_filter(source, table, raw_columns, zone)
    base_ref = source.table_ref(table.source_schema, table.source_table)
    return TablePlan(
        table=table,
        columns=planned,
        primary_key=primary_key,
        cursor=cursor,
        table_ref=filtered_ref(source, table, row_filter, source_columns),
        select_list=[source.select_expr(c.select_expr) for c in planned],
        order_quoted=order_quoted,
        order_indexes=carried,
        arrow_schema=arrow_schema(planned),
        keyset=Keyset(
            tuple(KeyColumn.of(k.name, k.data_type, k.column_type) for k in keys),
            cursor is None or cursor in primary_key,
        ),
        identity=identity,
        zone=zone,
        fallback=fallback,
        row_filter=row_filter,
        base_ref=base_ref,
        unhashed=unhashed,
    )


def _row_filter(
    source: Source, table: TableConfig, columns: list[SourceColumn], zone: str
) -> RowFilter | None:
    """`where:` checked against MySQL's columns now (an unknown column, a type mismatch, a
    collation Python cannot follow on a binlog table: a ConfigError naming it)."""
    if table.where is None:
        return None
    if not isinstance(source, MySQLSource):
        raise ConfigError(table.error("where", "row filters need a MySQL source"))
    try:
        return bind_filter(
            table.where,
            parse_filter(table.where),
            {c.name: c for c in columns},
            quote=source.quote,
            zone=zone,
            binlog=table.binlog,
        )
    except ValueError as exc:
        raise ConfigError(table.error("where", str(exc))) from None


def filtered_ref(
    source: Source,
    table: TableConfig,
    row_filter: RowFilter | None,
    columns: list[SourceColumn],
) -> str:
    """What every read of `table` selects from: the table, or with a filter its rows where
    the filter holds (a derived table MySQL merges into the outer query: the same plan as a
    WHERE, indexes included). Its columns are named (`*` leaves out an INVISIBLE column)."""
    ref = source.table_ref(table.source_schema, table.source_table)
    if row_filter is None:
        return ref
    names = ", ".join(source.quote(c.name) for c in columns)
    alias = source.quote(table.source_table)
    return f"(SELECT {names} FROM {ref} WHERE {row_filter.sql}) AS {alias}"


def plan_defaults(source: Source, table: TableConfig) -> dict[str, DeclaredDefault] | None:
    """MySQL's DEFAULT of every column of `table` now (what a load gives a column MySQL added,
    `load/mysql_defaults.py`); None from a source without MySQL's catalog (the embedded demo)."""
    if not isinstance(source, MySQLSource):
        return None
    params = (table.source_schema, table.source_table)
    defaults = declared_defaults(
        row for chunk in source.stream(DEFAULTS_SQL, params, 10_000) for row in chunk
    )
    # an excluded column's DEFAULT is never loaded, a hashed one's is a raw value (NULL then)
    hidden = {*table.exclude_columns, *table.hash_columns}
    return {name: d for name, d in defaults.items() if name not in hidden}


def _fallback(
    table: TableConfig, planned: list[PlannedColumn], cursor: str | None, primary_key: list[str]
) -> str | None:
    """The `cursor_fallback` column, checked: it exists and has the cursor's type (COALESCE of
    two types would compare as neither)."""
    fallback = table.cursor_fallback
    if fallback is None or cursor is None:
        return None
    types = {c.source.name: c.source.data_type for c in planned}
    if fallback not in types:
        raise ConfigError(
            table.error(
                "cursor_fallback",
                f"unknown column {fallback!r} (columns: {', '.join(sorted(types))})",
            )
        )
    if cursor in primary_key:
        raise ConfigError(
            table.error("cursor_fallback", f"the cursor {cursor!r} is the primary key: never NULL")
        )
    if types[fallback] != types[cursor]:
        raise ConfigError(
            table.error(
                "cursor_fallback",
                f"column {fallback!r} is {types[fallback]} but the cursor {cursor!r} is "
                f"{types[cursor]}; choose a fallback of the same type",
            )
        )
    return fallback


def _recorded_names(
    table: TableConfig, loaded_names: Mapping[str, str], limit: int
) -> Mapping[str, str]:
    """The names earlier runs loaded under, which never change; one the target cannot hold
    whole (recorded before limits were kept: PostgreSQL cut it at 63 bytes) is an error."""
    for source, name in loaded_names.items():
        if len(name.encode()) > limit:
            raise ConfigError(
                table.error(
                    None,
                    f"column {source!r} was recorded as {name!r} ({len(name.encode())} bytes), "
                    f"longer than target {table.target!r} ({table.target_kind}) keeps "
                    f"({limit} bytes). Drop the warehouse table and start the table over "
                    f"(`mysql-redshift watermark reset -p {table.pipeline} -t {table.qualified}` "
                    "after removing its files), so it is loaded under the shortened name",
                )
            )
    return loaded_names


def _refuse_parsed_json(
    table: TableConfig, planned: Sequence[PlannedColumn], primary_key: Sequence[str]
) -> None:
    """`json: super` is parsed by the plain merge only: with history, soft deletes or a keyless
    binlog table it is refused at plan time, before any file, watermark or table is written
    (the load's own refusal, `load/exactly_once.py`, came after the extract had written)."""
    parsed = [c.source.name for c in planned if c.parsed_json]
    what = [
        w
        for w, on in (
            ("`history: true`", table.history),
            ("`deletes: soft`", table.deletes == "soft"),
            ("a `capture: binlog` table without a primary key", table.binlog and not primary_key),
        )
        if on
    ]
    if parsed and what:
        raise ConfigError(
            table.error(
                "json",
                f"`json: super` (columns {', '.join(parsed)}) is not supported yet with "
                f"{' and '.join(what)}: their merges do not parse documents; set "
                "`json: varchar` on this table",
            )
        )


def _primary_key(declared: Sequence[str], table: TableConfig, names: set[str]) -> list[str]:
    """The configured or MySQL's primary key, checked (with the cursor) against the columns."""
    primary_key = list(declared)
    for key, columns in (
        ("primary_key", primary_key),
        ("cursor", [table.cursor] if table.cursor else []),
    ):
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise ConfigError(
                table.error(
                    key,
                    f"unknown column(s) {', '.join(unknown)} (columns: {', '.join(sorted(names))})",
                )
            )
    # A keyless binlog table is a multiset of whole rows (load/keyless_changes.py).
    if not primary_key and table.mode == "incremental" and not table.binlog:
        raise ConfigError(
            table.error(
                "primary_key",
                "the table has no primary key; incremental mode merges on one. "
                "Name unique column(s) with `primary_key:` or use `mode: full` (or `mode: "
                "time` on a timestamp column: each window is replaced whole)",
            )
        )
    if table.mode == "id_range" and len(primary_key) != 1:
        why = "the table has no primary key" if not primary_key else "its key has several columns"
        raise ConfigError(
            table.error(
                "primary_key",
                f"{why}; mode id_range windows on a single integer primary-key column. Name "
                "one with `primary_key:` or use `mode: time` (windows on a timestamp column) "
                "or `mode: full`",
            )
        )
    return primary_key
