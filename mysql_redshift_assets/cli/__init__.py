"""`mysql-redshift` (also `python -m mysql_redshift_assets`): the everyday work of the old CLI.

It runs the same library code as the assets; `sync` runs the assets themselves through Dagster.
Exit codes: 0 success, 1 a failure or a finding (status/validate), 2 bad input. A failure is one
line on stderr (`error: ...`; a failed table: `error: <pipeline> <table>: <cause>`); `-v` adds
its traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from typing import Any

from mysql_redshift_assets.config.errors import ConfigError


def _global_flags(parser: argparse.ArgumentParser, *, on_subcommand: bool) -> None:
    """Flags that work before or after the subcommand (`--json status`, `status --json`).

    On a subcommand their default is SUPPRESS: a flag given before the subcommand is then not
    reset by the subcommand's own default."""
    keep = argparse.SUPPRESS if on_subcommand else None
    parser.add_argument(
        "--pipelines-dir",
        default=keep,
        help="default: $MYSQL_REDSHIFT_PIPELINES_DIR, else ./pipelines in the working directory",
    )
    parser.add_argument(
        "--json", action="store_true", default=keep or False, help="machine-readable output"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=keep or False,
        help="on a failure, print its traceback too (and Dagster's own log of a failed sync)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mysql-redshift", description=__doc__.splitlines()[0])
    _global_flags(parser, on_subcommand=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, on_subcommand=True)
    sub = parser.add_subparsers(dest="command", required=True)

    def leaf(group: Any, name: str, help: str, description: str | None = None) -> Any:
        return group.add_parser(name, help=help, description=description or help, parents=[common])

    def table_args(p: argparse.ArgumentParser, required: bool = True, many: bool = False) -> None:
        p.add_argument("-p", "--pipeline", help="pipeline name (optional if the table is in one)")
        if many:
            p.add_argument("-t", "--table", action="append", help="<schema>.<table>; repeatable")
        else:
            p.add_argument("-t", "--table", required=required, help="<schema>.<table>")

    wm = leaf(sub, "watermark", "extraction state per table").add_subparsers(
        dest="action", required=True
    )
    get = leaf(wm, "get", "position, counts, files written vs loaded")
    table_args(get)
    get.add_argument("--show-files", action="store_true")
    set_ = leaf(wm, "set", "where the next extraction starts")
    table_args(set_)
    set_.add_argument(
        "--timestamp", help="rows with cursor >= this (UTC), e.g. '2025-08-09 20:00:01'"
    )
    set_.add_argument("--id", help="rows with primary key > this")
    table_args(leaf(wm, "reset", "extract from the start again"))
    lst = leaf(wm, "list", "every table's state: status, rows and files, position")
    lst.add_argument("-p", "--pipeline")

    s3 = leaf(sub, "s3clean", "files in the store").add_subparsers(dest="action", required=True)
    s3list = leaf(
        s3, "list", "files and their state (loaded, pending, superseded, orphan), with totals"
    )
    table_args(s3list, required=False)
    s3list.add_argument("--show-timestamps", action="store_true")
    cleans = {
        "clean": "delete the safe files (loaded, superseded, orphan) of ONE table (-t)",
        "clean-all": "delete the safe files (loaded, superseded, orphan) of EVERY table of a "
        "pipeline (-p), one table after another",
    }
    for name, help in cleans.items():
        p = leaf(s3, name, help)
        table_args(p, required=(name == "clean"))
        p.add_argument("--older-than", help="only files older than this: 30m, 12h, 7d, 2w")
        p.add_argument("--pattern", help="only file names (or keys) matching this glob")
        p.add_argument("--dry-run", action="store_true", help="show, delete nothing")
        p.add_argument(
            "--force", action="store_true", help="no prompt; also delete files not yet loaded"
        )

    st = leaf(sub, "status", "check every connection of a pipeline, and every pipeline file")
    st.add_argument("-p", "--pipeline")
    val = leaf(sub, "validate", "source vs Parquet vs warehouse: rows, keys, values")
    table_args(val, required=False)
    val.add_argument(
        "--partition",
        metavar="KEY",
        help="partitioned tables only, this window (a day '2026-11-30', an id range '0-1000'); "
        "default: every window extracted",
    )
    leaf(sub, "validate-config", "read every pipeline file; list each broken file's errors")
    table_args(leaf(sub, "resync", "re-extract one table whole and swap it in"))
    ddl = leaf(sub, "ddl", "print the target DDL a load would run (runs nothing)")
    table_args(ddl, required=False)
    ct = leaf(sub, "check-target", "live self-test of the warehouse and the store")
    ct.add_argument("-p", "--pipeline", required=True)

    sync = leaf(sub, "sync", "run the assets (recorded in Dagster)")
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
    sync.add_argument("--json-output", help="write a JSON summary to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from mysql_redshift_assets.cli import (
        check_target_cmd,
        ddl_cmd,
        s3clean_cmd,
        status_cmd,
        sync_cmd,
        validate_cmd,
        watermark_cmd,
    )
    from mysql_redshift_assets.cli.common import fail, open_context, warn_broken
    from mysql_redshift_assets.cli.resync_cmd import run as resync
    from mysql_redshift_assets.state.watermark import WatermarkError

    if args.command == "sync" and args.max_chunks and not args.limit:
        return fail("--max-chunks needs --limit", 2)
    for value, name in (
        (getattr(args, "limit", None), "--limit"),
        (getattr(args, "max_chunks", None), "--max-chunks"),
    ):
        if value is not None and value < 1:
            return fail(f"{name} must be a positive number", 2)
    try:
        ctx = open_context(args)
        if args.command not in ("status", "validate-config"):  # those two list the errors
            warn_broken(ctx.project)
        handler = {
            "watermark": watermark_cmd.run,
            "s3clean": s3clean_cmd.run,
            "status": status_cmd.status,
            "validate": validate_cmd.validate,
            "validate-config": status_cmd.validate_config,
            "sync": sync_cmd.run,
            "resync": resync,
            "ddl": ddl_cmd.run,
            "check-target": check_target_cmd.run,
        }[args.command]
        return handler(ctx, args)
    except (ConfigError, WatermarkError) as exc:
        return fail(str(exc), 2)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Exception as exc:  # one line, not a traceback, for what a user can act on
        if getattr(args, "verbose", False):
            traceback.print_exc()
        return fail(f"{type(exc).__name__}: {exc}", 1)


if __name__ == "__main__":
    sys.exit(main())
