"""A table's progress while it runs: the records the library emits, and what they add up to.

The library reports each step of a table's run as a DEBUG record of the logger
`mysql_redshift_assets.progress` carrying a `Step` (attribute `progress`): nothing is handed
down to it and nothing calls back up. Whoever wants progress listens to that logger
(`sync/relay.py`: the Dagster op, while it runs); nobody listening costs one level check a
batch, and no estimate is asked of MySQL.

    extracting  an extraction (of a table, or of one window) starts; `expected`: MySQL's
                estimate of the rows it reads (a whole-table read) or None (unknown)
    read        a batch read from MySQL (`rows`)
    stored      a Parquet file stored and recorded in the watermark (`rows`, `bytes`)
    loading     a load starts (staging, COPY, merge or replace, in one transaction)
    loaded      a load committed (`rows` loaded)

`TableProgress` adds them up into one line for a run's log: rows, files, MB, rate and ETA.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

PROGRESS_LOGGER = "mysql_redshift_assets.progress"
progress_log = logging.getLogger(PROGRESS_LOGGER)
Phase = Literal["extracting", "read", "stored", "loading", "loaded"]


@dataclass(frozen=True)
class Step:
    table: str  # TableConfig.qualified
    phase: Phase
    rows: int = 0
    bytes: int = 0
    expected: int | None = None


def listening() -> bool:
    """Whether anyone receives progress records (then an estimate is worth a query)."""
    return progress_log.isEnabledFor(logging.DEBUG)


def report(step: Step) -> None:
    if progress_log.isEnabledFor(logging.DEBUG):
        progress_log.debug("%s: %s", step.table, step.phase, extra={"progress": step})


def step_of(record: logging.LogRecord) -> Step | None:
    step = getattr(record, "progress", None)
    return step if isinstance(step, Step) else None


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def megabytes(n: int) -> str:
    return f"{n / 1_000_000:,.1f} MB"


@dataclass
class TableProgress:
    """One table's steps so far (times from `time.monotonic()`), and its line for the log."""

    table: str
    started: float
    phase: Literal["extracting", "loading"] = "extracting"
    phase_since: float = 0.0
    extract_started: float | None = None
    expected: int | None = None
    rows_read: int = 0  # this run's windows, added up
    rows_stored: int = 0
    files: int = 0
    bytes: int = 0
    rows_loaded: int = 0
    loads: int = 0

    def apply(self, step: Step, now: float) -> bool:
        """Add a step; True when it starts a phase (worth a line at once)."""
        if step.phase == "extracting":
            if self.extract_started is None:
                self.extract_started = now
                self.expected = step.expected
            else:  # the next window: its rows add to what is expected (None: unknown)
                known = self.expected is not None and step.expected is not None
                self.expected = (self.expected or 0) + (step.expected or 0) if known else None
            return self._enter("extracting", now)
        if step.phase == "read":
            self.rows_read += step.rows
        elif step.phase == "stored":
            self.rows_stored += step.rows
            self.files += 1
            self.bytes += step.bytes
        elif step.phase == "loading":
            return self._enter("loading", now)
        elif step.phase == "loaded":
            self.rows_loaded += step.rows
            self.loads += 1
        return False

    def _enter(self, phase: Literal["extracting", "loading"], now: float) -> bool:
        changed = phase != self.phase or not self.phase_since
        self.phase = phase
        self.phase_since = now if changed else self.phase_since
        return changed

    @property
    def rows(self) -> int:
        """Rows extracted so far: read from MySQL (batches), at least those stored."""
        return max(self.rows_read, self.rows_stored)

    def rate(self, now: float) -> float:
        if self.extract_started is None:
            return 0.0
        return self.rows / max(now - self.extract_started, 1e-9)

    def eta(self, now: float) -> str:
        rate = self.rate(now)
        if self.expected is None:
            return "ETA unknown"
        if self.rows >= self.expected:
            return f"ETA unknown (past MySQL's estimate of {self.expected:,} rows)"
        if rate <= 0:
            return f"ETA unknown (of about {self.expected:,} rows)"
        return (
            f"ETA {duration((self.expected - self.rows) / rate)} (of about {self.expected:,} rows)"
        )

    def _extracted(self) -> str:
        return f"{self.rows:,} rows, {self.files} file(s) stored ({megabytes(self.bytes)})"

    def line(self, now: float) -> str:
        """The table's state now, as one line."""
        if self.phase == "extracting":
            return (
                f"{self.table}: extracting for {duration(now - self.phase_since)}: "
                f"{self._extracted()}, {self.rate(now):,.0f} rows/s, {self.eta(now)}"
            )
        extracted = f"; extracted {self._extracted()}" if self.extract_started else ""
        return (
            f"{self.table}: loading (staging, COPY, merge) for "
            f"{duration(now - self.phase_since)}: {self.rows_loaded:,} rows loaded so far"
            f"{extracted}"
        )

    def done(self, now: float, failed: bool) -> str:
        what = []
        if self.extract_started is not None:
            what.append(f"extracted {self._extracted()} at {self.rate(now):,.0f} rows/s")
        if self.loads:
            what.append(f"loaded {self.rows_loaded:,} rows")
        ended = "failed" if failed else "done"
        return f"{self.table}: {ended} after {duration(now - self.started)}: " + (
            "; ".join(what) or "nothing extracted or loaded"
        )
