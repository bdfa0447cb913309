"""`capture: binlog` end to end on a private MariaDB with the binlog on: the initial copy at a
binlog position, then runs carrying the changes real concurrent sessions commit (updates that
touch no timestamp, deletes, key changes, rollbacks, a transaction open across runs, binlog
rotation), each ending in a row-by-row comparison of MySQL and the warehouse, on DuckDB and the
PostgreSQL stand-in."""

from __future__ import annotations

import pytest

from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb

COLUMNS, KEY = ["id", "amount", "note", "updated_at"], ["id"]
TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,4), note VARCHAR(40), "
    "updated_at DATETIME(6) NOT NULL DEFAULT '2024-01-01 00:00:00')"
)


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _table(mysql, rows: int = 50) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t (id, amount, note) VALUES (%s, %s, %s)",
            [(i, f"{i}.5", f"zoë {i} 😀") for i in range(1, rows + 1)],
        )


def _flush_binary_logs(request) -> None:
    with request.getfixturevalue("private_mariadb").root() as root, root.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")


def _sync(make_project, mysql_db, request, target, **spec) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, "t", {"capture": "binlog", **spec}, target=target,
        target_schema=schema, chunk_rows=7, file_rows=20,
    )  # fmt: skip


def _position(sync: Sync) -> dict:
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None
    return watermark.binlog_position


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_changes_of_concurrent_sessions_arrive_exact(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    _table(mysql)
    sync = _sync(make_project, mysql_db, request, target)
    copied, _ = sync.run("run-1")
    assert copied.rows == 50 and copied.generation is not None
    assert_same_rows(mysql, sync, COLUMNS, KEY)

    app, other, held = mysql_sessions(), mysql_sessions("+05:30"), mysql_sessions()
    with app.cursor() as cur:
        cur.execute("UPDATE t SET amount = amount + 1 WHERE id <= 10")  # no timestamp touched
        cur.execute("DELETE FROM t WHERE id IN (11, 12)")
        cur.execute("UPDATE t SET id = 100 WHERE id = 13")  # a key change
        cur.execute("BEGIN")
        cur.execute("UPDATE t SET note = 'never' WHERE id = 14")
        cur.execute("ROLLBACK")
    with held.cursor() as cur:  # open across the next run: committed after it
        cur.execute("BEGIN")
        cur.execute("UPDATE t SET note = 'held' WHERE id = 15")
        cur.execute("INSERT INTO t (id, note) VALUES (200, 'held insert')")
    with other.cursor() as cur:
        cur.execute("INSERT INTO t (id, amount, note) VALUES (101, 1.0001, 'new')")
        _flush_binary_logs(request)
        cur.execute("UPDATE t SET note = 'after rotation' WHERE id = 16")
        cur.execute("DELETE FROM t WHERE id = 101")
        cur.execute("INSERT INTO t (id, amount, note) VALUES (101, 2.0002, 'again')")
    extracted, loaded = sync.run("run-2")
    assert extracted.generation is None and extracted.rows > 0
    assert_same_rows(mysql, sync, COLUMNS, KEY)  # the held transaction is in neither
    held.commit()
    with pytest.raises(AssertionError):  # committed after run-2 read: not in the warehouse yet
        assert_same_rows(mysql, sync, COLUMNS, KEY)
    sync.run("run-3")
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    before = _position(sync)
    again, loaded = sync.run("run-4")  # nothing new: no file, the same rows
    assert again.rows == 0 and not again.files
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    assert _position(sync) == before


class _Killed(BaseException):
    """A crash: not an Exception, so nothing in the run catches it (as a SIGKILL)."""


def test_a_stream_closes_a_file_every_file_rows_each_recorded_at_its_own_position(
    mysql, mysql_db, mysql_sessions, make_project, monkeypatch
):
    """`file_rows` closes a file between transactions, also below the stream's batch of
    10,000 changes (the binlog soak found no file closed before it: no crash point between two
    files); each file records the position after its own last transaction, so a run killed
    after its second file resumes there and loses nothing."""
    _table(mysql, rows=5)
    sync = Sync.of(make_project, mysql_db, "t", {"capture": "binlog"}, target="duckdb", file_rows=7)
    sync.run("run-1")
    app = mysql_sessions()
    with app.cursor() as cur:
        for i in range(100, 130):  # 30 transactions of one row
            cur.execute("INSERT INTO t (id, note) VALUES (%s, 'streamed')", (i,))
    extracted = sync.extract("run-2")
    assert [f.rows for f in extracted.files] == [7, 7, 7, 7, 2]
    ends = [f.binlog_to for f in extracted.files]
    assert len({str(e) for e in ends}) == 5 and ends[-1] == _position(sync)
    sync.load("run-2")
    assert_same_rows(mysql, sync, COLUMNS, KEY)

    with app.cursor() as cur:
        for i in range(200, 230):
            cur.execute("INSERT INTO t (id, note) VALUES (%s, 'killed run')", (i,))
    save, saves = WatermarkStore.save, []

    def save_then_die(self, *args) -> None:
        save(self, *args)
        saves.append(1)
        if len(saves) == 3:  # the run's start, then two files recorded
            raise _Killed

    with monkeypatch.context() as patched, pytest.raises(_Killed):
        patched.setattr(WatermarkStore, "save", save_then_die)
        sync.extract("run-3")
    assert len(saves) == 3
    sync.run("run-4")
    assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_keyless_table_arrives_exact_as_a_multiset(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    """No primary key: identical rows are interchangeable, `... LIMIT 1` changes one copy."""
    columns = ["v", "note"]
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE k (v INT NOT NULL, note VARCHAR(20) NULL)")
        cur.executemany("INSERT INTO k VALUES (%s, %s)", [(1, "a")] * 3 + [(2, None)] * 2)
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    sync = Sync.of(
        make_project, mysql_db, "k", {"capture": "binlog"}, target=target, target_schema=schema
    )
    sync.run("run-1")
    assert_same_rows(mysql, sync, columns, columns)
    with mysql_sessions("+05:30").cursor() as cur:
        cur.execute("DELETE FROM k WHERE v = 1 LIMIT 1")  # one of three copies
        cur.execute("UPDATE k SET note = 'b' WHERE v = 2 LIMIT 1")  # one of two
        cur.execute("INSERT INTO k VALUES (2, NULL), (3, 'c'), (3, 'c')")
        cur.execute("UPDATE k SET v = 1 WHERE v = 3")  # into copies of a row already there
    sync.run("run-2")
    assert_same_rows(mysql, sync, columns, columns)
