"""What every verb shares: finding the pipeline and table, opening clients, printing results."""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from mysql_redshift_assets.causes import cause_of, table_line
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.config.resolve import TableConfig, table_config, table_configs
from mysql_redshift_assets.project import load_project


@dataclass
class Context:
    project: Project
    as_json: bool
    verbose: bool = False  # `-v`: a failure's traceback too
    # A live progress display owns the terminal (cli/progress.py): runs log warnings only.
    live: bool = False

    def emit(self, data: Any, text: str | None = None) -> None:
        """JSON for automation (`--json`), readable text otherwise."""
        if self.as_json:
            print(json.dumps(data, indent=1, default=str))
        elif text is not None:
            print(text)


def open_context(args: Any) -> Context:
    from pathlib import Path

    root = Path(args.pipelines_dir) if args.pipelines_dir else None
    # A broken pipeline file leaves the others usable; `validate-config` lists its errors.
    return Context(
        project=load_project(root, keep_going=True),
        as_json=bool(args.json),
        verbose=bool(getattr(args, "verbose", False)),
    )


def warn_broken(project: Project) -> None:
    """One line on stderr naming the pipeline files that did not load."""
    if project.broken:
        names = ", ".join(f"{n}.yml" for n in sorted(project.broken))
        print(
            f"warning: pipeline file(s) with errors, not loaded: {names} "
            "(`mysql-redshift validate-config` lists the errors)",
            file=sys.stderr,
        )


def find_pipeline(project: Project, pipeline: str | None, table: str | None) -> Pipeline:
    """`-p` may be left out when exactly one pipeline has the table (`-t`)."""
    if pipeline:
        return project.pipeline(pipeline)
    if not table:
        names = ", ".join(sorted(project.pipelines)) or "none"
        raise ConfigError(f"give a pipeline with -p (pipelines: {names})")
    having = [p for p in project.pipelines.values() if table in p.spec.tables]
    if len(having) == 1:
        return having[0]
    if not having:
        unread = f" (not read, with errors: {', '.join(sorted(project.broken))})"
        raise ConfigError(
            f"no pipeline in {project.root} has table {table!r}; tables are named "
            f"<schema>.<table>{unread if project.broken else ''}"
        )
    names = ", ".join(p.name for p in having)
    raise ConfigError(f"table {table!r} is in pipelines {names}: choose one with -p")


def find_tables(
    project: Project, pipeline: str | None, tables: list[str] | None
) -> list[TableConfig]:
    first = tables[0] if tables else None
    chosen = find_pipeline(project, pipeline, first)
    if not tables:
        return table_configs(chosen)
    return [table_config(chosen, t) for t in tables]


def fail(message: str, code: int = 1) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def table_failed(ctx: Context, table: TableConfig, exc: BaseException) -> int:
    """`error: <pipeline> <table>: <cause>`; with `-v` the traceback before it."""
    if ctx.verbose:
        traceback.print_exception(exc)
    return fail(table_line(table.pipeline, table.qualified, cause_of(exc)))


class Progress:
    """A bar on a terminal, plain lines otherwise (logs, CI)."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.done = max(total, 1), label, 0
        self.tty = sys.stderr.isatty()

    def step(self, n: int = 1) -> None:
        self.done += n
        if self.tty:
            filled = int(30 * self.done / self.total)
            bar = "#" * filled + "-" * (30 - filled)
            sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif self.done == self.total or self.done % max(self.total // 10, 1) == 0:
            print(f"{self.label}: {self.done}/{self.total}", file=sys.stderr)


def text_table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Columns padded to their widest cell, a header and a rule; `right`: numeric columns."""
    right = right or set()
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        padded = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)
