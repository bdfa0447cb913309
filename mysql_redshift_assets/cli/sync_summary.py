"""What `sync` prints and writes at the end: the runs' materializations, checks and errors,
from in-process results or submitted runs followed to their end (both `RunResult`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from mysql_redshift_assets.cli.failures import RunResult, failures


def summarise(results: Sequence[tuple[Any, RunResult]], owners: dict[str, str]) -> dict[str, Any]:
    """`owners`: asset key path -> the table it belongs to."""
    summary: dict[str, Any] = {
        "run_id": results[0][1].run_id if results else None,
        "success": all(r.success for _, r in results),
        "runs": [
            {
                "run_id": r.run_id,
                "success": r.success,
                "partitions": run.partitioned.keys if run.partitioned else None,
            }
            for run, r in results
        ],
        "assets": {},
        "checks": {},
        "errors": [],  # one line a failure: "<pipeline> <table>: <cause>"
        "failed_tables": [],
    }
    for _, result in results:
        for event in result.get_asset_materialization_events():
            mat = event.step_materialization_data.materialization
            md = {k: v.value for k, v in mat.metadata.items() if not k.startswith("dagster/")}
            path = "/".join(mat.asset_key.path)
            if mat.partition is None:
                summary["assets"][path] = md
            else:  # one materialization per partition, with that window's own figures
                summary["assets"].setdefault(path, {"partitions": {}})["partitions"][
                    mat.partition
                ] = md
        for event in result.all_events:
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                check = event.asset_check_evaluation_data
                name = f"{'/'.join(check.asset_key.path)}:{check.check_name}"
                summary["checks"][name] = {
                    "passed": check.passed,
                    "description": check.description,
                    "table": owners.get("/".join(check.asset_key.path)),
                }
        lines, failed = failures(result)
        summary["errors"] += lines
        summary["failed_tables"] += failed
    return summary


def _totals(md: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """An asset's figures (summed over its partitions) and the words saying which."""
    parts = md.get("partitions")
    if not isinstance(parts, dict):
        return md, ""
    total: dict[str, Any] = {}
    for figures in parts.values():
        for name, value in figures.items():
            if isinstance(value, int):
                total[name] = total.get(name, 0) + value
    last = list(parts.values())[-1]
    total["table_rows"] = last.get("table_rows", 0)
    return total, f" over partitions {', '.join(parts)}"


def print_summary(summary: dict[str, Any]) -> None:
    for key, raw in summary["assets"].items():
        md, over = _totals(raw)
        if "rows" in md:  # the Parquet asset
            print(
                f"{key}: {md['rows']:,} rows extracted, {md['files']} file(s), "
                f"{md['bytes']:,} bytes{over}"
            )
        else:
            print(
                f"{key}: {md['rows_loaded']:,} rows loaded from {md['files_loaded']} file(s); "
                f"table has {md['table_rows']:,} rows{over}"
            )
    for name, check in summary["checks"].items():
        # A failed table's checks failed with it: its one error line below says why.
        if not check["passed"] and check["table"] not in summary["failed_tables"]:
            print(f"check {name} FAILED: {check['description']}", file=sys.stderr)
    for error in summary["errors"]:
        print(f"error: {error}", file=sys.stderr)
    for run in summary["runs"]:
        print(f"run {run['run_id']}: {'succeeded' if run['success'] else 'FAILED'}")
