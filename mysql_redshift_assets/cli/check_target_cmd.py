"""`check-target -p <pipeline>`: the live self-test (`maintenance/check_target.py`), one line
per check; exit 1 if any check fails."""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.cli.args import Subcommands
from mysql_redshift_assets.cli.common import Context, find_pipeline
from mysql_redshift_assets.maintenance.check_target import check_target


def add_arguments(commands: Subcommands) -> None:
    ct = commands.add("check-target", "live self-test of the warehouse and the store")
    ct.add_argument("-p", "--pipeline", required=True)


def run(ctx: Context, args: Any) -> int:
    pipeline = find_pipeline(ctx.project, args.pipeline, None)
    checks = check_target(ctx.project, pipeline)
    ctx.emit(
        {"pipeline": pipeline.name, "checks": [c.__dict__ for c in checks]},
        "\n".join(c.line for c in checks),
    )
    return 1 if any(c.status == "FAIL" for c in checks) else 0
