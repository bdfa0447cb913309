"""A table's sync is one library object (`sync/table.py`): its steps run in order, a refused
schema change stops the table before it extracts, the delete pass follows the load, and a step
that fails is named in the result with what the steps before it did. On DuckDB and PostgreSQL,
each ending in a row-by-row comparison of MySQL and the warehouse.
"""

from __future__ import annotations

import pytest

from mysql_redshift_assets.load.evolve import SchemaChangeRefused
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.naming import watermark_key
from mysql_redshift_assets.state.lease import LeaseHeld, table_lease
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import BlockedByCheck, SyncRun, TableSync, TableSyncResult
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "amount", "note", "updated_at"]
KEPT = ["id", "amount", "updated_at"]


@pytest.fixture(params=TARGETS)
def orders(request, mysql, mysql_db, make_project) -> Sync:
    """60 rows, extracted and loaded once (an incremental table, deletes propagated)."""
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(40), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, '2024-05-01' + INTERVAL %s HOUR)",
            [(i, f"{i}.25", f"note {i}", i) for i in range(1, 61)],
        )
    sync = sync_on(
        request, make_project, mysql_db, "orders", {"cursor": "updated_at"}, request.param
    )
    sync.run("first")
    return sync


def run(sync: Sync, run_id: str, **steps: bool) -> TableSyncResult:
    """The table's sync: its extraction and load (and the steps `steps` asks for)."""
    with Clients(sync.project) as clients:
        return TableSync(sync.table, clients, SyncRun(run_id)).run(**steps)


def new_rows(result: TableSyncResult) -> list[int]:
    """Rows each extraction read past the position (re-reads behind it not counted)."""
    assert result.extracted is not None
    return [r.rows - r.reread_rows for r in result.extracted]


def watermark_bytes(sync: Sync) -> bytes | None:
    with Clients(sync.project) as clients:
        return clients.store(sync.table.store).get_bytes(watermark_key(sync.table))


def resync(sync: Sync, run_id: str) -> None:
    with Clients(sync.project) as clients:
        table = sync.table
        source, warehouse = clients.source(table.source), clients.warehouse(table.target)
        resync_table(source, clients.store(table.store), warehouse, table, run_id=run_id)


def _drop_note(mysql) -> None:
    """A change the load refuses (a column gone), with new rows past the watermark."""
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE orders DROP COLUMN note")
        cur.execute(
            "INSERT INTO orders VALUES (61, 61.25, '2024-07-01'), (62, 62.25, '2024-07-01')"
        )


def test_a_refused_schema_change_stops_the_table_before_it_extracts(mysql, orders: Sync) -> None:
    loaded = orders.warehouse_rows(COLUMNS, ["id"])
    watermark = watermark_bytes(orders)
    _drop_note(mysql)

    result = run(orders, "blocked", check_schema=True)

    assert result.failed is not None and result.failed.step == "check_schema"
    assert isinstance(result.failed.error, BlockedByCheck)
    assert str(result.failed.error).startswith("blocking check schema_drift failed: ")
    assert result.schema is not None and not result.schema.passed
    assert "note" in result.schema.drift.removed
    assert result.plan is not None  # planned first: the step before the check
    assert result.extracted is None and result.loaded is None and result.deletes is None
    # Nothing written: no file, no watermark change, the warehouse as it was.
    assert watermark_bytes(orders) == watermark
    assert orders.warehouse_rows(COLUMNS, ["id"]) == loaded
    with pytest.raises(BlockedByCheck):
        result.raise_failure()

    resync(orders, "resync")  # what the refusal says to do: MySQL's shape, row by row
    assert_same_rows(mysql, orders, KEPT, ["id"])


def test_the_delete_pass_follows_the_load_and_is_counted_in_it(mysql, orders: Sync) -> None:
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM orders WHERE id IN (3, 4, 5)")
        cur.execute("UPDATE orders SET note = 'late', updated_at = '2024-07-01' WHERE id = 9")
        cur.execute("INSERT INTO orders VALUES (61, 61.25, 'new', '2024-07-01')")

    result = run(orders, "second", check_schema=True)

    assert result.failed is None
    assert result.schema is not None and result.schema.passed
    assert new_rows(result) == [2]  # id 9's new version and id 61
    assert result.loaded is not None
    assert result.loaded.results[0].rows_loaded == result.extracted[0].rows
    # After the load: the files just extracted are in the ledger, so the pass ran (before the
    # load it would stand aside: "extracted but not loaded").
    assert result.deletes is not None and result.deletes.ran, result.deletes
    assert result.deletes.deleted == 3
    assert result.loaded.results[0].rows_deleted == 3
    assert result.loaded.results[0].table_rows == 58  # counted after the pass
    assert result.notes[0] == ("info", f"stored {result.extracted[0].files[0].key} "
                                       f"({result.extracted[0].rows:,} rows)")  # fmt: skip
    assert not [n for n in result.notes if "delete pass" in n[1]]
    assert_same_rows(mysql, orders, COLUMNS, ["id"])


def test_a_failed_load_is_named_and_the_extraction_before_it_stands(mysql, orders: Sync) -> None:
    loaded = orders.warehouse_rows(COLUMNS, ["id"])
    _drop_note(mysql)

    result = run(orders, "unchecked")

    assert result.failed is not None and result.failed.step == "load"
    assert isinstance(result.failed.error, SchemaChangeRefused)
    assert result.failed.message.startswith("SchemaChangeRefused: schema change in ")
    assert "SchemaChangeRefused" in result.failed.trace
    assert new_rows(result) == [2]
    assert result.loaded is None and result.deletes is None
    assert orders.warehouse_rows(COLUMNS, ["id"]) == loaded  # refused before any write

    resync(orders, "resync")
    assert_same_rows(mysql, orders, KEPT, ["id"])


def test_a_failed_extraction_is_named_and_nothing_after_it_runs(mysql, orders: Sync) -> None:
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (61, 61.25, 'new', '2024-07-01')")
        cur.execute("DELETE FROM orders WHERE id = 1")
    with Clients(orders.project) as clients:
        store = clients.store(orders.table.store)
        with table_lease(store, orders.table, "another-run"):  # a second extraction refuses
            result = run(orders, "refused")

    assert result.failed is not None and result.failed.step == "extract"
    assert isinstance(result.failed.error, LeaseHeld)
    assert result.plan is not None
    assert result.extracted is None and result.loaded is None and result.deletes is None
    ids = [r[0] for r in orders.warehouse_rows(["id"], ["id"])]
    assert ids == list(range(1, 61))  # neither the new row nor the delete reached it

    assert run(orders, "again").failed is None
    assert_same_rows(mysql, orders, COLUMNS, ["id"])
