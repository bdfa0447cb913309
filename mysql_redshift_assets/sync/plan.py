"""What one extraction run needs to know about a table, checked against the source first.

Every user mistake that can be caught before a row moves is caught here, with a message naming
the file, the table and the key: an unknown table or column, no primary key in a merge mode, a
column whose normalised name changed since the last run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.schema_types import (
    PlannedColumn,
    arrow_schema,
    plan_columns,
    raw_text,
    raw_to_arrow,
)
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import Watermark
from mysql_redshift_assets.store.parquet import FileColumn

_TEMPORAL = {"datetime", "timestamp", "date"}


@dataclass(frozen=True)
class TablePlan:
    table: TableConfig
    columns: list[PlannedColumn]
    primary_key: list[str]
    cursor: str | None
    table_ref: str
    select_list: list[str]
    order_quoted: list[str]
    order_indexes: list[int]
    arrow_schema: pa.Schema
    file_columns: list[FileColumn]

    @property
    def cursor_is_pk(self) -> bool:
        return self.cursor is None or self.cursor in self.primary_key

    @property
    def column_map(self) -> dict[str, str]:
        return {c.source.name: c.name for c in self.columns}

    def column(self, source_name: str) -> PlannedColumn:
        return next(c for c in self.columns if c.source.name == source_name)

    def to_batch(self, rows: list[tuple[Any, ...]]) -> pa.RecordBatch:
        by_column = list(zip(*rows, strict=True)) if rows else [()] * len(self.columns)
        arrays = [
            raw_to_arrow(col, list(vals)) for col, vals in zip(self.columns, by_column, strict=True)
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema)

    def upper_bound(self, source: Source) -> tuple[str, str, Any] | None:
        """Rows at or past this bound wait for the next run (late commits are not skipped)."""
        if self.cursor_is_pk:
            if len(self.primary_key) != 1:
                return None
            column = self.order_quoted[0]
        else:
            column = source.quote(self.cursor or "")
            if self.column(self.cursor or "").source.data_type in _TEMPORAL:
                return column, "<", source.now_minus(self.table.upper_bound_lag_seconds)
        row = source.query_one(f"SELECT MAX({column}) FROM {self.table_ref}")
        return None if row is None or row[0] is None else (column, "<=", raw_text(row[0]))

    def window_bounds(
        self, source: Source, window: Window
    ) -> tuple[list[tuple[str, str, Any]], tuple[str, str, Any] | None]:
        """The window `[lo, hi)` on its column, and for a window still open in time, the
        late-commit bound (rows newer than NOW() - lag wait for the partition's next run)."""
        column = source.quote(self.cursor if window.kind == "time" else self.primary_key[0])
        bounds = [(column, ">=", window.lo), (column, "<", window.hi)]
        if window.kind != "time":
            return bounds, None
        now = source.now_minus(self.table.upper_bound_lag_seconds)
        return bounds, ((column, "<", now) if now < window.hi else None)

    def null_cursor_rows(self, source: Source) -> int:
        """Rows a keyset on the cursor can never see; reported, never silently dropped."""
        if self.cursor_is_pk or not self.column(self.cursor or "").source.nullable:
            return 0
        column = source.quote(self.cursor or "")
        row = source.query_one(f"SELECT COUNT(*) FROM {self.table_ref} WHERE {column} IS NULL")
        return int(raw_text(row[0])) if row else 0


def plan_table(source: Source, table: TableConfig, watermark: Watermark | None) -> TablePlan:
    source_columns = source.columns(table.source_schema, table.source_table)
    if not source_columns:
        raise ConfigError(
            table.error(None, f"table not found in source {source.name!r} (or no columns visible)")
        )
    planned = plan_columns(source_columns, table=table.qualified)
    names = {c.source.name for c in planned}

    if watermark is not None:
        for col in planned:
            before = watermark.columns.get(col.source.name)
            if before is not None and before != col.name:
                raise ConfigError(
                    table.error(
                        None,
                        f"column {col.source.name!r} was loaded as {before!r} and would now be "
                        f"{col.name!r}; the stored name mapping never changes silently",
                    )
                )

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
    if not primary_key:
        if table.mode == "incremental":
            raise ConfigError(
                table.error(
                    "primary_key",
                    "the table has no primary key; incremental mode merges on one. "
                    "Name unique column(s) with `primary_key:` or use `mode: full`",
                )
            )
        primary_key = []

    cursor = table.cursor if table.mode in ("incremental", "time") else None
    if table.mode == "id_range" and len(primary_key) != 1:
        raise ConfigError(
            table.error("primary_key", "mode id_range needs a single-column primary key")
        )
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
        file_columns=[
            FileColumn.from_planned(c, truncate_text=table.text_overflow == "truncate")
            for c in planned
        ],
    )
