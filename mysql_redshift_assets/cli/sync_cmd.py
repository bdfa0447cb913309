"""`sync`: run the assets through Dagster, so the run is in the instance and the UI."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import dagster as dg

from mysql_redshift_assets.cli.common import Context, find_tables
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.naming import Layer, op_name
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.load import candidate_files


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    print(
        "warning: DAGSTER_HOME is not set; this run is not recorded (set it to the folder "
        "`dagster dev` uses, e.g. .local/dagster_home)",
        file=sys.stderr,
    )
    return dg.DagsterInstance.ephemeral()


def _dry_run(ctx: Context, tables: list[TableConfig], layers: list[Layer]) -> list[dict[str, Any]]:
    plan = []
    for table in tables:
        watermark = WatermarkStore(open_store(ctx.project, table.store)).load(table)
        entry: dict[str, Any] = {
            "table": table.qualified,
            "assets": ["/".join(asset_key(table, layer).path) for layer in layers],
            "resumes_at": watermark.position.model_dump()
            if watermark and watermark.position
            else None,
        }
        if "redshift" in layers and watermark is not None:
            warehouse = open_warehouse(ctx.project, table.target)
            try:
                loaded = warehouse.loaded_files(table)
            finally:
                warehouse.close()
            entry["files_to_load"] = [
                f.key for f in candidate_files(table, watermark) if f.key not in loaded
            ]
        plan.append(entry)
        if not ctx.as_json:
            print(f"{table.qualified}: would materialize {', '.join(entry['assets'])}")
            print(f"  extraction resumes at {entry['resumes_at'] or '(start)'}")
            if "files_to_load" in entry:
                print(f"  {len(entry['files_to_load'])} file(s) to load")
    return plan


def _preflight(ctx: Context, tables: list[TableConfig]) -> None:
    """Check every table against MySQL before any run starts: one bad table stops them all,
    with nothing written (an unknown table or column, no primary key, an unreachable host)."""
    for table in tables:
        watermark = WatermarkStore(open_store(ctx.project, table.store)).load(table)
        source = open_source(ctx.project, table.source)
        try:
            plan_table(source, table, watermark.columns if watermark else None)
        finally:
            source.close()


def run(ctx: Context, args: Any) -> int:
    tables = find_tables(ctx.project, args.pipeline, args.table)
    layers: list[Layer] = (
        ["parquet"]
        if args.extract_only
        else ["redshift"]
        if args.redshift_only
        else ["parquet", "redshift"]
    )
    if args.dry_run:
        dry_run = {"dry_run": True, "tables": _dry_run(ctx, tables, layers)}
        _write_json(args.json_output, dry_run)
        ctx.emit(dry_run)
        return 0
    defs = build_definitions(ctx.project)  # partition settings are checked here
    if "parquet" in layers:
        _preflight(ctx, tables)
    max_rows = None
    config: dict[str, Any] = {}
    if args.limit:
        max_rows = args.limit * (args.max_chunks or 1)
        config["max_rows"] = max_rows
        if args.max_chunks:
            config["chunk_rows"] = args.limit
    keys = [asset_key(t, layer) for t in tables for layer in layers]
    run_config: dict[str, Any] = {
        "loggers": {"console": {"config": {"log_level": "WARNING" if ctx.as_json else "INFO"}}}
    }
    if config and "parquet" in layers:
        run_config["ops"] = {op_name(t, "parquet"): {"config": config} for t in tables}
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=_instance(),
        asset_selection=keys,
        run_config=run_config,
        raise_on_error=False,
        tags={"mysql_redshift/started_by": "cli sync"},
    )
    summary: dict[str, Any] = {"run_id": result.run_id, "success": result.success, "assets": {}}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        summary["assets"]["/".join(mat.asset_key.path)] = {
            k: v.value for k, v in mat.metadata.items()
        }
    errors = [
        e.step_failure_data.error.message.strip()
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.step_failure_data.error
    ]
    summary["errors"] = errors
    _write_json(args.json_output, summary)
    if ctx.as_json:
        ctx.emit(summary)
    else:
        for key, md in summary["assets"].items():
            if key.endswith("/parquet"):
                print(
                    f"{key}: {md['rows']:,} rows extracted, {md['files']} file(s), {md['bytes']:,} bytes"
                )
            else:
                print(
                    f"{key}: {md['rows_loaded']:,} rows loaded from {md['files_loaded']} file(s); table has {md['table_rows']:,} rows"
                )
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    return 0 if result.success else 1


def _write_json(path: str | None, data: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1, default=str))
