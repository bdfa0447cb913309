"""What a failed `sync` prints: one line a failed table, `error: <pipeline> <table>: <cause>`
(the cause's own message names the fix), and no traceback unless `-v` / `--verbose`.

The run executes in this process, and Dagster's console logger would print each failure three
times with its stack trace (the table's `failed:` record, STEP_FAILURE, RUN_FAILURE): without
`-v` the run gets the same console logger minus its ERROR records, and the summary prints the
failures from the op's `dg.Failure` metadata (`errors`, one line a table, `defs/assets.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import dagster as dg


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


@dg.logger(
    dg.colored_console_logger.config_schema,
    description="Dagster's console logger without its ERROR records: `mysql-redshift sync` "
    "prints each failure as one line (`-v` shows them all, with their tracebacks).",
)
def console_without_errors(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    logger.addFilter(_BelowError())
    return logger


def for_console(job: dg.JobDefinition, verbose: bool) -> dg.JobDefinition:
    return job if verbose else job.with_logger_defs({"console": console_without_errors})


class RunResult(Protocol):
    """What `sync` reads of a run: an in-process result, or a submitted run followed to its
    end (`cli/submit.py`)."""

    @property
    def run_id(self) -> str: ...

    @property
    def success(self) -> bool: ...

    @property
    def all_events(self) -> Sequence[dg.DagsterEvent]: ...

    def get_asset_materialization_events(self) -> Sequence[dg.DagsterEvent]: ...


def failures(result: RunResult) -> tuple[list[str], list[str]]:
    """(one line a failure, the failed tables) of one run."""
    lines: list[str] = []
    tables: list[str] = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE" or event.step_failure_data is None:
            continue
        data = event.step_failure_data
        metadata = data.user_failure_data.metadata if data.user_failure_data else {}
        if "errors" in metadata and "failed_tables" in metadata:
            lines += _strings(metadata["errors"].value)
            tables += _strings(metadata["failed_tables"].value)
        elif data.error is not None:  # not a table's failure (a resource, Dagster itself)
            lines.append(f"{event.step_key}: {_first_line(data.error.message)}")
    if not result.success and not lines:  # the run's own end: a launch failure, a timeout
        lines += [
            _first_line(e.message or "the run failed")
            for e in result.all_events
            if e.event_type_value in ("RUN_FAILURE", "RUN_CANCELED")
        ]
    if not result.success and not lines:
        lines.append(f"run {result.run_id} did not succeed")
    return lines, tables


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list | tuple) else []


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)
