"""Generations read while write transactions are open (issue 22, defect 1): real concurrent
MariaDB sessions, then MySQL == the warehouse row by row on DuckDB and PostgreSQL.

A generation replaces what the warehouse holds, so it reads everything its MySQL snapshot sees
(never cut at the open-transaction bound); the increments after it start at or before the
bound computed before the snapshot opened, so the rows the open transactions commit later are
read by the next sync.

The module runs on a private MariaDB: its open transactions would hold every other test's
bound (INNODB_TRX is server-wide).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.maintenance.resync import ResyncResult, resync_table
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(private_mariadb):
    return private_mariadb


def resync(sync: Sync, run_id: str = "resync-1") -> ResyncResult:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return resync_table(source, store, warehouse, sync.table, run_id=run_id)
    finally:
        warehouse.close()
        source.close()


def writer_elsewhere(mysql, mysql_sessions) -> Any:
    """A session holding a write transaction open on another table."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE other_table (id INT PRIMARY KEY)")
    app = mysql_sessions()
    app.begin()
    with app.cursor() as cur:
        cur.execute("INSERT INTO other_table VALUES (1)")
    time.sleep(1.2)  # what is written from now on is stamped after its start, in a later second
    return app


@pytest.mark.parametrize("target", TARGETS)
def test_an_append_only_resync_while_a_transaction_is_open_elsewhere_keeps_every_row(
    mysql, mysql_db, mysql_sessions, make_project, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ap (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO ap (v) VALUES (%s)", [(i,) for i in range(10_200)])
    sync = sync_on(
        request, make_project, mysql_db, "ap", {"append_only": True}, target,
        late_commit_window_seconds=0,  # the bound alone: no re-read hides a wrong position
    )  # fmt: skip
    sync.run("first")
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])
    app = writer_elsewhere(mysql, mysql_sessions)
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO ap (v) VALUES (%s)", [(i,) for i in range(10)])

    result = resync(sync)
    assert result.rows_extracted == 10_210
    assert result.load.table_rows == 10_210
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])

    # The open transaction now writes the table too (an id allocated, not committed), and a
    # later id commits first; a second resync sees the later one, and neither resync may move
    # the increments past the earlier one.
    with app.cursor() as cur:
        cur.execute("INSERT INTO ap (v) VALUES (-1)")
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO ap (v) VALUES (-2)")
    result = resync(sync, "resync-2")
    assert result.rows_extracted == 10_211
    app.commit()
    sync.run("after")  # nothing open now: this run's own sample is safe
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])


@pytest.mark.parametrize("target", TARGETS)
def test_a_cursor_resync_while_a_transaction_is_open_elsewhere_keeps_later_updates(
    mysql, mysql_db, mysql_sessions, make_project, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE cu (id INT PRIMARY KEY, v INT, updated_at DATETIME(6) NOT NULL "
            "DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO cu VALUES (%s, %s, '2024-05-01' + INTERVAL %s SECOND)",
            [(i, i, i) for i in range(1, 10_001)],
        )
    sync = sync_on(
        request, make_project, mysql_db, "cu", {"cursor": "updated_at"}, target,
        late_commit_window_seconds=0,
    )  # fmt: skip
    sync.run("first")
    app = writer_elsewhere(mysql, mysql_sessions)
    with mysql.cursor() as cur:
        cur.execute("UPDATE cu SET v = -v WHERE id BETWEEN 201 AND 400")  # autocommit

    result = resync(sync)
    assert result.rows_extracted == 10_000
    assert result.load.table_rows == 10_000
    assert_same_rows(mysql, sync, ["id", "v", "updated_at"], ["id"])

    # The open transaction now updates and inserts rows of this table (stamped now), then later
    # updates commit first; a second resync sees those, and neither resync may move the
    # increments past the open transaction's rows.
    with app.cursor() as cur:
        cur.execute("UPDATE cu SET v = 0 WHERE id BETWEEN 401 AND 410")
        cur.execute("INSERT INTO cu (id, v) VALUES (10001, 1), (10002, 2)")
    time.sleep(0.01)
    with mysql.cursor() as cur:
        cur.execute("UPDATE cu SET v = -v WHERE id BETWEEN 421 AND 430")
    result = resync(sync, "resync-2")
    assert result.rows_extracted == 10_000
    app.commit()
    sync.run("after")
    assert_same_rows(mysql, sync, ["id", "v", "updated_at"], ["id"])
