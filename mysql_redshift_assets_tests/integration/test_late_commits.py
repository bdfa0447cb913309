"""Rows committed after a sync by a transaction open across it are not lost: real concurrent
MariaDB sessions, then MySQL == the warehouse row by row (DuckDB and the PostgreSQL stand-in).

Each test fails on the code before issue 14 (the run moved its position past the uncommitted
row: the update, the insert or the AUTO_INCREMENT id was never read)."""

from __future__ import annotations

import time

import pyarrow.parquet as pq
import pytest

from mysql_redshift_assets.store.parquet import REREAD_METADATA_KEY
from mysql_redshift_assets_tests.exactness import assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import (
    TARGETS,
    account_without_process,
    as_user,
    settle_and_compare,
    sync_on,
)

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(private_mariadb):
    """These tests hold write transactions open: a server of their own (INNODB_TRX is
    server-wide, so on the shared server they would hold every other test's bound)."""
    return private_mariadb


COLUMNS, KEY = ["id", "v", "at"], ["id"]


def _table(mysql, kind: str) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            f"CREATE TABLE t (id INT PRIMARY KEY, v INT, at {kind}(6) NOT NULL "
            f"DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), KEY (at, id))"
        )
        cur.execute("INSERT INTO t (id, v) VALUES (1, 10), (2, 20), (3, 30)")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("kind", "late"),
    [
        ("DATETIME", "UPDATE t SET v = 11 WHERE id = 1"),
        ("TIMESTAMP", "INSERT INTO t (id, v) VALUES (5, 50)"),
        ("DATETIME", "INSERT INTO t (id, v) VALUES (5, 50)"),
        ("TIMESTAMP", "UPDATE t SET v = 11 WHERE id = 1"),
    ],
)
def test_a_transaction_open_across_a_sync_is_read_after_it_commits(
    mysql, mysql_db, mysql_sessions, make_project, request, target, kind, late
):
    """The window is 0: only the oldest open transaction bounds the run (PROCESS granted)."""
    _table(mysql, kind)
    sync = sync_on(
        request, make_project, mysql_db, "t", {"cursor": "at"}, target,
        late_commit_window_seconds=0,
    )  # fmt: skip
    sync.run("r1")
    app = mysql_sessions()
    app.begin()
    with app.cursor() as cur:
        cur.execute(late)  # its `at` is NOW(), uncommitted
    time.sleep(1.2)
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO t (id, v) VALUES (4, 40)")  # a later row, committed
    extracted, _ = sync.run("r2")
    assert extracted.rows == 0  # held below the open transaction's start
    app.commit()
    settle_and_compare(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", TARGETS)
def test_an_auto_increment_id_committed_late_is_read(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT, at DATETIME)")
        cur.execute("INSERT INTO t (v) VALUES (1), (2), (3)")
    sync = sync_on(
        request, make_project, mysql_db, "t", {"append_only": True}, target,
        late_commit_window_seconds=0,
    )  # fmt: skip
    sync.run("r1")
    app = mysql_sessions()
    app.begin()
    with app.cursor() as cur:
        cur.execute("INSERT INTO t (v) VALUES (4)")  # id 4, allocated, uncommitted
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO t (v) VALUES (5)")  # id 5, committed first
    extracted, _ = sync.run("r2")
    assert extracted.rows == 0  # MAX(id) = 5 is not safe while id 4 may still commit
    app.commit()
    # The first settling run's sample is safe for the next (taken before any writer open then).
    settle_and_compare(mysql, sync, ["id", "v"], KEY)


@pytest.mark.parametrize("target", TARGETS)
def test_without_process_the_window_rereads_late_commits(
    mysql, mysql_db, mysql_sessions, make_project, request, target, caplog, mysql_server
):
    _table(mysql, "DATETIME")
    spec = {"cursor": "at", "late_commit_window_seconds": 60}
    base = sync_on(request, make_project, mysql_db, "t", spec, target)
    with account_without_process(mysql_server, mysql_db) as user:
        sync = as_user(base, user)
        sync.run("r1")
        app = mysql_sessions()
        app.begin()
        with app.cursor() as cur:
            cur.execute("UPDATE t SET v = 11 WHERE id = 1")
        time.sleep(1.2)
        with mysql.cursor() as cur:
            cur.execute("INSERT INTO t (id, v) VALUES (4, 40)")
        extracted, _ = sync.run("r2")  # no transaction bound: reads id 4, past the update
        assert (extracted.rows, extracted.reread_rows) == (4, 3)  # 1-3 again, within 60 s
        warnings = " ".join(extracted.warnings)
        assert "PROCESS" in warnings and "GRANT PROCESS ON *.* TO" in warnings
        app.commit()
        extracted, _ = sync.run("r3")
        # Re-read: the rows at or before r2's position (1, 2, 3, 4); id 1 is the late one.
        assert extracted.reread_rows == 4 and extracted.rows == 4
        assert extracted.reread_from is not None
        store = sync.project.resolve_path(str(sync.project.root / ".." / "store"))
        footers = [pq.read_metadata(p).metadata for p in store.rglob("*.parquet")]
        assert sorted(int(m[REREAD_METADATA_KEY]) for m in footers) == [0, 3, 4]  # r1, r2, r3
        assert_same_rows(mysql, sync, COLUMNS, KEY)


def test_a_transaction_begun_just_after_another_read_of_innodb_trx_is_seen(
    mysql, mysql_sessions, source
) -> None:
    """INNODB_TRX is a snapshot refreshed only after 0.1 s without a read: a transaction that
    began right after someone else's read must still bound the run (never a stale snapshot)."""
    from mysql_redshift_assets.extract import committed

    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE w (id INT PRIMARY KEY)")
        cur.execute("SELECT COUNT(*) FROM information_schema.INNODB_TRX")  # snapshot taken now
        writer = mysql_sessions()
        writer.begin()
        with writer.cursor() as wcur:
            wcur.execute("INSERT INTO w VALUES (1)")
        cur.execute(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0"
        )
        stale = cur.fetchone()[0]  # within 0.1 s: the snapshot from before the writer began
    oldest, warning = committed.oldest_open_transaction(source)
    writer.rollback()
    assert warning is None
    assert oldest is not None, f"the writer's transaction was not seen (a plain read saw {stale})"
