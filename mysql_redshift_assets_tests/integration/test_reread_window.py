"""What the late-commit re-read window costs, and what it still catches (issue 22, defect 6):
the window reaches back from the server clock at which the last successful run began reading,
not from the position. On the test session's private MariaDB (some tests hold a write
transaction open; INNODB_TRX is server-wide), each ending with MySQL == the warehouse, row by
row, on DuckDB and on the PostgreSQL stand-in.
"""

from __future__ import annotations

import time

import pymysql
import pytest

from mysql_redshift_assets_tests.conftest import MysqlServer
from mysql_redshift_assets_tests.exactness import assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import (
    TARGETS,
    account_without_process,
    as_user,
    sync_on,
)

pytestmark = pytest.mark.mariadb
BULK = 50_000
COLUMNS, KEY = ["id", "v", "updated_at"], ["id"]


@pytest.fixture
def mysql_server(private_mariadb: MysqlServer) -> MysqlServer:
    return private_mariadb


def _bulk_table(mysql: pymysql.Connection, rows: int, stamp: str) -> None:
    """`rows` rows stamped with one `updated_at` by one bulk INSERT."""
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, updated_at DATETIME(6) NOT NULL "
            "DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), KEY (updated_at, id))"
        )
        cur.execute(f"INSERT INTO t SELECT seq, 0, {stamp} FROM seq_1_to_{int(rows)}")


def _update(mysql: pymysql.Connection, first: int, count: int = 10) -> None:
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET v = v + 1 WHERE id BETWEEN %s AND %s", (first, first + count - 1))


@pytest.mark.parametrize("target", TARGETS)
def test_a_quiet_table_rereads_the_rows_changed_inside_the_window_not_the_table(
    mysql, mysql_db, make_project, request, target
):
    """A bulk load stamped an hour ago (older than the default 900 s window), then syncs with
    10 updates between them. Before issue 22 the window reached back from the position, which
    stayed on the bulk stamp: the quiet sync re-read all 50,000 rows, and so did the first
    sync after the updates (50,000 extracted, 49,990 of them re-read)."""
    _bulk_table(mysql, BULK, "UTC_TIMESTAMP(6) - INTERVAL 1 HOUR")
    sync = sync_on(request, make_project, mysql_db, "t", {"cursor": "updated_at"}, target)
    extracted, _ = sync.run("r1")
    assert extracted.rows == BULK
    extracted, _ = sync.run("r2")  # nothing changed
    assert (extracted.rows, extracted.reread_rows) == (0, 0)
    _update(mysql, 101)
    extracted, _ = sync.run("r3")
    assert (extracted.rows, extracted.reread_rows) == (10, 0)
    _update(mysql, 201)
    extracted, _ = sync.run("r4")
    # The 10 rows r3 read changed inside the window of r3's read: read again, with the 10 new.
    assert (extracted.rows, extracted.reread_rows) == (20, 10)
    assert extracted.reread_from is not None
    assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", TARGETS)
def test_a_row_committed_late_inside_the_window_is_still_read(
    mysql, mysql_db, mysql_sessions, mysql_server, make_project, request, target
):
    """Without PROCESS only the window protects a late commit. An UPDATE (stamped NOW()) open
    across r2 commits after it; r3 runs more than the window after that stamp, yet reaches
    back from r2's clock and reads it. (A window measured back from r3's own clock would miss
    it.)"""
    _bulk_table(mysql, 1_000, "UTC_TIMESTAMP(6) - INTERVAL 1 HOUR")
    spec = {"cursor": "updated_at", "late_commit_window_seconds": 3}
    base = sync_on(request, make_project, mysql_db, "t", spec, target)
    with account_without_process(mysql_server, mysql_db) as user:
        sync = as_user(base, user)
        sync.run("r1")
        app = mysql_sessions()
        app.begin()
        with app.cursor() as cur:
            cur.execute("UPDATE t SET v = 7 WHERE id = 500")  # its updated_at: NOW(), open
        time.sleep(1.2)
        with mysql.cursor() as cur:
            cur.execute("INSERT INTO t (id, v) VALUES (1001, 1)")  # later, committed
        extracted, _ = sync.run("r2")  # no transaction bound: reads id 1001, past the update
        assert extracted.rows == 1
        app.commit()
        time.sleep(3.2)  # r3's own clock minus the window is past the update's stamp
        extracted, _ = sync.run("r3")
        assert extracted.reread_rows == 2  # ids 500 (the late one) and 1001
        assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", TARGETS)
def test_an_auto_increment_id_committed_late_is_read_by_the_window_of_the_last_run(
    mysql, mysql_db, mysql_sessions, mysql_server, make_project, request, target
):
    """Without PROCESS, id 4 is allocated before r2 and committed after it, while id 5 was
    read by r2. r3 runs more than the window after r2: before issue 22 its window started
    from the sample taken the window before r3's own clock (r2's, MAX 5), and id 4 was never
    read; now from the sample the window before r2 (r1's, MAX 3)."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO t (v) VALUES (1), (2), (3)")
    spec = {"append_only": True, "late_commit_window_seconds": 2}
    base = sync_on(request, make_project, mysql_db, "t", spec, target)
    with account_without_process(mysql_server, mysql_db) as user:
        sync = as_user(base, user)
        sync.run("r1")
        time.sleep(2.2)  # r1's sample is the window older than r2
        app = mysql_sessions()
        app.begin()
        with app.cursor() as cur:
            cur.execute("INSERT INTO t (v) VALUES (4)")  # id 4, allocated, uncommitted
        with mysql.cursor() as cur:
            cur.execute("INSERT INTO t (v) VALUES (5)")  # id 5, committed first
        extracted, _ = sync.run("r2")
        assert extracted.rows == 1  # id 5 (MAX); id 4 is invisible
        app.commit()
        time.sleep(2.2)  # r2's sample is the window older than r3
        sync.run("r3")
        assert_same_rows(mysql, sync, ["id", "v"], KEY)
