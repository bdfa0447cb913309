"""`watermark get|set|reset|list`."""

from __future__ import annotations

import sys
from typing import Any

from mysql_redshift_assets.cli.args import Subcommands, table_args
from mysql_redshift_assets.cli.common import Context, find_pipeline, find_tables, text_table
from mysql_redshift_assets.config.resolve import TableConfig, table_configs
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.extract.binlog.positions import PositionError, position_from_json
from mysql_redshift_assets.maintenance import watermarks as ops
from mysql_redshift_assets.maintenance.s3clean import superseded_keys
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore


def add_arguments(commands: Subcommands) -> None:
    wm = commands.nested("watermark", "extraction state per table")
    get = wm.add("get", "position, counts, files written vs loaded")
    table_args(get)
    get.add_argument("--show-files", action="store_true")
    set_ = wm.add("set", "where the next extraction starts")
    table_args(set_)
    set_.add_argument(
        "--timestamp", help="rows with cursor >= this (UTC), e.g. '2025-08-09 20:00:01'"
    )
    set_.add_argument("--id", help="rows with primary key > this")
    table_args(wm.add("reset", "extract from the start again"))
    lst = wm.add("list", "every table's state: status, rows and files, position")
    lst.add_argument("-p", "--pipeline")


def _loaded_keys(ctx: Context, table: TableConfig, watermark: Watermark) -> set[str] | None:
    """The ledger's view; None (shown as unknown) when the warehouse cannot be reached."""
    try:
        warehouse = open_warehouse(ctx.project, table.target)
        try:
            return warehouse.loaded_files(table, watermark)
        finally:
            warehouse.close()
    except Exception as exc:
        print(f"warning: ledger not read ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def _position(pos: dict[str, Any] | None) -> str:
    if not pos:
        return "(start)"
    parts = [f"cursor > {pos['cursor']!r}"] if pos.get("cursor") is not None else []
    if pos.get("pk"):
        parts.append(f"primary key > {', '.join(pos['pk'])}" + (" at that cursor" if parts else ""))
    return "; ".join(parts) or "(start)"


def _binlog_text(pos: dict[str, Any] | None) -> str:
    """A `capture: binlog` table's resume point: its binlog position (positions.py JSON)."""
    if not pos:
        return "(no binlog position: the next run makes the initial copy)"
    try:
        return f"binlog {position_from_json(pos).format()} ({pos['kind']})"
    except PositionError as exc:
        return f"unreadable binlog position ({exc})"


def _resumes(info: dict[str, Any]) -> str:
    if info.get("capture") == "binlog":
        return _binlog_text(info.get("binlog_position"))
    return _position(info["position"]) if info["mode"] == "incremental" else "-"


def _whole(info: dict[str, Any]) -> str:
    return f"- (mode {info['mode']}: each run reads the whole table or window)"


def _known(value: int | None) -> str:
    return "unknown" if value is None else str(value)


def _text(info: dict[str, Any], files: list[str] | None) -> str:
    resumes = _whole(info) if info["mode"] != "incremental" else _resumes(info)
    lines = [
        f"table:        {info['table']} ({info['mode']})",
        f"status:       {info['status']}",
        f"resumes at:   {resumes}",
    ]
    if info["session"]:
        s = info["session"]
        lines.append(
            f"last session: {s['status']}, {s['rows']:,} rows, {s['files']} files, run {s['run_id']}"
            + (f"\n              error: {s['error']}" if s["error"] else "")
        )
    c, all_ = info["current"], info["cumulative"]
    lines.append(f"current:      {c['rows']:,} rows in {c['files']} files")
    lines.append(
        f"cumulative:   {all_['rows']:,} rows, {all_['files']} files, {all_['bytes']:,} bytes "
        "(every session, superseded generations included)"
    )
    lines.append(
        f"files:        {info['files_in_store']} in store, {_known(info['files_loaded'])} "
        f"loaded, {_known(info['files_pending'])} pending, "
        f"{_known(info['files_superseded'])} superseded"
    )
    if files:
        lines += ["", *files]
    return "\n".join(lines)


def run(ctx: Context, args: Any) -> int:
    if args.action == "list":
        return _list(ctx, args)
    (table,) = find_tables(ctx.project, args.pipeline, [args.table])
    watermarks = WatermarkStore(open_store(ctx.project, table.store))
    if args.action == "get":
        watermark = watermarks.load(table)
        if watermark is None:
            ctx.emit(
                {"table": table.qualified, "watermark": None},
                f"{table.qualified}: no watermark yet",
            )
            return 0
        loaded = _loaded_keys(ctx, table, watermark)
        info = ops.describe(watermark, loaded) | {"capture": table.capture}
        files = None
        if args.show_files:
            superseded = superseded_keys(watermark, loaded) if loaded is not None else set()

            def state(key: str) -> str:
                if loaded is None:
                    return "?"
                if key in superseded:
                    return "superseded"
                return "loaded" if key in loaded else "pending"

            files = [f"{state(f.key):10} {f.rows:>10,} rows  {f.key}" for f in watermark.files]
            info["files"] = [
                {"key": f.key, "rows": f.rows, "state": state(f.key)} for f in watermark.files
            ]
        ctx.emit(info, _text(info, files))
    elif args.action == "set":
        watermark = ops.set_position(watermarks, table, timestamp=args.timestamp, id=args.id)
        ctx.emit(
            ops.describe(watermark, None),
            f"{table.qualified}: next run starts at {watermark.position}",
        )
    elif args.action == "reset":
        watermark = ops.reset(watermarks, table)
        ctx.emit(
            ops.describe(watermark, None),
            f"{table.qualified}: reset; the next run extracts from the start "
            f"({len(watermark.files)} file(s) still in the store, see `s3clean list`)",
        )
    return 0


def _list_row(pipeline: str, table: TableConfig, watermark: Watermark | None) -> dict[str, Any]:
    current = ops.current_counts(watermark) if watermark else None
    return {
        "pipeline": pipeline,
        "table": table.qualified,
        "mode": table.mode,
        "status": watermark.status if watermark else "none",
        "rows": current["rows"] if current else 0,
        "files": current["files"] if current else 0,
        "cumulative_rows": watermark.cumulative.rows if watermark else 0,
        "position": watermark.position.model_dump() if watermark and watermark.position else None,
        "capture": table.capture,
        "binlog_position": watermark.binlog_position if watermark else None,
    }


def _list(ctx: Context, args: Any) -> int:
    pipelines = (
        [find_pipeline(ctx.project, args.pipeline, None)]
        if args.pipeline
        else list(ctx.project.pipelines.values())
    )
    rows = []
    for pipeline in pipelines:
        for table in table_configs(pipeline):
            try:
                watermark = WatermarkStore(open_store(ctx.project, table.store)).load(table)
            except Exception as exc:  # one unreachable store must not hide the other tables
                row = _list_row(pipeline.name, table, None)
                rows.append(row | {"status": f"unreadable ({type(exc).__name__})"})
                continue
            rows.append(_list_row(pipeline.name, table, watermark))
    ctx.emit(rows, _list_text(rows))
    return 0


def _list_text(rows: list[dict[str, Any]]) -> str:
    """Current rows and files (the newest generation, and increments), not the cumulative."""
    if not rows:
        return "no tables"
    headers = ["PIPELINE", "TABLE", "MODE", "STATUS", "ROWS", "FILES", "RESUMES AT"]
    cells = [
        [r["pipeline"], r["table"], r["mode"], r["status"], f"{r['rows']:,}", str(r["files"]),
         _resumes(r)]
        for r in rows
    ]  # fmt: skip
    return text_table(headers, cells, right={4, 5})
