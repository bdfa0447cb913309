"""`s3clean list|clean|clean-all`: never deletes a file not yet loaded unless --force."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from mysql_redshift_assets.cli.args import Subcommands, table_args
from mysql_redshift_assets.cli.common import Context, Progress, find_tables, human_bytes
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.maintenance.s3clean import (
    StoredFile,
    classify,
    execute_clean,
    parse_duration,
    plan_clean,
    totals,
)
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore


def add_arguments(commands: Subcommands) -> None:
    s3 = commands.nested("s3clean", "files in the store")
    s3list = s3.add(
        "list", "files and their state (loaded, pending, superseded, orphan), with totals"
    )
    table_args(s3list, required=False)
    s3list.add_argument("--show-timestamps", action="store_true")
    cleans = {
        "clean": "delete the safe files (loaded, superseded, orphan) of ONE table (-t)",
        "clean-all": "delete the safe files (loaded, superseded, orphan) of EVERY table of a "
        "pipeline (-p), one table after another",
    }
    for name, help in cleans.items():
        p = s3.add(name, help)
        table_args(p, required=(name == "clean"))
        p.add_argument("--older-than", help="only files older than this: 30m, 12h, 7d, 2w")
        p.add_argument("--pattern", help="only file names (or keys) matching this glob")
        p.add_argument("--dry-run", action="store_true", help="show, delete nothing")
        p.add_argument(
            "--force", action="store_true", help="no prompt; also delete files not yet loaded"
        )


def _ledger(ctx: Context, table: TableConfig, watermark: Watermark | None, force: bool) -> set[str]:
    try:
        warehouse = open_warehouse(ctx.project, table.target)
        try:
            return warehouse.loaded_files(table, watermark)
        finally:
            warehouse.close()
    except Exception as exc:
        if not force:
            raise RuntimeError(
                f"cannot read the load ledger of {table.qualified} ({type(exc).__name__}: {exc}); "
                "without it no file is known to be loaded (use --force to delete anyway)"
            ) from None
        return set()


_human = human_bytes
_STATES = ("loaded", "pending", "superseded", "orphan", "manifest")


def _totals_line(sums: dict[str, dict[str, int]]) -> str:
    """`12 file(s), 3.4 MB; loaded: 8 (2.1 MB); not loaded: 4 (1.3 MB; pending: 3, orphan: 1)`"""
    everything = sums["all"]
    loaded = sums.get("loaded", {"files": 0, "bytes": 0})
    rest_files = everything["files"] - loaded["files"]
    rest_bytes = everything["bytes"] - loaded["bytes"]
    states = ", ".join(f"{s}: {sums[s]['files']}" for s in _STATES if s != "loaded" and s in sums)
    return (
        f"{everything['files']} file(s), {_human(everything['bytes'])}; loaded: {loaded['files']} "
        f"({_human(loaded['bytes'])}); not loaded: {rest_files} ({_human(rest_bytes)}"
        f"{'; ' + states if states else ''})"
    )


def _row(f: StoredFile, timestamps: bool) -> str:
    when = f"{f.modified:%Y-%m-%d %H:%M:%S}  " if timestamps else ""
    return f"{when}{f.state:<10} {_human(f.size):>10}  {f.key}"


def run(ctx: Context, args: Any) -> int:
    tables = find_tables(ctx.project, args.pipeline, [args.table] if args.table else None)
    if args.action == "clean" and not args.table:
        print("error: s3clean clean needs -t TABLE (or use clean-all)", file=sys.stderr)
        return 2
    older = parse_duration(args.older_than) if getattr(args, "older_than", None) else None
    force = bool(getattr(args, "force", False))
    report: list[dict[str, Any]] = []
    everything: list[StoredFile] = []
    exit_code = 0
    for table in tables:
        store = open_store(ctx.project, table.store)
        watermarks = WatermarkStore(store)
        watermark = watermarks.load(table)
        files = classify(store, table, watermark, _ledger(ctx, table, watermark, force))
        if args.action == "list":
            everything += files
            report.append(
                {"table": table.qualified, "files": [f.__dict__ for f in files],
                 "totals": totals(files)}
            )  # fmt: skip
            if not ctx.as_json:
                print(f"{table.qualified}: {_totals_line(totals(files))}")
                for f in files:
                    print("  " + _row(f, args.show_timestamps))
            continue
        plan = plan_clean(
            files, now=datetime.now(UTC), older_than=older, pattern=args.pattern, force=force
        )
        entry = {
            "table": table.qualified,
            "would_delete" if args.dry_run else "deleted": [f.key for f in plan.delete],
            "bytes": plan.bytes,
            "kept_not_loaded": [f.key for f in plan.kept_unloaded],
        }
        if not ctx.as_json:
            verb = "would delete" if args.dry_run else "deleting"
            print(f"{table.qualified}: {verb} {len(plan.delete)} file(s), {_human(plan.bytes)}")
            for f in plan.kept_unloaded:
                print(f"  kept (not loaded yet; --force deletes it): {f.key}")
        if plan.delete and not args.dry_run:
            if not force and sys.stdin.isatty():
                answer = input(f"Delete {len(plan.delete)} file(s) of {table.qualified}? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    print("nothing deleted")
                    exit_code = 1
                    continue
            progress = Progress(len(plan.delete), f"deleting {table.qualified}")
            deleted = execute_clean(store, watermarks, table, plan)
            progress.step(len(plan.delete))
            entry["deleted_count"] = deleted
        report.append(entry)
    if args.action == "list" and len(tables) > 1 and not ctx.as_json:
        print(f"total: {_totals_line(totals(everything))}")
    ctx.emit(report)
    return exit_code
