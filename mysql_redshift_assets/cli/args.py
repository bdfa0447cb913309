"""The command line's shared pieces: the flags every subcommand takes, where a subcommand is
added (`Subcommands`), and `-p/-t`. Each `*_cmd.py` adds its own subcommands and arguments
(`add_arguments`); `cli.build_parser` puts them together."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


def global_flags(parser: argparse.ArgumentParser, *, on_subcommand: bool) -> None:
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


@dataclass(frozen=True)
class Subcommands:
    """A group of subcommands (`mysql-redshift <command>`, `watermark <action>`); each parser
    added takes the global flags too (`common`)."""

    group: Any  # argparse's subparsers action: argparse does not export its type
    common: argparse.ArgumentParser

    def add(self, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self.group.add_parser(
            name, help=help, description=description or help, parents=[self.common]
        )
        return parser

    def nested(self, name: str, help: str) -> Subcommands:
        """A subcommand with actions of its own (`watermark get`), in `args.action`."""
        return Subcommands(
            self.add(name, help).add_subparsers(dest="action", required=True), self.common
        )


def table_args(p: argparse.ArgumentParser, required: bool = True, many: bool = False) -> None:
    p.add_argument("-p", "--pipeline", help="pipeline name (optional if the table is in one)")
    if many:
        p.add_argument("-t", "--table", action="append", help="<schema>.<table>; repeatable")
    else:
        p.add_argument("-t", "--table", required=required, help="<schema>.<table>")
