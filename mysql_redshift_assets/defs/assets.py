"""Asset factories: per table, `<...>/parquet` (MySQL -> store) and `<...>/redshift` (store -> warehouse)."""

from dataclasses import replace

import dagster as dg
from pydantic import Field

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.partitions import window_for
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.defs.translator import change_capture, get_asset_spec
from mysql_redshift_assets.naming import op_name
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import Position
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table

KEYS_SHOWN = 5


class ExtractConfig(dg.Config):
    max_rows: int | None = Field(
        None, description="Stop after this many rows (the old `--limit` x `--max-chunks`)."
    )
    chunk_rows: int | None = Field(None, description="Rows per MySQL query, for this run only.")


def _position_text(position: Position | None) -> str:
    if position is None:
        return "(start)"
    parts = ([f"cursor={position.cursor}"] if position.cursor is not None else []) + [
        f"pk={','.join(position.pk)}"
    ]
    return " ".join(parts)


def _windows(context: dg.AssetExecutionContext, table: TableConfig) -> list[Window | None]:
    """The partition windows of this run (a single-run backfill covers many), or [None]."""
    if not table.partitioned:
        return [None]
    pdef = context.assets_def.partitions_def
    assert pdef is not None
    return [window_for(table, pdef, key) for key in context.partition_keys]


def _backfill_policy(table: TableConfig) -> dg.BackfillPolicy | None:
    # One run for a whole range (what `dagster asset materialize --partition-range` needs);
    # inside it every window is its own query plan, files and replace.
    return dg.BackfillPolicy.single_run() if table.partitioned else None


def build_parquet_asset(project: Project, table: TableConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=op_name(table, "parquet"),
        specs=[get_asset_spec(project, table, "parquet")],
        op_tags={"mysql_redshift/table": f"{table.pipeline}.{table.qualified}"},
        # One pool per MySQL source: dagster.yaml limits concurrent queries against it.
        pool=f"mysql-{table.source}",
        backfill_policy=_backfill_policy(table),
    )
    def _parquet(
        context: dg.AssetExecutionContext,
        config: ExtractConfig,
        connections: ConnectionsResource,
        watermarks: WatermarkResource,
    ) -> dg.MaterializeResult:
        source = connections.source(table.source)
        store = connections.store(table.store)
        run_table = replace(table, chunk_rows=config.chunk_rows) if config.chunk_rows else table
        results = []
        try:
            for window in _windows(context, table):
                results.append(
                    extract_table(
                        source,
                        store,
                        watermarks.store_for(table),
                        run_table,
                        run_id=context.run.run_id,
                        max_rows=config.max_rows,
                        window=window,
                        on_file=lambda f: context.log.info(
                            f"stored {store.uri(f.key)} ({f.rows:,} rows)"
                        ),
                    )
                )
        finally:
            source.close()
        files = [f for r in results for f in r.files]
        rows, seconds = sum(r.rows for r in results), sum(r.seconds for r in results)
        keys = [store.uri(f.key) for f in files]
        metadata: dict[str, dg.MetadataValue | str] = {
            "rows": dg.MetadataValue.int(rows),
            "files": dg.MetadataValue.int(len(files)),
            "bytes": dg.MetadataValue.int(sum(r.bytes for r in results)),
            "seconds": dg.MetadataValue.float(round(seconds, 3)),
            "rows_per_second": dg.MetadataValue.float(round(rows / seconds, 1) if seconds else 0.0),
            "keys": dg.MetadataValue.json({"count": len(keys), "first": keys[:KEYS_SHOWN]}),
        }
        first, last = results[0], results[-1]
        if table.mode == "incremental":
            metadata["change_capture"] = change_capture(table)
            metadata["watermark_before"] = _position_text(first.position_before)
            metadata["watermark_after"] = _position_text(last.position_after)
            metadata["reread_rows"] = dg.MetadataValue.int(last.reread_rows)
            if last.reread_from is not None:
                metadata["reread_from"] = _position_text(last.reread_from)
            if last.upper_bound is not None:
                metadata["upper_bound"] = last.upper_bound
        for warning in dict.fromkeys(w for r in results for w in r.warnings):
            context.log.warning(warning)
        if table.partitioned:
            # A single-run backfill records this one set of metadata on every partition it
            # covers: the totals are the run's, the breakdown is per window.
            metadata["partitions"] = dg.MetadataValue.json(
                {
                    key: {"rows": r.rows, "files": len(r.files)}
                    for key, r in zip(context.partition_keys, results, strict=True)
                }
            )
        if last.generation is not None:
            metadata["generation"] = last.generation
        if last.null_cursor_rows:  # the warning is among the result's warnings
            metadata["rows_with_null_cursor"] = dg.MetadataValue.int(last.null_cursor_rows)
        return dg.MaterializeResult(metadata=metadata)

    return _parquet


def build_warehouse_asset(project: Project, table: TableConfig) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=op_name(table, "redshift"),
        specs=[get_asset_spec(project, table, "redshift")],
        op_tags={"mysql_redshift/table": f"{table.pipeline}.{table.qualified}"},
        backfill_policy=_backfill_policy(table),
    )
    def _warehouse(
        context: dg.AssetExecutionContext,
        connections: ConnectionsResource,
        watermarks: WatermarkResource,
    ) -> dg.MaterializeResult:
        warehouse = connections.warehouse(table.target)
        store = connections.store(table.store)
        # The delete pass after the load compares keys with MySQL (sync/deletes.py).
        propagate = table.mode == "incremental" and table.deletes == "propagate"
        source = connections.source(table.source) if propagate else None
        results, warnings = [], []
        try:
            for window in _windows(context, table):
                result, warned = load_table(
                    warehouse,
                    store,
                    watermarks.store_for(table),
                    table,
                    run_id=context.run.run_id,
                    window=window,
                    source=source,
                )
                results.append(result)
                warnings += warned
        finally:
            warehouse.close()
            if source is not None:
                source.close()
        for warning in dict.fromkeys(warnings):
            context.log.warning(warning)
        rows = sum(r.rows_loaded for r in results)
        seconds = sum(r.seconds for r in results)
        metadata: dict[str, dg.MetadataValue] = {
            "rows_loaded": dg.MetadataValue.int(rows),
            "files_loaded": dg.MetadataValue.int(sum(len(r.files_loaded) for r in results)),
            "files_already_loaded": dg.MetadataValue.int(sum(r.already_loaded for r in results)),
            "table_rows": dg.MetadataValue.int(results[-1].table_rows),
            "rows_deleted": dg.MetadataValue.int(sum(r.rows_deleted for r in results)),
            "seconds": dg.MetadataValue.float(round(seconds, 3)),
            "rows_per_second": dg.MetadataValue.float(round(rows / seconds, 1) if seconds else 0.0),
            "lock_seconds": dg.MetadataValue.float(round(sum(r.lock_seconds for r in results), 3)),
            "columns_added": dg.MetadataValue.json(
                sorted({c for r in results for c in r.columns_added})
            ),
        }
        truncated: dict[str, int] = {}
        for r in results:
            for column, n in r.truncated.items():
                truncated[column] = truncated.get(column, 0) + n
        if truncated:
            # `text_overflow: truncate`: values cut to Redshift's 65,535-byte VARCHAR.
            metadata["truncated_values"] = dg.MetadataValue.json(truncated)
            context.log.warning(
                f"{table.qualified}: text values truncated to 65,535 bytes: {truncated}"
            )
        if table.partitioned:
            metadata["partitions"] = dg.MetadataValue.json(
                {
                    key: {"rows_loaded": r.rows_loaded, "files": len(r.files_loaded)}
                    for key, r in zip(context.partition_keys, results, strict=True)
                }
            )
        return dg.MaterializeResult(metadata=metadata)

    return _warehouse
