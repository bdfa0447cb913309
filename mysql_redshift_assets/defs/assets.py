"""Asset factories: per table, `<...>/parquet` (MySQL -> store) and `<...>/redshift` (store -> warehouse)."""

import re
from dataclasses import replace

import dagster as dg
from pydantic import Field

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.defs.translator import get_asset_spec
from mysql_redshift_assets.state.watermark import Position
from mysql_redshift_assets.sync.backup import backup_table
from mysql_redshift_assets.sync.load import load_table

KEYS_SHOWN = 5


class BackupConfig(dg.Config):
    max_rows: int | None = Field(
        None, description="Stop after this many rows (the old `--limit` x `--max-chunks`)."
    )
    chunk_rows: int | None = Field(None, description="Rows per MySQL query, for this run only.")


def op_name(table: TableConfig, layer: str) -> str:
    raw = f"{table.pipeline}__{table.source_schema}__{table.source_table}__{layer}"
    return re.sub(r"[^A-Za-z0-9_]", "_", raw)


def _position_text(position: Position | None) -> str:
    if position is None:
        return "(start)"
    parts = ([f"cursor={position.cursor}"] if position.cursor is not None else []) + [
        f"pk={','.join(position.pk)}"
    ]
    return " ".join(parts)


def build_parquet_asset(project: Project, table: TableConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=op_name(table, "parquet"),
        specs=[get_asset_spec(project, table, "parquet")],
        op_tags={"mysql_redshift/table": f"{table.pipeline}.{table.qualified}"},
        # One pool per MySQL source: dagster.yaml limits concurrent queries against it.
        pool=f"mysql-{table.source}",
    )
    def _parquet(
        context: dg.AssetExecutionContext,
        config: BackupConfig,
        connections: ConnectionsResource,
        watermarks: WatermarkResource,
    ) -> dg.MaterializeResult:
        source = connections.source(table.source)
        store = connections.store(table.store)
        try:
            result = backup_table(
                source,
                store,
                watermarks.store_for(table),
                replace(table, chunk_rows=config.chunk_rows) if config.chunk_rows else table,
                run_id=context.run_id,
                max_rows=config.max_rows,
                on_file=lambda f: context.log.info(f"stored {store.uri(f.key)} ({f.rows:,} rows)"),
            )
        finally:
            source.close()
        keys = [store.uri(f.key) for f in result.files]
        metadata: dict[str, object] = {
            "rows": dg.MetadataValue.int(result.rows),
            "files": dg.MetadataValue.int(len(result.files)),
            "bytes": dg.MetadataValue.int(result.bytes),
            "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
            "rows_per_second": dg.MetadataValue.float(round(result.rows_per_second, 1)),
            "watermark_before": _position_text(result.position_before),
            "watermark_after": _position_text(result.position_after),
            "keys": dg.MetadataValue.json({"count": len(keys), "first": keys[:KEYS_SHOWN]}),
        }
        if result.upper_bound is not None:
            metadata["upper_bound"] = result.upper_bound
        if result.snapshot is not None:
            metadata["snapshot"] = result.snapshot
        if result.null_cursor_rows:
            metadata["rows_with_null_cursor"] = dg.MetadataValue.int(result.null_cursor_rows)
            context.log.warning(
                f"{table.qualified}: {result.null_cursor_rows:,} rows have a NULL cursor "
                f"({table.cursor}) and cannot be extracted incrementally"
            )
        return dg.MaterializeResult(metadata=metadata)

    return _parquet


def build_warehouse_asset(project: Project, table: TableConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=op_name(table, "redshift"),
        specs=[get_asset_spec(project, table, "redshift")],
        op_tags={"mysql_redshift/table": f"{table.pipeline}.{table.qualified}"},
    )
    def _warehouse(
        context: dg.AssetExecutionContext,
        connections: ConnectionsResource,
        watermarks: WatermarkResource,
    ) -> dg.MaterializeResult:
        warehouse = connections.warehouse(table.target)
        store = connections.store(table.store)
        try:
            result, warnings = load_table(
                warehouse, store, watermarks.store_for(table), table, run_id=context.run_id
            )
        finally:
            warehouse.close()
        for warning in warnings:
            context.log.warning(warning)
        return dg.MaterializeResult(
            metadata={
                "rows_loaded": dg.MetadataValue.int(result.rows_loaded),
                "files_loaded": dg.MetadataValue.int(len(result.files_loaded)),
                "files_already_loaded": dg.MetadataValue.int(result.already_loaded),
                "table_rows": dg.MetadataValue.int(result.table_rows),
                "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
                "rows_per_second": dg.MetadataValue.float(round(result.rows_per_second, 1)),
                "columns_added": dg.MetadataValue.json(result.columns_added),
            }
        )

    return _warehouse
