"""The one seam that turns a table spec into asset specs: keys, groups, kinds, tags, text."""

from __future__ import annotations

import dagster as dg

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.partitions import partitions_def
from mysql_redshift_assets.naming import LEDGER_TABLE, Layer, asset_path, group_name, target_table


def asset_key(table: TableConfig, layer: Layer) -> dg.AssetKey:
    """The AssetKey of `naming.asset_path`: the only place a table's asset key is built."""
    return dg.AssetKey(asset_path(table, layer))


def _kind(project: Project, group: str, name: str) -> str:
    return getattr(project.connections, group)[name].kind


def change_capture(table: TableConfig) -> str:
    """The contract an incremental table runs under, in words the UI shows."""
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


def get_asset_spec(project: Project, table: TableConfig, layer: Layer) -> dg.AssetSpec:
    store_kind = {"s3": "s3", "local": "file"}[_kind(project, "stores", table.store)]
    if layer == "parquet":
        source_kind = "mysql" if _kind(project, "sources", table.source) == "mysql" else "sqlite"
        return dg.AssetSpec(
            key=asset_key(table, "parquet"),
            group_name=group_name(table),
            kinds={source_kind, "parquet", store_kind},
            description=(
                f"`{table.qualified}` from source `{table.source}` as Parquet files in store "
                f"`{table.store}` ({table.mode}; {table.chunk_rows:,} rows a query, "
                f"{table.file_rows:,} rows a file)."
                + (
                    f" Change capture: {change_capture(table)}."
                    if table.mode == "incremental"
                    else ""
                )
            ),
            tags={"pipeline": table.pipeline, "mode": table.mode},
            partitions_def=partitions_def(table),
        )
    schema, name = target_table(table)
    return dg.AssetSpec(
        key=asset_key(table, "redshift"),
        group_name=group_name(table),
        kinds={_kind(project, "targets", table.target)},
        deps=[asset_key(table, "parquet")],
        description=(
            f"`{schema}.{name}` in warehouse `{table.target}`: the Parquet files of "
            f"`{table.qualified}` loaded exactly once (ledger `{schema}.{LEDGER_TABLE}`)."
        ),
        tags={"pipeline": table.pipeline, "mode": table.mode},
        automation_condition=dg.AutomationCondition.eager(),
        partitions_def=partitions_def(table),
    )
