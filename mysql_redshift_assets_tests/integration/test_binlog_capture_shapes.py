"""`capture: binlog` beyond plain keyed changes, on a private MariaDB with the binlog on, on
DuckDB and the PostgreSQL stand-in: a keyless table as a multiset of whole rows, a stored
position the server purged, schema changes in the stream (refused, or carried on when the
column names stay), and `deletes: ignore`. Each ends in a row-by-row comparison of MySQL and
the warehouse, or in the refusal and what it left untouched."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.binlog.server import BinlogCaptureError
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows, read_mysql

pytestmark = pytest.mark.mariadb
TARGETS = ["duckdb", "postgres"]

COLUMNS, KEY = ["id", "amount", "note"], ["id"]
TABLE = "CREATE TABLE t (id INT PRIMARY KEY, amount INT, note VARCHAR(40))"


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _sync(make_project, mysql_db, request, target, name: str = "t", **spec: Any) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, name, {"capture": "binlog", **spec}, target=target,
        target_schema=schema, chunk_rows=7, file_rows=20,
    )  # fmt: skip


def _keyed(mysql, rows: int = 30) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s)",
            [(i, i * 10, f"zoë {i}") for i in range(1, rows + 1)],
        )


def _run(mysql, *statements: str) -> None:
    with mysql.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def _watermark(sync: Sync) -> Watermark:
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None
    return watermark


def _resync(sync: Sync) -> None:
    """What `mysql-redshift resync` does (cli/resync_cmd.py)."""
    project, table = sync.project, sync.table
    with (
        open_source(project, table.source) as source,
        open_warehouse(project, table.target) as warehouse,
    ):
        resync_table(source, open_store(project, table.store), warehouse, table, run_id="resync-1")


def _refused(sync: Sync, run_id: str) -> str:
    """The run's extraction fails with one error naming the table and the resync."""
    with pytest.raises(BinlogCaptureError) as err:
        sync.extract(run_id)
    message = str(err.value)
    assert sync.table.qualified in message
    assert "mysql-redshift resync" in message
    return message


# -- 1. a keyless table: the warehouse holds MySQL's multiset ------------------------------------
KL = ["a", "note", "amount"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_keyless_table_holds_mysqls_multiset(mysql, mysql_db, make_project, request, target):
    _run(mysql, "CREATE TABLE k (a INT, note VARCHAR(20), amount DECIMAL(8,2))")
    rows = (
        [(1, "x", "1.00")] * 3 + [(2, "y", None)] * 2 + [(None, None, None)] * 2 + [(3, "z", "3")]
    )
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO k VALUES (%s, %s, %s)", rows)
    sync = _sync(make_project, mysql_db, request, target, name="k")
    sync.run("run-1")
    assert_same_rows(mysql, sync, KL, KL)  # compared as sorted lists, duplicates included

    _run(
        mysql,
        "DELETE FROM k WHERE a = 1 LIMIT 1",  # one of three identical rows
        "UPDATE k SET amount = 9.99 WHERE a = 2 LIMIT 1",  # one of two identical rows (NULL)
        "INSERT INTO k VALUES (1, 'x', 1.00), (1, 'x', 1.00), (NULL, NULL, NULL)",
        "UPDATE k SET note = 'w' WHERE a IS NULL LIMIT 1",
        "DELETE FROM k WHERE a IS NULL AND note IS NULL LIMIT 1",
        "INSERT INTO k VALUES (4, NULL, 4.00), (4, NULL, 4.00)",
    )
    mysql.begin()  # a delete and a re-insert of the same row in one transaction
    _run(mysql, "DELETE FROM k WHERE a = 3", "INSERT INTO k VALUES (3, 'z', 3.00)")
    _run(mysql, "DELETE FROM k WHERE a = 1 LIMIT 2", "INSERT INTO k VALUES (1, 'x', 1.00)")
    mysql.commit()
    sync.run("run-2")
    assert_same_rows(mysql, sync, KL, KL)
    assert len(sync.warehouse_rows(KL, KL)) == 10

    _run(mysql, "DELETE FROM k WHERE a = 4 LIMIT 1", "UPDATE k SET a = 5 WHERE a = 1 LIMIT 1")
    sync.run("run-3")
    assert_same_rows(mysql, sync, KL, KL)
    assert sorted(sync.warehouse_rows(KL, KL), key=repr).count((4, None, 4)) == 1


# -- 2. a purged position: refused, nothing loaded, then resync -----------------------------------
def _purge(private_mariadb) -> None:
    """Every binlog file but the newest. MariaDB keeps a file until its binlog checkpoint is
    written (InnoDB has made its transactions durable): `PURGE` skips it until then."""
    with private_mariadb.root() as root, root.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW BINARY LOGS")
        newest = cur.fetchall()[-1][0]
        for _ in range(100):
            cur.execute(f"PURGE BINARY LOGS TO '{newest}'")
            cur.execute("SHOW BINARY LOGS")
            if [row[0] for row in cur.fetchall()] == [newest]:
                return
            time.sleep(0.1)
        raise AssertionError(f"the binlog files before {newest} were not purged")


@pytest.mark.parametrize("target", TARGETS)
def test_a_purged_position_is_refused_then_resync_brings_it_back(
    mysql, mysql_db, make_project, request, target, private_mariadb
):
    _keyed(mysql)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run("run-1")
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    before = _watermark(sync)
    loaded = sync.warehouse_rows(COLUMNS, KEY)

    _run(mysql, "UPDATE t SET amount = -1 WHERE id <= 5", "DELETE FROM t WHERE id = 6")
    _purge(private_mariadb)  # the files holding those changes are gone
    _run(mysql, "INSERT INTO t VALUES (100, 1, 'after the purge')")
    message = _refused(sync, "run-2")
    assert "purged" in message
    after = _watermark(sync)
    assert after.binlog_position == before.binlog_position  # nothing skipped
    assert [f.key for f in after.files] == [f.key for f in before.files]  # no file recorded
    sync.load("run-2")
    assert sync.warehouse_rows(COLUMNS, KEY) == loaded  # nothing new loaded

    _resync(sync)
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    _run(mysql, "UPDATE t SET note = 'later' WHERE id = 7", "DELETE FROM t WHERE id = 8")
    sync.run("run-3")
    assert_same_rows(mysql, sync, COLUMNS, KEY)


# -- 3. schema changes in the stream --------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_an_added_column_stops_after_the_changes_before_it(
    mysql, mysql_db, make_project, request, target
):
    _keyed(mysql)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run("run-1")
    _run(mysql, "UPDATE t SET amount = -1 WHERE id <= 5", "DELETE FROM t WHERE id = 6")
    _run(mysql, "INSERT INTO t VALUES (101, 2, 'before the alter')")
    before_alter = read_mysql(mysql, "t", COLUMNS, KEY)
    _run(mysql, "ALTER TABLE t ADD COLUMN extra INT NOT NULL DEFAULT 7")
    _run(mysql, "UPDATE t SET extra = 8, note = 'after' WHERE id = 9")
    message = _refused(sync, "run-2")
    assert "ALTER TABLE t ADD COLUMN extra" in message
    sync.load("run-2")  # the changes before the ALTER were recorded: they load
    assert sync.warehouse_rows(COLUMNS, KEY) == before_alter
    _refused(sync, "run-3")  # until the resync, every run refuses

    _resync(sync)
    assert_same_rows(mysql, sync, [*COLUMNS, "extra"], KEY)
    _run(mysql, "UPDATE t SET extra = 9 WHERE id = 10", "DELETE FROM t WHERE id = 11")
    sync.run("run-4")
    assert_same_rows(mysql, sync, [*COLUMNS, "extra"], KEY)


@pytest.mark.parametrize("statement", ["TRUNCATE TABLE t", "TRUNCATE t"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_truncate_is_refused(mysql, mysql_db, make_project, request, target, statement):
    _keyed(mysql)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run("run-1")
    _run(mysql, "UPDATE t SET amount = -1 WHERE id <= 5")
    before = read_mysql(mysql, "t", COLUMNS, KEY)
    _run(mysql, statement, "INSERT INTO t VALUES (1, 1, 'after the truncate')")
    _refused(sync, "run-2")
    sync.load("run-2")
    assert sync.warehouse_rows(COLUMNS, KEY) == before  # the update before it, no more

    _resync(sync)
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    _run(mysql, "INSERT INTO t VALUES (2, 2, 'later')")
    sync.run("run-3")
    assert_same_rows(mysql, sync, COLUMNS, KEY)


ALTERS_KEEPING_THE_NAMES = [
    # A widening: every value stays as it was.
    "ALTER TABLE t MODIFY note VARCHAR(80), MODIFY amount BIGINT",
    # The same names, but every note is NULL now, with no row event: had the stream gone on
    # past it, the warehouse would keep the old notes (measured on MariaDB 10.11, as is a
    # DECIMAL(12,4) -> DECIMAL(12,2) or DATETIME(6) -> DATETIME change, which rounds every value
    # in strict mode too). The stream cannot tell the two apart without the types before the
    # ALTER, so every ALTER of the table stops it.
    "ALTER TABLE t DROP COLUMN note, ADD COLUMN note VARCHAR(40)",
]


@pytest.mark.parametrize("statement", ALTERS_KEEPING_THE_NAMES)
@pytest.mark.parametrize("target", TARGETS)
def test_an_alter_keeping_the_column_names_is_refused_then_resync_is_exact(
    mysql, mysql_db, make_project, request, target, statement
):
    _keyed(mysql)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run("run-1")
    _run(mysql, "UPDATE t SET amount = -5, note = 'before' WHERE id <= 3")
    before = read_mysql(mysql, "t", COLUMNS, KEY)
    _run(mysql, statement)
    _run(
        mysql,
        f"UPDATE t SET note = '{'é' * 40}', amount = 2000000000 WHERE id = 4",
        "INSERT INTO t VALUES (200, -2000000000, 'after')",
        "DELETE FROM t WHERE id = 5",
    )
    assert statement in _refused(sync, "run-2")
    sync.load("run-2")  # the changes before the ALTER load, converted to the types of now
    assert sync.warehouse_rows(COLUMNS, KEY) == before

    _resync(sync)
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    _run(mysql, "UPDATE t SET amount = amount + 1 WHERE id <= 10", "DELETE FROM t WHERE id = 6")
    sync.run("run-3")
    assert_same_rows(mysql, sync, COLUMNS, KEY)


# -- 4. deletes: ignore ---------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_deletes_ignore_keeps_deleted_rows_and_old_keys(
    mysql, mysql_db, make_project, request, target
):
    _keyed(mysql, rows=10)
    sync = _sync(make_project, mysql_db, request, target, deletes="ignore")
    sync.run("run-1")
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    kept = {r[0]: r for r in read_mysql(mysql, "t", COLUMNS, KEY) if r[0] in (2, 3, 4)}
    _run(
        mysql,
        "DELETE FROM t WHERE id IN (2, 3)",
        "UPDATE t SET id = 40 WHERE id = 4",  # a key change: the old key stays
        "UPDATE t SET note = 'updated' WHERE id = 5",
        "INSERT INTO t VALUES (50, 5, 'new')",
    )
    sync.run("run-2")
    want = read_mysql(mysql, "t", COLUMNS, KEY) + list(kept.values())
    assert sync.warehouse_rows(COLUMNS, KEY) == sorted(want)
    _run(mysql, "DELETE FROM t WHERE id = 40", "INSERT INTO t VALUES (2, 22, 'again')")
    sync.run("run-3")  # a deleted key inserted again: the new row replaces the kept one
    kept.pop(2)
    kept[40] = (40, 40, "zoë 4")
    want = read_mysql(mysql, "t", COLUMNS, KEY) + list(kept.values())
    assert sync.warehouse_rows(COLUMNS, KEY) == sorted(want)
