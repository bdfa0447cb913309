"""The one seam that turns a table spec into asset specs: keys, groups, kinds, tags, text.

Like `DagsterSlingTranslator` / `DagsterDltTranslator`: subclass `MysqlRedshiftTranslator` and
override `get_asset_key` (or `get_asset_spec`) to change keys; `build_definitions` takes one
translator per pipeline, so a project can re-key one pipeline and leave the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import dagster as dg

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.partitions import partitions_def
from mysql_redshift_assets.naming import LEDGER_TABLE, Layer, asset_path, group_name, target_table


def asset_key(table: TableConfig, layer: Layer) -> dg.AssetKey:
    """The default AssetKey of `naming.asset_path`."""
    return dg.AssetKey(asset_path(table, layer))


def _kind(project: Project, group: str, name: str) -> str:
    return getattr(project.connections, group)[name].kind


def change_capture(table: TableConfig) -> str:
    """The contract an incremental table runs under, in words the UI shows."""
    if table.binlog:
        deletes = "kept in the warehouse" if table.deletes == "ignore" else "carried"
        return (
            "binlog: every committed insert, update and key change read from MySQL's row-based "
            f"binlog in commit order; deletes {deletes} (docs/binlog.md)"
        )
    if table.cursor is not None:
        fallback = (
            f" (or {table.cursor_fallback} where it is NULL)" if table.cursor_fallback else ""
        )
        return (
            f"cursor {table.cursor}{fallback}: inserts and updates that set it are captured; "
            f"rows re-read {table.late_commit_window_seconds}s behind the position"
        )
    return (
        "append-only: only new primary keys are captured; UPDATEs to existing rows are NOT "
        "(declare `cursor:` to capture them)"
    )


@dataclass(frozen=True)
class MysqlRedshiftTranslator:
    """Keys and specs of a table's two assets. `key_prefix` is put before every key."""

    key_prefix: tuple[str, ...] = ()

    def get_asset_key(self, table: TableConfig, layer: Layer) -> dg.AssetKey:
        return dg.AssetKey([*self.key_prefix, *asset_path(table, layer)])

    def get_asset_spec(self, project: Project, table: TableConfig, layer: Layer) -> dg.AssetSpec:
        base = dg.AssetSpec(
            key=self.get_asset_key(table, layer),
            group_name=group_name(table),
            tags={"pipeline": table.pipeline, "mode": table.mode},
            partitions_def=partitions_def(table),
            # One op runs a pipeline's tables: any subset of them, and a table may be left out.
            skippable=True,
        )
        if layer == "parquet":
            return base.replace_attributes(
                kinds={_source_kind(project, table), "parquet", _store_kind(project, table)},
                description=_parquet_description(table),
                # `freshness_hours`: the UI's freshness status (the `freshness` check as well).
                freshness_policy=dg.FreshnessPolicy.time_window(
                    fail_window=timedelta(hours=table.freshness_hours)
                )
                if table.freshness_hours
                else None,
            )
        schema, name = target_table(table)
        return base.replace_attributes(
            kinds={_kind(project, "targets", table.target)},
            deps=[self.get_asset_key(table, "parquet")],
            description=(
                f"`{schema}.{name}` in warehouse `{table.target}`: the Parquet files of "
                f"`{table.qualified}` loaded exactly once (ledger `{schema}.{LEDGER_TABLE}`)."
            ),
            # Redshift follows Parquet: when new files land (any run, any layer), load them.
            automation_condition=dg.AutomationCondition.eager(),
            metadata={"dagster/table_name": f"{schema}.{name}"},
        )


def translator_for(
    pipeline: str,
    translators: Mapping[str, MysqlRedshiftTranslator] | None,
    default: MysqlRedshiftTranslator | None = None,
) -> MysqlRedshiftTranslator:
    """The pipeline's own translator, else the project's default."""
    return (translators or {}).get(pipeline) or default or MysqlRedshiftTranslator()


def _source_kind(project: Project, table: TableConfig) -> str:
    return "mysql" if _kind(project, "sources", table.source) == "mysql" else "sqlite"


def _store_kind(project: Project, table: TableConfig) -> str:
    return {"s3": "s3", "local": "file"}[_kind(project, "stores", table.store)]


def _parquet_description(table: TableConfig) -> str:
    capture = f" Change capture: {change_capture(table)}." if table.mode == "incremental" else ""
    capture += f" Only the rows where `{table.where}` (`where:`)." if table.where else ""
    return (
        f"`{table.qualified}` from source `{table.source}` as Parquet files in store "
        f"`{table.store}` ({table.mode}; {table.chunk_rows:,} rows a query, "
        f"{table.file_rows:,} rows a file).{capture}"
    )
