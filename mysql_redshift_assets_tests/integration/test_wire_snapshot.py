"""The wire reader inside a MySQL snapshot (issue 28): a full copy's pages are read on the
snapshot's own session, one at a time, with the text reader's values; what other sessions
commit meanwhile is not in the copy; a page failing with the session in step leaves it usable in
the snapshot, and a session lost fails the read (never a new session outside the snapshot).

The binlog initial copy with the wire reader is in test_binlog_copy_wire.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pymysql
import pytest

from mysql_redshift_assets.extract import readers
from mysql_redshift_assets.extract.readers import binary_client, wire
from mysql_redshift_assets.extract.readers.binary import BinaryPathUnavailable, plan_binary
from mysql_redshift_assets.extract.schema_types import plan_columns
from mysql_redshift_assets.extract.source import MySQLSource, SourceError
from mysql_redshift_assets_tests.integration.test_fast_reader import (
    ALL_TYPES,
    ROWS,
    assert_identical,
    both_paths,
    orders,  # noqa: F401 - a fixture
    run,
    stored,
)

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_reader() -> str:
    return "wire"


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch) -> None:
    monkeypatch.setattr(readers, "BINARY_MIN_CHUNK_ROWS", 1)


class Pages:
    """Every page the wire reader reads: the session it read it on, and whether that session
    was the open snapshot's; `after(n, f)` runs f after the n-th page."""

    def __init__(self, monkeypatch) -> None:
        self.sessions: list[int] = []
        self.on_snapshot: list[bool] = []
        self.hooks: dict[int, Callable[[], None]] = {}
        self.snapshot: pymysql.connections.Connection | None = None
        real_read, real_conn = wire._read_result, MySQLSource.snapshot_connection

        def snapshot_connection(source):
            self.snapshot = real_conn(source)
            return self.snapshot

        def read_result(conn, sql, ncols, **kwargs):
            self.sessions.append(conn.thread_id())
            self.on_snapshot.append(conn is self.snapshot)
            got = real_read(conn, sql, ncols, **kwargs)
            if len(self.sessions) in self.hooks:
                self.hooks[len(self.sessions)]()
            return got

        monkeypatch.setattr(wire, "_read_result", read_result)
        monkeypatch.setattr(MySQLSource, "snapshot_connection", snapshot_connection)


def _types_table(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # zero dates, as legacy data has them
        cur.execute(ALL_TYPES)
        cur.execute("INSERT INTO t VALUES " + ", ".join(ROWS))


def test_every_type_read_in_a_snapshot_is_the_text_readers_value(mysql, mysql_db, source):
    _types_table(mysql)
    with mysql.cursor() as cur:  # an impossible date: the page is read again, temporals as text
        cur.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute("CREATE TABLE d (id INT PRIMARY KEY, dt DATE, v VARCHAR(5))")
        cur.execute("INSERT INTO d VALUES (1, '2024-02-29', 'a'), (2, '2024-02-31', NULL)")
    with source.snapshot():
        session = source.snapshot_connection().thread_id()
        assert isinstance(binary_client(source), wire.WireReader)
        slow, fast = both_paths(source, mysql_db, "t")
        slow_d, fast_d = both_paths(source, mysql_db, "d")
        # The session is in step and in the same snapshot: the text reader's queries work.
        assert source.query_one(f"SELECT COUNT(*), @@in_transaction FROM `{mysql_db}`.t") == (
            "4",
            "1",
        )
        status = source.query_one("SHOW SESSION STATUS LIKE 'Binlog_snapshot_position'")
        assert status is not None
        assert source.snapshot_connection().thread_id() == session
    assert slow.num_rows == 4 and slow_d.num_rows == 2
    assert_identical(slow, fast)
    assert_identical(slow_d, fast_d)


def test_a_page_cut_short_by_an_impossible_date_is_read_to_its_end(
    mysql, mysql_db, source, monkeypatch
):
    """The rest of its result is read and dropped before the page is read again (with
    temporals as text): the result is longer than one socket read here."""
    monkeypatch.setattr(wire, "READ_BYTES", 4096)
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute("CREATE TABLE d (id INT PRIMARY KEY, dt DATE, pad VARCHAR(60))")
        cur.execute(
            "INSERT INTO d SELECT seq, IF(seq = 3, '2024-02-31', '2024-02-29'), "
            "REPEAT('x', 60) FROM seq_1_to_3000"
        )
    with source.snapshot():
        slow, fast = both_paths(source, mysql_db, "d")
        assert source.query_one(f"SELECT COUNT(*), @@in_transaction FROM `{mysql_db}`.d") == (
            "3000",
            "1",
        )
    assert_identical(slow, fast)


def test_a_page_failing_in_step_leaves_the_snapshot_session_usable(mysql, mysql_db, source):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE n (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO n SELECT seq, CONCAT('v', seq) FROM seq_1_to_3000")
    planned = plan_columns(source.columns(mysql_db, "n"), table="n")
    plan = plan_binary(planned, [0])
    assert plan is not None
    select = f"SELECT {', '.join(plan.select_list)} FROM `{mysql_db}`.n"
    # Rows are sent until id 2500, where the subquery fails: an ERR packet after 2,499 rows.
    failing = f"{select} WHERE IF(id = 2500, (SELECT 1 UNION SELECT 2), 1) ORDER BY id"
    with source.snapshot():
        session = source.snapshot_connection()
        reader = binary_client(source)
        assert isinstance(reader, wire.WireReader)
        with mysql.cursor() as cur:  # committed after the snapshot: never seen in it
            cur.execute("DELETE FROM n WHERE id <= 10")
        with pytest.raises(BinaryPathUnavailable, match="1242"):
            reader.fetch(plan, failing)
        assert source.snapshot_connection() is session and session.open
        assert source.query_one(f"SELECT COUNT(*), @@in_transaction FROM `{mysql_db}`.n") == (
            "3000",
            "1",
        )
        chunks = reader.fetch(plan, f"{select} WHERE id <= 20 ORDER BY id")
        assert [c.num_rows for c in chunks] == [20]  # the deleted rows: still in the snapshot


def test_a_full_copy_in_a_snapshot_writes_the_text_readers_files(
    orders,  # noqa: F811 - the fixture
    make_project,
    monkeypatch,
):
    project = make_project(
        {orders: {"mode": "full"}}, name="testpipe", store="local", chunk_rows=170, file_rows=400
    )
    pages = Pages(monkeypatch)
    fast = run(project, orders, "11111111-wire")
    fast_records, fast_rows = stored(project, orders)
    assert fast.rows == 3001 and len(pages.sessions) >= 3001 // 170
    assert all(pages.on_snapshot) and len(set(pages.sessions)) == 1  # one session, the snapshot's

    shutil.rmtree(project.root.parent / "store")
    pages.sessions.clear()
    slow = run(project, orders, "22222222-text", reader="pymysql")
    assert slow.rows == 3001 and pages.sessions == []
    slow_records, slow_rows = stored(project, orders)
    assert _same_run(fast_records) == _same_run(slow_records)  # rows, positions, fingerprints
    assert fast_rows.equals(slow_rows)
    assert fast_rows.schema.equals(slow_rows.schema, check_metadata=True)


def _same_run(records: list[dict]) -> list[dict]:
    """File records without what names the run (a full copy's generation is the run's)."""
    return [{k: v for k, v in r.items() if k not in ("key", "generation")} for r in records]


@pytest.fixture
def numbers(mysql, mysql_db) -> str:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE n (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO n SELECT seq, CONCAT('v', seq) FROM seq_1_to_2000")
    return f"{mysql_db}.n"


def _rows(mysql, qualified: str) -> list[tuple[int, str]]:
    with mysql.cursor() as cur:
        cur.execute(f"SELECT id, v FROM {qualified} ORDER BY id")
        return [(int(i), v) for i, v in cur.fetchall()]


def _stored_rows(project, qualified: str) -> list[tuple[int, str]]:
    _, rows = stored(project, qualified)
    return list(zip(rows.column("id").to_pylist(), rows.column("v").to_pylist(), strict=True))


def test_what_commits_during_a_snapshot_copy_is_not_in_it(
    mysql, numbers, make_project, monkeypatch
):
    project = make_project({numbers: {"mode": "full"}}, name="testpipe", chunk_rows=100)
    before = _rows(mysql, numbers)
    pages = Pages(monkeypatch)

    def write() -> None:  # after page 2 (rows 1..200): behind and ahead of the read
        with mysql.cursor() as cur:
            cur.execute(f"INSERT INTO {numbers} VALUES (5000, 'new'), (2500, 'past the end')")
            cur.execute(f"DELETE FROM {numbers} WHERE id IN (150, 1500)")
            cur.execute(f"UPDATE {numbers} SET v = 'changed' WHERE id IN (50, 1200, 2000)")
        mysql.commit()

    pages.hooks[2] = write
    result = run(project, numbers, "11111111-copy")
    assert all(pages.on_snapshot) and len(pages.sessions) >= 20
    assert result.rows == 2000 and _stored_rows(project, numbers) == before  # as of the snapshot
    assert _rows(mysql, numbers) != before  # the writes did commit


def test_the_snapshot_session_killed_mid_copy_fails_it_and_the_next_run_is_exact(
    mysql, numbers, make_project, monkeypatch
):
    project = make_project({numbers: {"mode": "full"}}, name="testpipe", chunk_rows=100)
    pages = Pages(monkeypatch)

    def kill() -> None:
        with mysql.cursor() as cur:
            cur.execute(f"KILL CONNECTION {pages.sessions[-1]}")
            cur.execute(f"UPDATE {numbers} SET v = 'after the kill' WHERE id = 1900")
        mysql.commit()

    pages.hooks[3] = kill
    with pytest.raises(SourceError, match="snapshot is lost"):
        run(project, numbers, "11111111-killed")
    assert all(pages.on_snapshot) and len(set(pages.sessions)) == 1  # no other session read
    pages.hooks.clear()
    result = run(project, numbers, "22222222-again")
    assert result.rows == 2000 and _stored_rows(project, numbers) == _rows(mysql, numbers)
    assert (1900, "after the kill") in _stored_rows(project, numbers)


def test_a_snapshot_session_closed_is_never_silently_reopened(mysql, mysql_db, source):
    """Before issue 28 the next query opened a new session: one outside the snapshot."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE n (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO n VALUES (1), (2)")
    with source.snapshot():
        session = source.snapshot_connection()
        with mysql.cursor() as cur:
            cur.execute(f"KILL CONNECTION {session.thread_id()}")
            cur.execute(f"INSERT INTO `{mysql_db}`.n VALUES (3)")
        with pytest.raises(pymysql.err.OperationalError):  # the kill, found by the next query
            source.query_one(f"SELECT COUNT(*) FROM `{mysql_db}`.n")
        assert not session.open
        with pytest.raises(SourceError, match="connection was closed during a consistent snap"):
            source.query_one(f"SELECT COUNT(*) FROM `{mysql_db}`.n")  # would count 3 rows
    assert source.query_one(f"SELECT COUNT(*) FROM `{mysql_db}`.n") == ("3",)  # after: anew
