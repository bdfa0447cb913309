"""`ddl -p <pipeline> [-t <table>]`: print the DDL a first load would run, or the ALTERs a load
would run on the existing table, without running anything (`maintenance/ddl.py`)."""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.cli.args import Subcommands, table_args
from mysql_redshift_assets.cli.common import Context, find_tables
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.maintenance.ddl import TableDdl, table_ddl
from mysql_redshift_assets.state.watermark import WatermarkStore


def add_arguments(commands: Subcommands) -> None:
    table_args(
        commands.add("ddl", "print the target DDL a load would run (runs nothing)"), required=False
    )


def run(ctx: Context, args: Any) -> int:
    tables = find_tables(ctx.project, args.pipeline, [args.table] if args.table else None)
    results: list[TableDdl] = []
    for table in tables:
        source = open_source(ctx.project, table.source)
        warehouse = open_warehouse(ctx.project, table.target)
        try:
            watermarks = WatermarkStore(open_store(ctx.project, table.store))
            results.append(table_ddl(source, warehouse, watermarks, table))
        finally:
            source.close()
            warehouse.close()
    ctx.emit([r.as_dict() for r in results], "\n\n".join(_text(r) for r in results))
    return 0


def _text(ddl: TableDdl) -> str:
    state = "exists" if ddl.exists else "to be created"
    lines = [f"-- {ddl.table} -> {ddl.target} ({state})"]
    lines += [f"-- renamed: {s} -> {w}" for s, w in ddl.renames.items()]
    lines += [f"-- warning: {w}" for w in ddl.warnings]
    lines += [f"{s};" for s in ddl.statements] or ["-- nothing to change"]
    return "\n".join(lines)
