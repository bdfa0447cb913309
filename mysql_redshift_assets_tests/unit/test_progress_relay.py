"""The progress relay (`sync/relay.py`) and the lines it gives (`sync/progress.py`): records
logged by other threads, drained by the caller's thread, on a clock the test moves."""

from __future__ import annotations

import logging
import threading

from mysql_redshift_assets.sync.progress import PROGRESS_LOGGER, Step, TableProgress, report
from mysql_redshift_assets.sync.relay import ProgressRelay


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _in_thread(*steps: Step, warn: str | None = None) -> None:
    def work() -> None:
        for step in steps:
            report(step)
        if warn:
            logging.getLogger("mysql_redshift_assets.sync.load").warning(warn)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_lines_every_interval_once_a_table_has_run_that_long() -> None:
    clock = Clock()
    with ProgressRelay(["db.t", "db.quick"], 30, clock=clock) as relay:
        _in_thread(Step("db.t", "extracting", expected=1000), Step("db.quick", "extracting"))
        assert relay.drain() == []  # nothing has run for 30 s yet
        clock.now += 10
        _in_thread(
            Step("db.t", "read", rows=100), Step("db.t", "stored", rows=100, bytes=2_500_000)
        )
        _in_thread(Step("db.quick", "read", rows=5), Step("db.quick", "stored", rows=5, bytes=10))
        assert relay.finished("db.quick") == []  # done before its first line: no line at all
        clock.now += 20
        _in_thread(Step("db.t", "read", rows=200))
        (line,) = relay.drain()
        assert line == (
            "info",
            "db.t: extracting for 30s: 300 rows, 1 file(s) stored (2.5 MB), 10 rows/s, "
            "ETA 1m 10s (of about 1,000 rows)",
        )
        assert relay.drain() == []  # not again before another interval
        clock.now += 5
        _in_thread(Step("db.t", "loading"))  # a phase starts: a line at once
        assert relay.drain() == [
            ("info", "db.t: loading (staging, COPY, merge) for 0s: 0 rows loaded so far; "
             "extracted 300 rows, 1 file(s) stored (2.5 MB)"),
        ]  # fmt: skip
        clock.now += 30
        assert [m for _, m in relay.drain()] == [
            "db.t: loading (staging, COPY, merge) for 30s: 0 rows loaded so far; "
            "extracted 300 rows, 1 file(s) stored (2.5 MB)"
        ]
        _in_thread(Step("db.t", "loaded", rows=300))
        assert relay.finished("db.t") == [
            ("info", "db.t: done after 1m 05s: extracted 300 rows, 1 file(s) stored (2.5 MB) "
             "at 5 rows/s; loaded 300 rows"),
        ]  # fmt: skip
    progress = logging.getLogger(PROGRESS_LOGGER)
    assert progress.propagate and not progress.handlers  # as it was


def test_eta_unknown_without_an_estimate_or_past_it() -> None:
    table = TableProgress("db.t", started=0.0)
    table.apply(Step("db.t", "extracting"), 0.0)
    table.apply(Step("db.t", "read", rows=50), 5.0)
    assert table.line(10.0).endswith("5 rows/s, ETA unknown")
    table.expected = 40
    assert table.eta(10.0) == "ETA unknown (past MySQL's estimate of 40 rows)"
    # Windows of a partitioned run: unknown as soon as one window's rows are.
    table.apply(Step("db.t", "extracting", expected=None), 11.0)
    assert table.expected is None


def test_warnings_relayed_once_from_any_thread_and_other_ops_tables_ignored() -> None:
    clock = Clock()
    with ProgressRelay(["db.t"], 1, clock=clock) as relay:
        _in_thread(Step("db.other", "extracting"), warn="db.t: slow")
        _in_thread(warn="db.t: slow")
        logging.getLogger("mysql_redshift_assets").info("not a warning")
        clock.now += 5
        assert relay.drain() == [("warning", "db.t: slow")]
        assert relay.warned == {"db.t: slow"}
    # Dagster's managed loggers: its handler is on the package logger for each user-code
    # boundary of the step, and gone once one ends (an op that has yielded an output).
    package = logging.getLogger("mysql_redshift_assets")
    dagster_handler = type("DagsterLogHandler", (logging.Handler,), {"emit": lambda s, r: None})()
    with ProgressRelay(["db.t"], 1) as relay:
        package.addHandler(dagster_handler)
        try:
            _in_thread(warn="db.t: left to Dagster")
        finally:
            package.removeHandler(dagster_handler)
        _in_thread(warn="db.t: Dagster's handler was off")
        assert relay.drain() == [("warning", "db.t: Dagster's handler was off")]
        assert relay.warned == {"db.t: left to Dagster", "db.t: Dagster's handler was off"}
    assert not [
        h for h in logging.getLogger("mysql_redshift_assets").handlers if "Enqueue" in repr(h)
    ]
