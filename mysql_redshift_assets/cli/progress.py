"""`sync`'s progress: a live bar (rows, rate, ETA) on a terminal, plain lines otherwise, and a
final summary table.

Fed by the library's own log records (`sync.extract` logs every file it stores with its row
count), read by a logging handler while the runs execute in this process: nothing is handed
down to the library, nothing calls back up.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from types import TracebackType
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from mysql_redshift_assets.cli.common import human_bytes, text_table
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.extract.probes import estimated_rows
from mysql_redshift_assets.state.watermark import WatermarkStore

# The record `sync.extract` logs once a file is stored and recorded: (table, key, rows).
STORED_LOGGER = "mysql_redshift_assets.sync.extract"
STORED_MESSAGE = "%s: stored %s (%d rows)"
PACKAGE_LOGGER = "mysql_redshift_assets"


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="cyan", no_wrap=True)


class _Rows(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = f"/~{task.total:,.0f}" if task.total else ""
        return Text(f"{task.completed:,.0f}{total} rows", style="green", no_wrap=True)


class SyncProgress(logging.Handler):
    """While entered: every stored file advances its table's bar (or prints one line)."""

    def __init__(
        self,
        expected: dict[str, int | None] | None = None,
        *,
        stream: IO[str] | None = None,
        live: bool | None = None,
    ) -> None:
        super().__init__(level=logging.INFO)
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.expected = expected or {}
        self.rows: dict[str, int] = {}
        self.files: dict[str, int] = {}
        self.started = time.monotonic()
        self._tasks: dict[str, TaskID] = {}
        self._bar: Progress | None = None
        self._terminal: IO[str] | None = None
        self._saved: tuple[int, bool] = (logging.NOTSET, True)

    def __enter__(self) -> SyncProgress:
        logger = logging.getLogger(PACKAGE_LOGGER)
        self._saved = (logger.level, logger.propagate)
        # This handler shows the package's records (warnings too): not the root's lines again.
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(self)
        if self.live:
            # A copy of the terminal's descriptor: Dagster captures a step's stdout / stderr
            # (its compute logs) by redirecting fds 1 and 2 while the step runs.
            self._terminal = _copy(self.stream)
            self._bar = _bar(Console(file=self._terminal or self.stream, force_terminal=True))
            self._bar.start()
            for table, total in self.expected.items():
                self._task(table, total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        logger = logging.getLogger(PACKAGE_LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]
        if self._bar is not None:
            self._bar.stop()
        if self._terminal is not None:
            self._terminal.close()

    def _task(self, table: str, total: int | None = None) -> TaskID:
        if table not in self._tasks:
            assert self._bar is not None
            self._tasks[table] = self._bar.add_task(table, total=total)
        return self._tasks[table]

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if record.name == STORED_LOGGER and record.msg == STORED_MESSAGE:
                args = record.args if isinstance(record.args, tuple) else ("?", "", 0)
                self._stored(str(args[0]), int(str(args[2])))
            elif record.levelno >= logging.WARNING:
                self._line(f"{record.levelname.lower()}: {record.getMessage()}")
            elif not self.live:
                self._line(record.getMessage())
        except Exception:  # noqa: BLE001 - a display problem must never fail the sync
            self.handleError(record)

    def _stored(self, table: str, rows: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + rows
        self.files[table] = self.files.get(table, 0) + 1
        if self._bar is not None:
            task = self._task(table, self.expected.get(table))
            self._bar.update(task, advance=rows)
            return
        seconds = max(time.monotonic() - self.started, 1e-9)
        self._line(
            f"{table}: {self.rows[table]:,} rows in {self.files[table]} file(s) so far "
            f"({self.rows[table] / seconds:,.0f} rows/s)"
        )

    def _line(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)


def _copy(stream: IO[str]) -> IO[str] | None:
    """A new file on the stream's descriptor; None for a stream with none (a test's buffer)."""
    try:
        return os.fdopen(os.dup(stream.fileno()), "w", buffering=1)
    except (OSError, ValueError, AttributeError):
        return None


def _bar(console: Console) -> Progress:
    # Narrow enough for an 80-column terminal: the numbers matter more than the bar.
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=12),
        _Rows(),
        _Rate(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        refresh_per_second=4,
    )


def summary_table(summary: dict[str, Any]) -> str:
    """The run's assets, one line each: what `sync` did, as a table."""
    rows = []
    for key, md in summary["assets"].items():
        extracted = key.endswith("/parquet")
        count = md["rows"] if extracted else md["rows_loaded"]
        seconds = float(md.get("seconds") or 0)
        rows.append([
            key, "extracted" if extracted else "loaded", f"{count:,}",
            str(md["files"] if extracted else md["files_loaded"]),
            human_bytes(md["bytes"]) if extracted else "-",
            f"{seconds:,.1f}s" if seconds else "-",
            f"{count / seconds:,.0f}" if seconds else "-",
            "-" if extracted else f"{md['table_rows']:,}",
        ])  # fmt: skip
    headers = ["ASSET", "STEP", "ROWS", "FILES", "BYTES", "TIME", "ROWS/S", "TABLE ROWS"]
    runs = [
        f"run {r['run_id']}: {'succeeded' if r['success'] else 'FAILED'}" for r in summary["runs"]
    ]
    return "\n".join([text_table(headers, rows, right={2, 3, 4, 5, 6, 7}), *runs])


def print_summary(summary: dict[str, Any]) -> None:
    print(summary_table(summary))
    for error in summary["errors"]:
        print(f"error: {error}", file=sys.stderr)


def expected_rows(
    project: Project, tables: list[TableConfig], limit: int | None
) -> dict[str, int | None]:
    """Each table's rows this sync should read, for the bar's ETA; None where unknown.

    Known for a whole-table read (mode full, or the first extraction): MySQL's own estimate
    (information_schema.TABLES.TABLE_ROWS, InnoDB's sampled count), capped by --limit.
    """
    return {t.qualified: _estimate(project, t, limit) for t in tables}


def _estimate(project: Project, table: TableConfig, limit: int | None) -> int | None:
    try:
        watermark = WatermarkStore(open_store(project, table.store)).load(table)
        if table.mode == "incremental" and watermark is not None and watermark.position:
            return limit
        source = open_source(project, table.source)
        try:  # None for a source without a catalog (the demo)
            estimate = estimated_rows(source, table.source_schema, table.source_table)
        finally:
            source.close()
    except Exception:  # noqa: BLE001 - no estimate is no ETA, never a failed sync
        return limit
    return min(estimate, limit) if estimate is not None and limit else estimate or limit
