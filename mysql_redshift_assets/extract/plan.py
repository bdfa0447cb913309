"""What one extraction needs to know about a table, checked against the source first.

Every user mistake that can be caught before a row moves is caught here, with a message naming
the file, the table and the key: an unknown table or column, no primary key in a merge mode, a
column whose normalised name changed since the last run. The plan is a value: it runs no SQL
(`bounds.py` asks the source for a run's bounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.schema_types import PlannedColumn, arrow_schema, plan_columns
from mysql_redshift_assets.extract.source import Source
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
    order_indexes: list[int]  # ... and their places in `columns`
    arrow_schema: pa.Schema

    @property
    def cursor_is_pk(self) -> bool:
        return self.cursor is None or self.cursor in self.primary_key

    @property
    def column_map(self) -> dict[str, str]:
        return {c.source.name: c.name for c in self.columns}

    def column(self, source_name: str) -> PlannedColumn:
        return next(c for c in self.columns if c.source.name == source_name)


def plan_table(
    source: Source, table: TableConfig, loaded_names: Mapping[str, str] | None = None
) -> TablePlan:
    """Plan `table` from what the source says of it now. `loaded_names` maps source column names
    to the warehouse names earlier runs used (the watermark's `columns`): they never change."""
    source_columns = source.columns(table.source_schema, table.source_table)
    if not source_columns:
        raise ConfigError(
            table.error(None, f"table not found in source {source.name!r} (or no columns visible)")
        )
    limit = identifier_limit(table.target_kind)
    recorded = _recorded_names(table, loaded_names or {}, limit)
    try:
        planned = plan_columns(
            source_columns, table=table.qualified, limit=limit, recorded=recorded
        )
    except IdentifierError as exc:
        raise ConfigError(table.error(None, str(exc))) from None
    primary_key = _primary_key(source, table, {c.source.name for c in planned})
    cursor = table.cursor if table.mode in ("incremental", "time") else None
    if table.mode == "full":
        order = primary_key or [c.source.name for c in planned]
    elif cursor is None or cursor in primary_key:
        order = primary_key
    else:
        order = [cursor, *primary_key]
    index_of = {c.source.name: i for i, c in enumerate(planned)}
    return TablePlan(
        table=table,
        columns=planned,
        primary_key=primary_key,
        cursor=cursor,
        table_ref=source.table_ref(table.source_schema, table.source_table),
        select_list=[source.select_expr(c.select_expr) for c in planned],
        order_quoted=[source.quote(c) for c in order],
        order_indexes=[index_of[c] for c in order],
        arrow_schema=arrow_schema(planned),
    )


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


def _primary_key(source: Source, table: TableConfig, names: set[str]) -> list[str]:
    """The configured or MySQL's primary key, checked (with the cursor) against the columns."""
    primary_key = list(
        table.primary_key or source.primary_key(table.source_schema, table.source_table)
    )
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
    if not primary_key and table.mode == "incremental":
        raise ConfigError(
            table.error(
                "primary_key",
                "the table has no primary key; incremental mode merges on one. "
                "Name unique column(s) with `primary_key:` or use `mode: full`",
            )
        )
    if table.mode == "id_range" and len(primary_key) != 1:
        raise ConfigError(
            table.error("primary_key", "mode id_range needs a single-column primary key")
        )
    return primary_key
