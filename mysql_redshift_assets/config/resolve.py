"""Effective per-table settings: table > pipeline > built-in default, resolved in one place."""

from __future__ import annotations

from dataclasses import dataclass

from mysql_redshift_assets.config.loader import Pipeline
from mysql_redshift_assets.config.pipelines import (
    IdRangeSpec,
    Mode,
    ScheduleSpec,
    SensorSpec,
    SortKeySpec,
    TimePartitionsSpec,
)


@dataclass(frozen=True)
class TableConfig:
    pipeline: str
    source_schema: str
    source_table: str
    mode: Mode
    cursor: str | None
    primary_key: tuple[str, ...] | None
    chunk_rows: int
    file_rows: int
    max_rows: int | None
    upper_bound_lag_seconds: int
    target_schema: str
    target_table: str | None
    distkey: str | None
    sortkey: SortKeySpec | None
    source: str
    store: str
    target: str
    store_prefix: str
    config_file: str
    freshness_hours: float | None = None
    partitions: TimePartitionsSpec | None = None
    id_range: IdRangeSpec | None = None
    schedule: ScheduleSpec | None = None
    new_data_sensor: SensorSpec | None = None
    text_overflow: str = "error"
    append_only: bool = False
    capture: str | None = None  # "binlog": changes from the row-based binlog (sync/binlog.py)
    cursor_fallback: str | None = None
    time_zone: str | None = None  # None: the source's `time_zone:`
    late_commit_window_seconds: int = 900
    # Mode incremental only: "propagate" runs the delete pass after each load (sync/deletes.py),
    # "soft" too, marking the rows deleted (`load/versions.py`).
    deletes: str = "ignore"
    deletes_every_minutes: float = 0.0
    target_kind: str = "redshift"  # the target's kind: its identifier limit shapes names
    # Type-2 history of every version merged (`load/versions.py`); mode incremental, a key.
    history: bool = False
    json: str = "varchar"  # "super": JSON columns parsed into SUPER / JSONB / JSON
    where: str | None = None  # the row filter (config/row_filter.py, extract/row_filter.py)
    exclude_columns: tuple[str, ...] = ()  # never read (extract/shaping.py)
    hash_columns: tuple[str, ...] = ()  # stored as HMAC-SHA-256 hex (extract/shaping.py)
    hash_key: str | None = None  # the `${VAR}` reference, never the key itself

    @property
    def partitioned(self) -> bool:
        return self.mode in ("time", "id_range")

    @property
    def binlog(self) -> bool:
        """Changes come from the binlog (`capture: binlog`), not from a cursor's reads."""
        return self.capture == "binlog"

    @property
    def qualified(self) -> str:
        return f"{self.source_schema}.{self.source_table}"

    def error(self, key: str | None, message: str) -> str:
        """A message that names the file, the table and (where there is one) the key."""
        where = f"{self.config_file}: table {self.qualified}"
        return f"{where}, key {key}: {message}" if key else f"{where}: {message}"


def _sortkey(value: SortKeySpec | list[str] | str | None) -> SortKeySpec | None:
    # The three forms our users write (seed 003): dict, list (compound), one string (compound).
    if value is None or isinstance(value, SortKeySpec):
        return value
    return SortKeySpec(columns=[value] if isinstance(value, str) else list(value))


def table_configs(pipeline: Pipeline) -> list[TableConfig]:
    spec = pipeline.spec
    configs = []
    for qualified, table in spec.tables.items():
        # MySQL schema names rarely hold a dot, table names sometimes do: the first dot splits.
        schema, name = qualified.split(".", 1)
        configs.append(
            TableConfig(
                pipeline=pipeline.name,
                source_schema=schema,
                source_table=name,
                mode=table.mode,
                cursor=table.cursor,
                primary_key=tuple(table.primary_key) if table.primary_key else None,
                chunk_rows=table.chunk_rows or spec.chunk_rows,
                file_rows=table.file_rows or spec.file_rows,
                max_rows=table.max_rows,
                upper_bound_lag_seconds=(
                    spec.upper_bound_lag_seconds
                    if table.upper_bound_lag_seconds is None
                    else table.upper_bound_lag_seconds
                ),
                target_schema=table.target_schema or spec.target_schema,
                target_table=table.target_table,
                distkey=table.distkey,
                sortkey=_sortkey(table.sortkey),
                source=spec.source,
                store=spec.store,
                target=spec.target,
                store_prefix=spec.store_prefix,
                config_file=str(pipeline.path),
                freshness_hours=table.freshness_hours or spec.freshness_hours,
                partitions=table.partitions,
                id_range=table.id_range,
                schedule=table.schedule,
                new_data_sensor=table.new_data_sensor,
                text_overflow=table.text_overflow,
                append_only=table.append_only,
                capture=table.capture,
                cursor_fallback=table.cursor_fallback,
                time_zone=table.time_zone,
                late_commit_window_seconds=(
                    spec.late_commit_window_seconds
                    if table.late_commit_window_seconds is None
                    else table.late_commit_window_seconds
                ),
                deletes=table.deletes or ("propagate" if table.mode == "incremental" else "ignore"),
                deletes_every_minutes=table.deletes_every_minutes,
                target_kind=pipeline.target_kind,
                history=table.history,
                json=table.json_mode or pipeline.target_json,
                where=table.where,
                exclude_columns=tuple(table.exclude_columns),
                hash_columns=tuple(table.hash_columns),
                hash_key=table.hash_key or spec.hash_key,
            )
        )
    return configs


def table_config(pipeline: Pipeline, qualified: str) -> TableConfig:
    pipeline.table(qualified)  # raises a ConfigError naming the file and the known tables
    return next(c for c in table_configs(pipeline) if c.qualified == qualified)
