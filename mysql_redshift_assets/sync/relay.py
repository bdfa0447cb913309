"""Progress and warnings from worker threads, handed to one thread that may talk to the caller.

A Dagster op runs its tables in worker threads, and those must never touch the op's context.
While a `ProgressRelay` is entered, two logging handlers put what the threads log onto a
queue: the progress records (`sync/progress.py`) of the op's tables, and the WARNING and ERROR
records of the package's loggers (`mysql_redshift_assets.*`). Nothing else is done in the
thread that logs. The op's own thread drains the queue while it waits for its tables
(`drain`, `finished`) and writes the lines it gets to the run's log:

- a line a running table every `interval` seconds, once the table has run that long (a table
  done sooner adds no line: a no-op sync's log stays as it was), and at once when such a table
  starts loading; then its `done` line;
- each distinct warning once, as it happens; noted either way, so that the op does not log it
  again with the table's result. A warning that Dagster's own handler receives too (`python_logs:
  managed_python_loggers` in the instance's dagster.yaml) is left to Dagster: whether it does is
  decided per record, when it is logged, from the handlers then on its loggers. Dagster attaches
  that handler for each user-code boundary of the step and removes it when one ends, so a
  generator op that has yielded an output may have none on while its threads still run: a
  warning logged then would otherwise be lost.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Literal

from mysql_redshift_assets.sync.progress import PROGRESS_LOGGER, TableProgress, step_of

PACKAGE_LOGGER = "mysql_redshift_assets"
Level = Literal["info", "warning", "error"]
Line = tuple[Level, str]

_guard = threading.Lock()
_entered = 0  # relays entered in this process (the progress logger is set up by the first)
_saved: tuple[int, bool] = (logging.NOTSET, True)


Caught = tuple[logging.LogRecord, str, bool]  # a record, its text as logged, Dagster has it


class _Enqueue(logging.Handler):
    def __init__(self, level: int, into: queue.SimpleQueue[Caught]) -> None:
        super().__init__(level)
        self.into = into
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # The text now: a later handler may rewrite the record (Dagster's managed loggers do).
        if step_of(record):
            self.into.put((record, "", False))
            return
        self.into.put((record, self.format(record), _dagster_receives(record)))


# The class of the handler Dagster puts on its managed loggers (`dagster._core.log_manager`),
# named, not imported: nothing below defs/ imports Dagster.
DAGSTER_HANDLER = "DagsterLogHandler"


def _dagster_receives(record: logging.LogRecord) -> bool:
    """Whether a handler of Dagster's is on the record's loggers now (as `Logger.callHandlers`
    walks them: up the hierarchy while each propagates)."""
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(type(h).__name__ == DAGSTER_HANDLER for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


class ProgressRelay:
    def __init__(
        self,
        tables: Iterable[str],
        interval: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tables = set(tables)
        self.interval = max(float(interval), 0.1)
        self.clock = clock
        self.warned: set[str] = set()  # every warning seen (relayed, or left to Dagster)
        self._queue: queue.SimpleQueue[Caught] = queue.SimpleQueue()
        self._progress = _Enqueue(logging.DEBUG, self._queue)
        self._warnings = _Enqueue(logging.WARNING, self._queue)
        self._running: dict[str, TableProgress] = {}
        self._shown: dict[str, float] = {}  # table -> when its last line was given

    @property
    def tick(self) -> float:
        """How long the caller may wait between drains."""
        return min(self.interval, 1.0)

    def __enter__(self) -> ProgressRelay:
        global _entered, _saved
        progress = logging.getLogger(PROGRESS_LOGGER)
        with _guard:
            if _entered == 0:
                # DEBUG records of its own, kept from the package's handlers (the CLI's bar,
                # Dagster's managed loggers): a record a batch is for the relay only.
                _saved = (progress.level, progress.propagate)
                progress.setLevel(logging.DEBUG)
                progress.propagate = False
            _entered += 1
            progress.addHandler(self._progress)
            # First among the package's handlers (`handlers`: the logger's public list), so
            # that it reads each record before another handler can rewrite it.
            logging.getLogger(PACKAGE_LOGGER).handlers.insert(0, self._warnings)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        global _entered
        progress = logging.getLogger(PROGRESS_LOGGER)
        with _guard:
            progress.removeHandler(self._progress)
            logging.getLogger(PACKAGE_LOGGER).removeHandler(self._warnings)
            _entered -= 1
            if _entered == 0:
                progress.setLevel(_saved[0])
                progress.propagate = _saved[1]

    # -- the caller's thread --------------------------------------------------------------
    def drain(self) -> list[Line]:
        """What the threads logged since the last drain, and the lines now due."""
        lines: list[Line] = []
        now = self.clock()
        while True:
            try:
                record, text, dagster_has_it = self._queue.get_nowait()
            except queue.Empty:
                break
            lines += self._take(record, text, dagster_has_it, now)
        for table, progress in self._running.items():
            if now - self._shown.get(table, progress.started) >= self.interval:
                self._shown[table] = now
                lines.append(("info", progress.line(now)))
        return lines

    def finished(self, table: str, *, failed: bool = False) -> list[Line]:
        """A table's future is done: what it logged last, and its `done` line if it had lines."""
        lines = self.drain()
        progress = self._running.pop(table, None)
        if progress is not None and table in self._shown:
            level: Level = "error" if failed else "info"
            lines.append((level, progress.done(self.clock(), failed)))
        self._shown.pop(table, None)
        return lines

    def _take(
        self, record: logging.LogRecord, message: str, dagster_has_it: bool, now: float
    ) -> list[Line]:
        step = step_of(record)
        if step is not None:
            if step.table not in self.tables:
                return []  # another op's table (two ops in one process)
            progress = self._running.setdefault(step.table, TableProgress(step.table, now))
            if progress.apply(step, now) and step.table in self._shown:
                self._shown[step.table] = now
                return [("info", progress.line(now))]
            return []
        if record.levelno < logging.WARNING:
            return []
        if message in self.warned:
            return []
        self.warned.add(message)
        if dagster_has_it:
            return []
        return [("error" if record.levelno >= logging.ERROR else "warning", message)]
