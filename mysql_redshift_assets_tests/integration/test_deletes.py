"""Hard deletes carried by the delete pass, with real concurrent MariaDB sessions: deletes, a
primary-key change, a re-inserted key, a delete held open across a sync, deletes during an
extraction. Each ends with MySQL == warehouse row by row, on DuckDB and the PostgreSQL stand-in;
with `deletes: ignore` (the feature off) the same comparison fails."""

from __future__ import annotations

import threading

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.naming import deletes_ledger_name
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.deletes import propagate_deletes
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(private_mariadb):
    """A delete is held open across a sync here: a server of its own (INNODB_TRX is
    server-wide)."""
    return private_mariadb


COLUMNS, KEY = ["id", "amount", "note", "updated_at"], ["id"]
TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,4), note VARCHAR(40), "
    "updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) "
    "ON UPDATE CURRENT_TIMESTAMP(6), KEY (updated_at, id))"
)


def _table(mysql, rows: int = 50) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, '2024-01-01 00:00:00')",
            [(i, f"{i}.5", f"zoë {i} 😀") for i in range(1, rows + 1)],
        )


def _sync(make_project, mysql_db, request, target, **spec) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, "t", {"cursor": "updated_at", **spec}, target=target,
        target_schema=schema, chunk_rows=7, file_rows=20,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
@pytest.mark.parametrize("deletes", ["propagate", "ignore"])
def test_deletes_key_changes_and_reinserted_keys(
    mysql, mysql_db, mysql_sessions, make_project, request, target, deletes
):
    _table(mysql)
    sync = _sync(make_project, mysql_db, request, target, deletes=deletes)
    sync.run()
    assert_same_rows(mysql, sync, COLUMNS, KEY)

    app = mysql_sessions()
    with app.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id IN (3, 7)")
        cur.execute("UPDATE t SET id = 100 WHERE id = 10")  # a key change: delete + insert
        cur.execute("DELETE FROM t WHERE id = 20")
        cur.execute("INSERT INTO t (id, amount, note) VALUES (20, 99.0001, 'back again')")
    _, loaded = sync.run("run-2")
    if deletes == "ignore":  # the feature off: the deleted keys stay, the comparison fails
        assert loaded.rows_deleted == 0
        with pytest.raises(AssertionError, match=r"extra keys \[\(10,\), \(3,\), \(7,\)\]"):
            assert_same_rows(mysql, sync, COLUMNS, KEY)
        return
    assert loaded.rows_deleted == 3
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    _, again = sync.run("run-3")  # a second pass finds nothing to delete
    assert again.rows_deleted == 0
    assert _ledger_passes(sync) == [0, 3, 0]  # one ledger row per pass, with its deletes


def _ledger_passes(sync: Sync) -> list[int]:
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        ledger = warehouse.ledger(sync.table.target_schema)
        rows = warehouse.fetchall(
            f'SELECT "row_count" FROM {ledger} WHERE "table_name" = {warehouse.ph} '
            'ORDER BY "loaded_at"',
            (deletes_ledger_name(sync.table),),
        )
        return [int(r[0]) for r in rows]
    finally:
        warehouse.close()


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_delete_held_open_across_a_sync_is_carried_by_the_next(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    _table(mysql, 30)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run()
    app = mysql_sessions()
    app.begin()
    with app.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id = 5")  # not committed while the sync runs
    _, loaded = sync.run("run-2")
    assert loaded.rows_deleted == 0  # the pass's snapshot still sees id 5
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    app.commit()
    _, loaded = sync.run("run-3")
    assert loaded.rows_deleted == 1
    assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_no_delete_while_a_file_waits_to_be_loaded(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    """A key deleted in MySQL after its file was extracted but before it was loaded: the pass
    waits (deleting first and loading after would bring the key back), the next one deletes."""
    _table(mysql, 30)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run()
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET amount = 0 WHERE id = 8")
    sync.extract("run-2")  # id 8's new version, in a file not loaded yet
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id = 8")
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        skipped = propagate_deletes(
            source, warehouse, WatermarkStore(store), sync.table, run_id="early"
        )
    finally:
        source.close()
        warehouse.close()
    assert not skipped.ran and "not loaded" in skipped.note
    _, loaded = sync.run("run-3")  # loads the file (id 8 back), then deletes id 8
    assert loaded.rows_deleted == 1
    assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_deletes_while_an_extraction_runs(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    _table(mysql, 400)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run()
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET amount = amount + 1")  # everything to extract again
    stop, app = threading.Event(), mysql_sessions()

    def writer() -> None:
        key = 400
        with app.cursor() as cur:
            while not stop.is_set() and key > 1:
                cur.execute("DELETE FROM t WHERE id = %s", (key,))
                cur.execute("INSERT INTO t (id, amount, note) VALUES (%s, 1, 'new')", (key + 1000,))
                key -= 3

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        sync.run("run-2")
    finally:
        stop.set()
        thread.join()
    _, loaded = sync.run("run-3")  # whatever the concurrent run could not settle
    sync.run("run-4")
    assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_deletes_under_a_composite_text_key(mysql, mysql_db, make_project, request, target):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (region VARCHAR(10), code VARBINARY(8), qty INT, "
            "updated_at DATETIME(6) NOT NULL, PRIMARY KEY (region, code), KEY (updated_at))"
        )
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, '2024-01-01')",
            [(f"r{i % 7}ü", b"c%03d" % i, i) for i in range(200)],
        )
    sync = _sync(make_project, mysql_db, request, target)
    sync.run()
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM t WHERE qty IN (3, 77, 150)")
    _, loaded = sync.run("run-2")
    assert loaded.rows_deleted == 3
    assert_same_rows(mysql, sync, ["region", "code", "qty"], ["region", "code"])
