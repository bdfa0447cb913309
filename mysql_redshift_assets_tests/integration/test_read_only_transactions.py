"""Which open transactions hold the late-commit bound (issue 22, defect 5), with real
concurrent sessions on the test session's private MariaDB (INNODB_TRX is server-wide).

A READ ONLY transaction can never write a row, so it never holds the bound: a report in
`START TRANSACTION READ ONLY`, or the project's own snapshot reads (a sibling table's delete
pass or generation), running a statement across a sync delays no row. A read-write transaction
running a SELECT still holds it: the SELECT may write (a stored function). Each run ends with
MySQL == the warehouse, row by row, on DuckDB and on the PostgreSQL stand-in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pytest

from mysql_redshift_assets.extract.source import MySQLSource
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD, TEST_USER, MysqlServer
from mysql_redshift_assets_tests.exactness import assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = pytest.mark.mariadb
COLUMNS, KEY = ["id", "v", "at"], ["id"]
INTERRUPTED = 1317  # "Query execution was interrupted": what KILL QUERY ends a statement with


@pytest.fixture
def mysql_server(private_mariadb: MysqlServer) -> MysqlServer:
    return private_mariadb


def _table(mysql: pymysql.Connection) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v INT, at DATETIME(6) NOT NULL "
            "DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), KEY (at, id))"
        )
        cur.execute("INSERT INTO t (id, v) VALUES (1, 10), (2, 20), (3, 30)")


def _wait_running(server: MysqlServer, thread_id: int) -> None:
    """Until INNODB_TRX shows `thread_id`'s transaction running a statement."""
    deadline = time.monotonic() + 30
    with server.root() as root, root.cursor() as cur:
        while time.monotonic() < deadline:
            time.sleep(0.15)  # past InnoDB's 0.1 s INNODB_TRX cache
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                "WHERE trx_mysql_thread_id = %s AND trx_query IS NOT NULL",
                (thread_id,),
            )
            if cur.fetchone()[0]:
                return
    raise AssertionError(f"session {thread_id} never showed its statement in INNODB_TRX")


@contextmanager
def _statement_running(
    server: MysqlServer, thread_id: int, run: Callable[[], Any]
) -> Iterator[None]:
    """`run()` (a long statement of session `thread_id`) in a thread while the block runs;
    then the statement is ended by `KILL QUERY` (MariaDB: error 1317, the session and its
    transaction stay)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run()
        except pymysql.err.OperationalError as exc:
            if exc.args[0] != INTERRUPTED:
                errors.append(exc)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    try:
        _wait_running(server, thread_id)
        yield
    finally:
        with server.root() as root, root.cursor() as cur:
            cur.execute(f"KILL QUERY {int(thread_id)}")
        thread.join(30)
    assert not errors, errors


def _report(server: MysqlServer, sessions: Callable[..., pymysql.Connection]) -> Any:
    """A reporting session: `START TRANSACTION READ ONLY`, reads, then a long statement."""
    conn = sessions()
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION READ ONLY")
        cur.execute("SELECT COUNT(*) FROM t")
        cur.fetchall()

    def run() -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT SLEEP(60)")
            cur.fetchall()

    return _statement_running(server, conn.thread_id(), run)


def _project_snapshot(server: MysqlServer, mysql_db: str) -> Any:
    """The project's own snapshot read (a sibling table's delete pass or generation):
    `MySQLSource.snapshot()` running a long statement."""
    source = MySQLSource(
        "sibling", host=server.host, port=server.port, user=TEST_USER, password=TEST_PASSWORD,
        database=mysql_db,
    )  # fmt: skip

    @contextmanager
    def held() -> Iterator[None]:
        try:
            with source.snapshot():
                source.query_one("SELECT COUNT(*) FROM t")
                row = source.query_one("SELECT CONNECTION_ID()")
                assert row is not None
                thread_id = int(row[0])
                with _statement_running(
                    server, thread_id, lambda: source.query_one("SELECT SLEEP(60)")
                ):
                    yield
        finally:
            source.close()

    return held()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("reader", ["read_only_report", "project_snapshot"])
def test_a_read_only_transaction_running_a_statement_delays_no_row(
    mysql, mysql_db, mysql_sessions, mysql_server, make_project, request, target, reader
):
    """Fails before issue 22: the reader's transaction start held the bound, so the rows
    changed after it began waited for a later sync (extracted 0)."""
    _table(mysql)
    sync = sync_on(
        request, make_project, mysql_db, "t", {"cursor": "at"}, target,
        late_commit_window_seconds=0,
    )  # fmt: skip
    sync.run("r1")
    held = (
        _report(mysql_server, mysql_sessions)
        if reader == "read_only_report"
        else _project_snapshot(mysql_server, mysql_db)
    )
    with held:
        time.sleep(1.1)  # the changes below are a whole second past the reader's start
        with mysql.cursor() as cur:
            cur.execute("UPDATE t SET v = 11 WHERE id = 1")
            cur.execute("INSERT INTO t (id, v) VALUES (4, 40)")
        extracted, _ = sync.run("r2")
        assert extracted.rows == 2, extracted.warnings
        assert_same_rows(mysql, sync, COLUMNS, KEY)  # while the reader is still open


@pytest.mark.parametrize("target", TARGETS)
def test_a_read_write_transaction_running_a_select_still_holds_the_bound(
    mysql, mysql_db, mysql_sessions, mysql_server, make_project, request, target
):
    """A SELECT may write: `SELECT late_row()` inserts a row stamped with the statement's
    start (NOW() in a function is the calling statement's), after the sync has run. Only the
    transaction's start, held as the bound, keeps that row from being skipped."""
    _table(mysql)
    with mysql_server.root() as root, root.cursor() as cur:
        cur.execute("SET GLOBAL log_bin_trust_function_creators = 1")
        cur.execute(
            f"CREATE FUNCTION `{mysql_db}`.late_row() RETURNS INT MODIFIES SQL DATA BEGIN "
            "DO GET_LOCK('mra_gate', 60); INSERT INTO t (id, v) VALUES (9, 90); "
            "DO RELEASE_LOCK('mra_gate'); RETURN 1; END"
        )
    sync = sync_on(
        request, make_project, mysql_db, "t", {"cursor": "at"}, target,
        late_commit_window_seconds=0,
    )  # fmt: skip
    sync.run("r1")
    gate = mysql_sessions()
    with gate.cursor() as cur:
        cur.execute("SELECT GET_LOCK('mra_gate', 0)")
    app = mysql_sessions()
    with app.cursor() as cur:
        cur.execute("START TRANSACTION")
        cur.execute("SELECT COUNT(*) FROM t")
        cur.fetchall()
    done = threading.Event()

    def run() -> None:
        with app.cursor() as cur:
            cur.execute("SELECT late_row()")  # waits at the gate, then inserts id 9
            cur.fetchall()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        _wait_running(mysql_server, app.thread_id())
        time.sleep(1.1)
        with mysql.cursor() as cur:
            cur.execute("INSERT INTO t (id, v) VALUES (4, 40)")  # later, committed
        extracted, _ = sync.run("r2")
        assert extracted.rows == 0  # held below the read-write transaction's start
    finally:
        with gate.cursor() as cur:
            cur.execute("SELECT RELEASE_LOCK('mra_gate')")
        thread.join(30)
    assert done.is_set()
    app.commit()
    sync.run("r3")
    assert_same_rows(mysql, sync, COLUMNS, KEY)  # id 9, stamped before id 4, is there
