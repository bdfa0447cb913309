"""`status` (can we reach everything?) and `validate-config` (does every pipeline file load?)."""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.cli.args import Subcommands, table_args
from mysql_redshift_assets.cli.common import Context, find_pipeline
from mysql_redshift_assets.config.loader import Pipeline
from mysql_redshift_assets.maintenance.status import check_pipeline


def add_arguments(commands: Subcommands) -> None:
    """`status`, `validate` and `validate-config`, in `--help`'s order (`validate` runs in
    validate_cmd.py)."""
    st = commands.add("status", "check every connection of a pipeline, and every pipeline file")
    st.add_argument("-p", "--pipeline")
    val = commands.add("validate", "source vs Parquet vs warehouse: rows, keys, values")
    table_args(val, required=False)
    val.add_argument(
        "--partition",
        metavar="KEY",
        help="partitioned tables only, this window (a day '2026-11-30', an id range '0-1000'); "
        "default: every window extracted",
    )
    commands.add("validate-config", "read every pipeline file; list each broken file's errors")


def _config_report(ctx: Context, names: list[str]) -> list[dict[str, Any]]:
    """Each broken pipeline file and all of its errors, printed as FAIL lines."""
    report = []
    for name in names:
        errors = ctx.project.broken[name].splitlines()
        report.append({"pipeline": name, "ok": False, "errors": errors})
        if not ctx.as_json:
            print(f"pipeline {name}:")
            print(f"  FAIL config  {len(errors)} error(s) in {name}.yml, not loaded:")
            for error in errors:
                print(f"       {error}")
    return report


def validate_config(ctx: Context, args: Any) -> int:
    """Every pipeline file: loaded, or each of its errors (exit 1 when any file is broken)."""
    healthy = [
        {"pipeline": name, "ok": True, "errors": [], "tables": len(p.spec.tables)}
        for name, p in sorted(ctx.project.pipelines.items())
    ]
    if not ctx.as_json:
        print(f"connections: {ctx.project.connections_path}: ok")
        for entry in healthy:
            print(f"pipeline {entry['pipeline']}: ok ({entry['tables']} table(s))")
    broken = _config_report(ctx, sorted(ctx.project.broken))
    ctx.emit({"root": str(ctx.project.root), "pipelines": healthy + broken})
    return 1 if broken else 0


def _status_scope(ctx: Context, name: str | None) -> tuple[list[Pipeline], list[str]]:
    """The pipelines to check and the broken pipeline files to report."""
    if name in ctx.project.broken:
        return [], [name]
    if name:
        return [find_pipeline(ctx.project, name, None)], []
    return list(ctx.project.pipelines.values()), sorted(ctx.project.broken)


def status(ctx: Context, args: Any) -> int:
    pipelines, broken_names = _status_scope(ctx, args.pipeline)
    report: list[dict[str, Any]] = _config_report(ctx, broken_names)
    ok = not report
    for pipeline in pipelines:
        checks = check_pipeline(ctx.project, pipeline)
        ok &= all(c.ok for c in checks)
        report.append(
            {"pipeline": pipeline.name, "ok": all(c.ok for c in checks),
             "checks": [c.__dict__ for c in checks]}
        )  # fmt: skip
        if not ctx.as_json:
            print(f"pipeline {pipeline.name}:")
            for c in checks:
                mark = "ok  " if c.ok else "FAIL"
                print(f"  {mark} {c.kind:<7} {c.name:<16} {c.seconds:>6.2f}s  {c.detail}")
    ctx.emit(report)
    return 0 if ok else 1
