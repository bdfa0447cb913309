"""What the Dagster run log shows while a table runs: progress lines (rows, rate, ETA) every
`progress_interval_seconds`, and the library's warnings as they happen, once each; all written
by the op's own thread (the worker threads never touch the context).

Through the `sync_<pipeline>` job in process, against MariaDB and DuckDB; extraction slowed by
a sleep between batches so that a 200-row table runs for several seconds whatever the batch size.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

import mysql_redshift_assets.sync.extract as sync_extract
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "name", "updated_at"]
SLOW = "the reader is slow today"  # the warning a worker thread logs


def _table(mysql, name: str, rows: int) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            f"INSERT INTO {name} VALUES (%s, %s, '2024-05-01 10:00:00')",
            [(i, f"{name}-{i}") for i in range(1, rows + 1)],
        )
        cur.execute(f"ANALYZE TABLE {name}")
        cur.fetchall()


@pytest.fixture
def slow_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each batch of `big` takes 0.4 s; its first logs a warning (from the worker thread), a
    second after the table's read began."""
    threads: list[str] = []
    read_table = sync_extract.read_table

    def slow(source: Any, scan: Any) -> Iterator[Any]:
        slowed = scan.plan.table_ref.endswith("`big`")
        for n, batch in enumerate(read_table(source, scan)):
            if slowed:
                if n == 0:
                    # After `small` is done: the op has yielded its outputs, and Dagster has
                    # taken its managed loggers' handler off at the end of that boundary.
                    time.sleep(1.0)
                    threads.append(threading.current_thread().name)
                    logging.getLogger("mysql_redshift_assets.extract.table").warning(SLOW)
                time.sleep(0.4)
            yield batch

    monkeypatch.setattr(sync_extract, "read_table", slow)
    return threads


@pytest.fixture
def log_threads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(thread, message) of every call to a step's `context.log`."""
    calls: list[tuple[str, str]] = []
    for level in ("debug", "info", "warning", "error"):
        original = getattr(dg.DagsterLogManager, level)

        def wrapped(self: Any, msg: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            calls.append((threading.current_thread().name, str(msg)))
            return _original(self, msg, *args, **kw)

        monkeypatch.setattr(dg.DagsterLogManager, level, wrapped)
    return calls


def _run(project, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(project).resolve_job_def("sync_testpipe")
    (op,) = [node.name for node in job.nodes]
    config = {"progress_interval_seconds": 1, "chunk_rows": 10}
    return job.execute_in_process(
        instance=instance,
        run_config={"ops": {op: {"config": config}}},
        raise_on_error=False,
    )


def _messages(instance: dg.DagsterInstance, run_id: str) -> list[tuple[int, str]]:
    return [(e.level, e.user_message) for e in instance.all_logs(run_id)]


def _project(make_project, mysql_db: str):
    tables = {
        f"{mysql_db}.big": {"cursor": "updated_at"},
        # A setting the load warns about (and returns with its result): in the log once.
        f"{mysql_db}.small": {"cursor": "updated_at", "distkey": "no_such_column"},
    }
    return make_project(tables, store="local", target="duckdb", file_rows=20)


def test_progress_and_warnings_reach_the_run_log_from_the_ops_thread(
    mysql, mysql_db, make_project, slow_reads, log_threads
):
    _table(mysql, "big", 200)
    _table(mysql, "small", 5)
    project = _project(make_project, mysql_db)
    instance = dg.DagsterInstance.ephemeral()

    result = _run(project, instance)

    assert result.success
    messages = _messages(instance, result.run_id)
    big = f"{mysql_db}.big"
    lines = [m for _, m in messages if m.startswith(f"{big}: extracting for ")]
    assert len(lines) >= 2, messages
    rows = [int(re.search(r": ([\d,]+) rows, ", m)[1].replace(",", "")) for m in lines]  # type: ignore[index]
    assert rows == sorted(rows) and rows[-1] > rows[0] and rows[-1] <= 200, lines
    assert all("rows/s" in m and "file(s) stored" in m and " MB" in m for m in lines)
    # MySQL's estimate (a first extraction reads the whole table): an ETA of about 200 rows.
    assert all(re.search(r"ETA (\d+s|\dm \d\ds|unknown)", m) for m in lines), lines
    assert any("of about 200 rows" in m for m in lines), lines
    done = [m for _, m in messages if m.startswith(f"{big}: done after ")]
    assert len(done) == 1 and "extracted 200 rows, 10 file(s) stored" in done[0], messages
    assert "loaded 200 rows" in done[0]

    # The worker thread's warning, once, as a warning; the load's warning once too.
    assert [(lvl, m) for lvl, m in messages if SLOW in m] == [(logging.WARNING, SLOW)]
    assert slow_reads and slow_reads[0] != threading.main_thread().name
    distkey = [m for _, m in messages if "no_such_column" in m]
    assert len(distkey) == 1, distkey

    # Every line of the step's log came from the op's thread (this one: in-process executor).
    assert [m for _, m in log_threads if big in m] and [m for _, m in log_threads if SLOW in m]
    assert {t for t, _ in log_threads} == {threading.main_thread().name}, log_threads
    for name in ("big", "small"):
        sync = Sync(project, table_config(project.pipeline("testpipe"), f"{mysql_db}.{name}"))
        assert_same_rows(mysql, sync, COLUMNS, ["id"])


def test_warnings_once_when_dagster_manages_the_package_logger(
    mysql, mysql_db, make_project, slow_reads
):
    """`python_logs: managed_python_loggers: [mysql_redshift_assets]` (the instance's
    dagster.yaml): Dagster relays the records itself; the op adds them neither live nor with
    the table's result."""
    _table(mysql, "big", 30)
    _table(mysql, "small", 5)
    project = _project(make_project, mysql_db)
    settings = {"python_logs": {"managed_python_loggers": ["mysql_redshift_assets"]}}
    instance = dg.DagsterInstance.ephemeral(settings=settings)
    package = logging.getLogger("mysql_redshift_assets")
    saved = package.level
    try:
        result = _run(project, instance)
    finally:
        package.setLevel(saved)

    assert result.success
    messages = [m for _, m in _messages(instance, result.run_id)]
    assert [m for m in messages if SLOW in m] == [SLOW], messages
    assert len([m for m in messages if "no_such_column" in m]) == 1, messages
    # Not a line a batch: the progress records stay off Dagster's managed loggers.
    assert not [m for m in messages if m.endswith(": read")], messages
