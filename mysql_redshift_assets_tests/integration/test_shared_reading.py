"""One reading of the server's clock and INNODB_TRX serves the run's later tables
(`extract/committed.py`, `Readings`): a no-op table no longer waits out INNODB_TRX's 0.1 s
refresh (issue 28), and a reused reading still loses no row committed late: real concurrent
MariaDB sessions, then MySQL == the warehouse row by row."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.extract import committed
from mysql_redshift_assets.extract.source import MySQLSource
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync, TableSyncResult
from mysql_redshift_assets_tests.exactness import Sync
from mysql_redshift_assets_tests.integration.late_sessions import settle_and_compare

pytestmark = pytest.mark.mariadb
COLUMNS, KEY = ["id", "v", "at"], ["id"]


@pytest.fixture
def mysql_server(private_mariadb):
    """A writer transaction is held open: a server of its own (INNODB_TRX is server-wide)."""
    return private_mariadb


@pytest.fixture
def reuse_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reading serves the whole test, however slow the machine: the reuse is what is tested."""
    monkeypatch.setattr(committed, "REUSE_SECONDS", 600.0, raising=False)


def _syncs(mysql: Any, mysql_db: str, make_project: Any, names: list[str]) -> list[Sync]:
    with mysql.cursor() as cur:
        for name in names:
            cur.execute(
                f"CREATE TABLE {name} (id INT PRIMARY KEY, v INT, at DATETIME(6) NOT NULL "
                "DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), KEY (at, id))"
            )
            cur.execute(f"INSERT INTO {name} (id, v) VALUES (1, 10), (2, 20), (3, 30)")
    project = make_project(
        {f"{mysql_db}.{n}": {"cursor": "at"} for n in names},
        store="local",
        upper_bound_lag_seconds=0,
        late_commit_window_seconds=0,
    )
    pipeline = project.pipeline("testpipe")
    return [Sync(project, table_config(pipeline, f"{mysql_db}.{n}")) for n in names]


def _run(clients: Clients, sync: Sync, run: SyncRun | str) -> TableSyncResult:
    run = SyncRun(run) if isinstance(run, str) else run
    return TableSync(sync.table, clients, run).run().raise_failure()


def test_a_runs_tables_read_innodb_trx_once(mysql, mysql_db, make_project, monkeypatch, reuse_long):
    """Six tables on two worker threads (the op's way): one reading of INNODB_TRX, not one a
    table (each then waited 0.11 s whenever another table had read it less than 0.1 s before)."""
    syncs = _syncs(mysql, mysql_db, make_project, [f"t{i}" for i in range(6)])
    reads: list[str] = []
    real_query_one = MySQLSource.query_one

    def counting(self: MySQLSource, sql: str, params: Any = ()) -> Any:
        if "INNODB_TRX" in sql:
            reads.append(sql)
        return real_query_one(self, sql, params)

    monkeypatch.setattr(MySQLSource, "query_one", counting)
    run = SyncRun("r1")  # one run: its loads take turns (`LoadLocks`)
    with Clients(syncs[0].project) as clients, ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda s: _run(clients, s, run), syncs))
    assert [r.extracted[0].rows for r in results if r.extracted] == [3] * 6
    assert len(reads) == 1
    for sync in syncs:
        settle_and_compare(mysql, sync, COLUMNS, KEY)


def test_a_writer_begun_after_the_reading_is_held_by_the_readings_clock(
    mysql, mysql_db, mysql_sessions, make_project, reuse_long
):
    """Table b reuses the reading table a took; a writer that began after it has an
    uncommitted row in b, and a later row is committed past it. b's bound is the reading's
    clock, not a fresh one: both rows wait, and the late one is read once it commits (with a
    fresh clock and the reused INNODB_TRX, the position would pass the uncommitted row and,
    the window being 0, lose it)."""
    a, b = _syncs(mysql, mysql_db, make_project, ["a", "b"])
    with Clients(a.project) as clients:
        _run(clients, a, "r1")
        _run(clients, b, "r1")
    with Clients(a.project) as clients:
        assert _run(clients, a, "r2").extracted is not None  # the reading b reuses
        time.sleep(1.2)  # trx_started has whole seconds
        writer = mysql_sessions()
        writer.begin()
        with writer.cursor() as cur:
            cur.execute("UPDATE b SET v = 11 WHERE id = 1")  # at = NOW(), uncommitted
        time.sleep(1.2)
        with mysql.cursor() as cur:
            cur.execute("INSERT INTO b (id, v) VALUES (4, 40)")  # later, committed
        extracted = _run(clients, b, "r2").extracted
    assert extracted is not None and extracted[0].rows == 0
    writer.commit()
    settle_and_compare(mysql, b, COLUMNS, KEY)
    rows = b.warehouse_rows(["id", "v"], KEY)
    assert [tuple(r) for r in rows] == [(1, 11), (2, 20), (3, 30), (4, 40)]
