"""`resync`: re-extract one table into a new generation and swap it into the warehouse; a
partitioned table is resynced whole (every window it has extracted), in one swap."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from mysql_redshift_assets.cli.args import Subcommands, table_args
from mysql_redshift_assets.cli.common import Context, find_tables, table_failed
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.maintenance.resync import ResyncResult, resync_table


def add_arguments(commands: Subcommands) -> None:
    table_args(commands.add("resync", "re-extract one table whole and swap it in"))


def run(ctx: Context, args: Any) -> int:
    table = find_tables(ctx.project, args.pipeline, [args.table])[0]
    with (
        open_source(ctx.project, table.source) as source,
        open_warehouse(ctx.project, table.target) as warehouse,
    ):
        try:
            result = resync_table(
                source,
                open_store(ctx.project, table.store),
                warehouse,
                table,
                run_id=f"resync-{uuid4().hex[:12]}",
            )
        except Exception as exc:  # a refused value, a database error: one line naming the table
            return table_failed(ctx, table, exc)
    ctx.emit(
        {
            "table": result.table,
            "generations": result.generations,
            "windows": result.windows,
            "rows_extracted": result.rows_extracted,
            "files": [f.key for f in result.files],
            "rows_swapped_in": result.load.rows_loaded,
            "warehouse_rows": result.load.table_rows,
            "warnings": result.warnings,
            # Where the increments after it start (at or before the safe bound; None: the start).
            "position": result.position.model_dump() if result.position else None,
        },
        f"{result.table}: {_generations(result)}: {result.rows_extracted:,} rows in "
        f"{len(result.files)} file(s); swapped into {table.target} "
        f"({result.load.table_rows:,} rows)",
    )
    for warning in result.warnings:
        print(f"warning: {warning}")
    return 0


def _generations(result: ResyncResult) -> str:
    if result.windows:
        return f"{len(result.windows)} window(s), {result.windows[0]} ... {result.windows[-1]}"
    return f"generation {result.generations[0]}"
