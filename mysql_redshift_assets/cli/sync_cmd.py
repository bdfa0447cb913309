"""`sync`: run the assets through Dagster, so the run is in the instance and the UI."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from mysql_redshift_assets.cli import progress
from mysql_redshift_assets.cli.args import Subcommands, table_args
from mysql_redshift_assets.cli.common import Context, find_tables
from mysql_redshift_assets.cli.failures import RunResult, for_console
from mysql_redshift_assets.cli.submit import (
    WEBSERVER_URL_ENV,
    Submission,
    coordinator_warning,
    open_workspace,
    submit,
    wait,
    workspace_target,
)
from mysql_redshift_assets.cli.sync_partitions import (
    PartitionedRun,
    add_id_ranges,
    partitioned_runs,
)
from mysql_redshift_assets.cli.sync_summary import print_summary, summarise
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import default_dagster_home
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.defs.automation import PIPELINE_TAG, run_limit_tags
from mysql_redshift_assets.defs.build import build_definitions, table_assets
from mysql_redshift_assets.defs.checks import CHEAP_CHECKS
from mysql_redshift_assets.defs.table_run import TableAssets
from mysql_redshift_assets.defs.translator import MysqlRedshiftTranslator, asset_key
from mysql_redshift_assets.naming import Layer
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.load import candidate_files
from mysql_redshift_assets.sync.table import SyncRun, TableSync


def add_arguments(commands: Subcommands) -> None:
    sync = commands.add("sync", "run the assets (recorded in Dagster)")
    # The old tool's spelling `sync pipeline -p P -t T` works too.
    sync.add_argument("what", nargs="?", choices=["pipeline"], help=argparse.SUPPRESS)
    table_args(sync, many=True)
    only = sync.add_mutually_exclusive_group()
    only.add_argument("--extract-only", action="store_true", help="MySQL -> store only")
    # The old tool's word for the same thing.
    only.add_argument(
        "--backup-only", dest="extract_only", action="store_true", help=argparse.SUPPRESS
    )
    only.add_argument("--redshift-only", action="store_true", help="load files already extracted")
    sync.add_argument("--limit", type=int, help="max rows (with --max-chunks: rows per chunk)")
    sync.add_argument("--max-chunks", type=int, help="with --limit: total = limit x max-chunks")
    which = sync.add_mutually_exclusive_group()
    which.add_argument(
        "--partition",
        metavar="KEY",
        help="partitioned tables: this partition (a day '2026-11-30', an id range '0-1000'); "
        "default: the latest complete window (time), the newest id range (id_range)",
    )
    which.add_argument(
        "--partition-range",
        metavar="A...B",
        help="partitioned tables: every partition from A to B (one run for a time range)",
    )
    sync.add_argument("--dry-run", action="store_true", help="show what would run")
    sync.add_argument(
        "--submit",
        action="store_true",
        help="queue the run(s) in the Dagster instance (its run coordinator, tag limits and "
        "pools) instead of running here; prints each run id",
    )
    sync.add_argument(
        "--wait", action="store_true", help="with --submit: follow the run(s) to their end"
    )
    sync.add_argument(
        "--workspace",
        metavar="FILE",
        help="with --submit: the workspace.yaml naming the code location (the daemon's); "
        "default ./workspace.yaml, else the module mysql_redshift_assets.definitions",
    )
    sync.add_argument("--json-output", help="write a JSON summary to this file")


def _instance(ctx: Context) -> dg.DagsterInstance:
    # `$DAGSTER_HOME`, else the project's `.local/dagster_home` (where `make dev` looks).
    home = default_dagster_home(ctx.project.root)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # Dagster's defaults: storage in this folder
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)  # as `make dev` sets it, for Dagster's own lookups
    return dg.DagsterInstance.get()


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
            with open_warehouse(ctx.project, table.target) as warehouse:
                loaded = warehouse.loaded_files(table, watermark)
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


def _dry_run_partitions(
    ctx: Context, args: Any, tables: list[TableConfig], plan: list[dict[str, Any]]
) -> None:
    """The partitions each partitioned table would run (nothing is added to the instance)."""
    for planned in _runs(ctx, args, tables):
        if planned.partitioned is None:
            continue
        entry = next(e for e in plan if e["table"] == planned.tables[0].qualified)
        entry.setdefault("partitions", []).extend(planned.partitioned.keys)
        if not ctx.as_json:
            print(f"{entry['table']}: partitions {', '.join(planned.partitioned.keys)}")


def _preflight(ctx: Context, tables: list[TableConfig]) -> None:
    """Check every table against MySQL before any run starts: one bad table stops them all,
    with nothing written (an unknown table or column, no primary key, an unreachable host):
    the first step of each table's sync, `TableSync.plan`. One connection a source: opening
    one costs more than planning a table."""
    with Clients(ctx.project) as clients:
        for table in tables:
            TableSync(table, clients, SyncRun("preflight")).plan()


@dataclass(frozen=True)
class _Run:
    """One Dagster run `sync` starts: unpartitioned tables together, a partitioned one alone."""

    tables: list[TableConfig]
    partitioned: PartitionedRun | None = None


def _runs(ctx: Context, args: Any, tables: list[TableConfig]) -> list[_Run]:
    plain = [t for t in tables if not t.partitioned]
    runs = [_Run(plain)] if plain else []
    for table in tables:
        if not table.partitioned:
            continue
        chosen = partitioned_runs(ctx.project, table, args.partition, args.partition_range)
        if not chosen:
            print(
                f"{table.qualified}: no partition to run ({table.mode}: no complete window or "
                "no rows yet); give --partition or --partition-range",
                file=sys.stderr,
            )
        runs += [_Run([table], p) for p in chosen]
    return runs


def _check_partition_flags(args: Any, tables: list[TableConfig]) -> None:
    if (args.partition or args.partition_range) and not any(t.partitioned for t in tables):
        names = ", ".join(t.qualified for t in tables)
        raise ConfigError(f"--partition / --partition-range: no partitioned table among {names}")


def _console_level(ctx: Context) -> str:
    return "ERROR" if ctx.live else "WARNING" if ctx.as_json else "INFO"


def _run_config(ctx: Context, args: Any, ops: set[str], layers: list[Layer]) -> dict[str, Any]:
    run_config: dict[str, Any] = {
        "loggers": {
            # A live display shows the library's warnings itself (cli/progress.py).
            "console": {"config": {"log_level": _console_level(ctx)}}
        }
    }
    config: dict[str, Any] = {}
    if args.limit:
        config["max_rows"] = args.limit * (args.max_chunks or 1)
        if args.max_chunks:
            config["chunk_rows"] = args.limit
    if config and "parquet" in layers:
        run_config["ops"] = {op: {"config": config} for op in sorted(ops)}
    return run_config


def _selection(
    ctx: Context, tables: list[TableConfig], layers: list[Layer]
) -> tuple[set[dg.AssetKey], set[dg.AssetCheckKey]]:
    """The layers' assets, and (with an extraction) the checks a sync runs: drift, freshness."""
    assets = [table_assets(ctx.project, t, MysqlRedshiftTranslator()) for t in tables]
    keys = {a.parquet if layer == "parquet" else a.warehouse for a in assets for layer in layers}
    return keys, _cheap_checks(assets) if "parquet" in layers else set()


def _cheap_checks(assets: list[TableAssets]) -> set[dg.AssetCheckKey]:
    return {a.check_key(c.name) for a in assets for c in a.checks if c.name in CHEAP_CHECKS}


def _tags(ctx: Context, run: _Run, submitted: bool) -> dict[str, str]:
    tags = {"mysql_redshift/started_by": "cli sync --submit" if submitted else "cli sync"}
    pipelines = {t.pipeline for t in run.tables}
    if len(pipelines) == 1:  # the tag the instance's one-run-a-pipeline limit reads
        pipeline = ctx.project.pipeline(pipelines.pop())
        # A queued run gets the daemon's `dagster/max_runtime` too, as the pipeline's jobs do.
        tags.update(run_limit_tags(pipeline) if submitted else {PIPELINE_TAG: pipeline.name})
    if run.partitioned is not None:
        tags.update(run.partitioned.tags)
    return tags


def _submission(
    ctx: Context, args: Any, defs: dg.Definitions, run: _Run, layers: list[Layer]
) -> Submission:
    """The run `_execute` would run, for the instance's queue. The run config's ops are the
    same; the console logger's level is this terminal's, so it is left out."""
    keys, checks = _selection(ctx, run.tables, layers)
    ops = {defs.resolve_assets_def(k).node_def.name for k in keys}
    config = _run_config(ctx, args, ops, layers)
    config.pop("loggers")
    return Submission(keys, checks, _tags(ctx, run, submitted=True), config)


def _execute(
    ctx: Context, args: Any, defs: dg.Definitions, run: _Run, layers: list[Layer], instance: Any
) -> dg.ExecuteInProcessResult:
    tags = _tags(ctx, run, submitted=False)
    # The assets and their cheap checks, in the pipeline's op; the reconciliation reads every
    # row of MySQL and the warehouse (`mysql-redshift validate` runs it, as does
    # `reconcile_<pipeline>`).
    keys, checks = _selection(ctx, run.tables, layers)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=keys, asset_check_selection=checks
    )
    job = for_console(job, ctx.verbose)  # a failure: one line, not Dagster's stack traces
    ops = {defs.resolve_assets_def(k).node_def.name for k in keys}
    return job.execute_in_process(
        instance=instance,
        run_config=_run_config(ctx, args, ops, layers),
        raise_on_error=False,
        tags=tags,
    )


def _submit(
    ctx: Context,
    args: Any,
    defs: dg.Definitions,
    runs: list[_Run],
    layers: list[Layer],
    instance: dg.DagsterInstance,
) -> list[tuple[_Run, RunResult]] | None:
    """Queue the runs; with `--wait` follow them to their end (else None: nothing to sum up).
    The workspace stays open while waiting: under the DefaultRunCoordinator the run is
    launched at once, from the code server this process started."""
    url = os.environ.get(WEBSERVER_URL_ENV, "").rstrip("/")
    if warning := coordinator_warning(instance):
        print(warning, file=sys.stderr)
    with open_workspace(instance, workspace_target(args.workspace, ctx.project.root)) as ws:
        ids = [submit(instance, ws, _submission(ctx, args, defs, r, layers)) for r in runs]
        for run_id in ids:
            record = instance.get_run_by_id(run_id)
            status = record.status.value if record else "?"
            if not ctx.as_json:
                print(
                    f"run {run_id} submitted ({status})" + (f": {url}/runs/{run_id}" if url else "")
                )
        if not args.wait:
            _write_json(args.json_output, {"submitted": ids})
            ctx.emit({"submitted": ids})
            return None
        followed: list[RunResult] = list(wait(instance, ids, quiet=ctx.as_json))
    return list(zip(runs, followed, strict=True))


def _check_submit_flags(args: Any) -> None:
    if args.wait and not args.submit:
        raise ConfigError("--wait follows a submitted run: add --submit")
    if args.workspace and not args.submit:
        raise ConfigError("--workspace names where a submitted run runs: add --submit")
    if args.submit and args.dry_run:
        raise ConfigError("--dry-run runs nothing and --submit queues a run: choose one")


def run(ctx: Context, args: Any) -> int:
    tables = find_tables(ctx.project, args.pipeline, args.table)
    layers: list[Layer] = (
        ["parquet"]
        if args.extract_only
        else ["redshift"]
        if args.redshift_only
        else ["parquet", "redshift"]
    )
    _check_partition_flags(args, tables)
    _check_submit_flags(args)
    if args.dry_run:
        planned = _dry_run(ctx, tables, layers)
        _dry_run_partitions(ctx, args, tables, planned)
        dry_run = {"dry_run": True, "tables": planned}
        _write_json(args.json_output, dry_run)
        ctx.emit(dry_run)
        return 0
    defs = build_definitions(ctx.project)  # partition settings are checked here
    if "parquet" in layers:
        _preflight(ctx, tables)
    runs = _runs(ctx, args, tables)
    instance = _instance(ctx)
    add_id_ranges(instance, [r.partitioned for r in runs if r.partitioned is not None])
    if args.submit:
        submitted = _submit(ctx, args, defs, runs, layers, instance)
        if submitted is None:
            return 0
        results = submitted
    else:
        results = _in_process(ctx, args, defs, runs, layers, instance, tables)
    assets = [table_assets(ctx.project, t, MysqlRedshiftTranslator()) for t in tables]
    owners = {"/".join(k.path): a.table.qualified for a in assets for k in (a.parquet, a.warehouse)}
    summary = summarise(results, owners)
    _write_json(args.json_output, summary)
    if ctx.as_json:
        ctx.emit(summary)
    elif ctx.live:
        progress.print_summary(summary)
    else:
        print_summary(summary)
    return 0 if summary["success"] else 1


def _in_process(
    ctx: Context,
    args: Any,
    defs: dg.Definitions,
    runs: list[_Run],
    layers: list[Layer],
    instance: dg.DagsterInstance,
    tables: list[TableConfig],
) -> list[tuple[_Run, RunResult]]:
    ctx.live = not ctx.as_json and sys.stderr.isatty()
    limit = args.limit * (args.max_chunks or 1) if args.limit else None
    expected = progress.expected_rows(ctx.project, tables, limit) if ctx.live else None
    with progress.SyncProgress(expected, live=ctx.live):
        return [(r, _execute(ctx, args, defs, r, layers, instance)) for r in runs]


def _write_json(path: str | None, data: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=1, default=str))
