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

from mysql_redshift_assets.cli import (
    check_target_cmd,
    ddl_cmd,
    resync_cmd,
    s3clean_cmd,
    status_cmd,
    sync_cmd,
    validate_cmd,
    watermark_cmd,
)
from mysql_redshift_assets.cli.args import Subcommands, global_flags
from mysql_redshift_assets.cli.common import fail, open_context, warn_broken
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.state.watermark import WatermarkError

# In `--help`'s order; each adds its own subcommands and their arguments.
_COMMANDS = (
    watermark_cmd,
    s3clean_cmd,
    status_cmd,  # status, validate (run by validate_cmd.py), validate-config
    resync_cmd,
    ddl_cmd,
    check_target_cmd,
    sync_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mysql-redshift", description=__doc__.splitlines()[0])
    global_flags(parser, on_subcommand=False)
    common = argparse.ArgumentParser(add_help=False)
    global_flags(common, on_subcommand=True)
    commands = Subcommands(parser.add_subparsers(dest="command", required=True), common)
    for command in _COMMANDS:
        command.add_arguments(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
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
            "resync": resync_cmd.run,
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
