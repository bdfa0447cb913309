"""A sync with nothing new opens no warehouse session when the delete pass is not due
(`sync/noop.py`; Redshift Serverless bills each wake-up for 60 s). Counted on the real
warehouses (DuckDB, PostgreSQL): every session they open goes through a counting connect."""

from __future__ import annotations

from typing import Any

import pytest

from mysql_redshift_assets.load import duckdb as duckdb_module
from mysql_redshift_assets.maintenance.s3clean import classify
from mysql_redshift_assets.naming import table_base
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync import clients as clients_module
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.noop import MARKER_FILE
from mysql_redshift_assets.sync.table import SyncRun, TableSync, TableSyncResult
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "amount", "updated_at"]


class Sessions:
    """Every warehouse session a sync opens."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = 0
        real_open, real_duckdb, sessions = clients_module.open_warehouse, duckdb_module.duckdb, self

        def open_counting(*args: Any, **kwargs: Any) -> Any:
            warehouse = real_open(*args, **kwargs)
            connect = getattr(warehouse, "_connect", None)
            if connect is not None:  # PostgreSQL, Redshift: one connect() a session

                def counted() -> Any:
                    sessions.opened += 1
                    return connect()

                warehouse._connect = counted
            return warehouse

        class CountingDuckDB:  # DuckDB: one duckdb.connect() a session
            def __getattr__(self, name: str) -> Any:
                return getattr(real_duckdb, name)

            def connect(self, *args: Any, **kwargs: Any) -> Any:
                sessions.opened += 1
                return real_duckdb.connect(*args, **kwargs)

        monkeypatch.setattr(clients_module, "open_warehouse", open_counting)
        monkeypatch.setattr(duckdb_module, "duckdb", CountingDuckDB())


def make_orders(request: Any, mysql: Any, mysql_db: str, make_project: Any, spec: dict) -> Sync:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, '2024-05-01' + INTERVAL %s HOUR)",
            [(i, f"{i}.25", i) for i in range(1, 31)],
        )
    return sync_on(request, make_project, mysql_db, "orders", spec, request.param)


def sync(orders: Sync, run_id: str, **steps: bool) -> TableSyncResult:
    with Clients(orders.project) as clients:
        result = TableSync(orders.table, clients, SyncRun(run_id)).run(**steps)
    return result.raise_failure()


@pytest.fixture(params=TARGETS)
def orders(request: Any, mysql: Any, mysql_db: str, make_project: Any) -> Sync:
    spec = {"cursor": "updated_at", "deletes_every_minutes": 60}
    return make_orders(request, mysql, mysql_db, make_project, spec)


def test_a_sync_with_nothing_new_opens_no_warehouse_session(
    mysql: Any, orders: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(orders, "first")  # loads, runs the first delete pass, records both
    sessions = Sessions(monkeypatch)
    second = sync(orders, "second")
    assert sessions.opened == 0
    assert second.loaded is not None and second.loaded.results[-1].table_rows == 30
    assert ("info", "nothing new since the last load: no warehouse session") in second.notes
    with mysql.cursor() as cur:  # something new: the next sync loads it
        cur.execute("INSERT INTO orders VALUES (31, 31.25, '2024-07-01')")
    third = sync(orders, "third")
    assert sessions.opened >= 1
    assert third.load_result().rows_loaded >= 1
    opened = sessions.opened
    sync(orders, "fourth")
    assert sessions.opened == opened
    assert_same_rows(mysql, orders, COLUMNS, ["id"])


def test_a_file_another_run_extracted_is_loaded(
    mysql: Any, orders: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync(orders, "first")
    with mysql.cursor() as cur:
        cur.execute("UPDATE orders SET amount = 0, updated_at = '2024-08-01' WHERE id = 3")
    sync(orders, "extract-only", load=False)  # a file recorded, not loaded
    sessions = Sessions(monkeypatch)
    loaded = sync(orders, "load-only", extract=False)
    assert sessions.opened >= 1 and loaded.load_result().rows_loaded == 1
    assert_same_rows(mysql, orders, COLUMNS, ["id"])


@pytest.mark.parametrize("target", ["postgres"])
def test_a_due_delete_pass_still_opens_the_session(
    request: Any, mysql: Any, mysql_db: str, make_project: Any, monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:  # fmt: skip
    request.param = target
    orders = make_orders(request, mysql, mysql_db, make_project, {"cursor": "updated_at"})
    sync(orders, "first")
    store = clients_module.open_store(orders.project, orders.table.store)
    assert store.get_bytes(f"{table_base(orders.table)}/{MARKER_FILE}") is not None
    # The record is the table's state, like its watermark: s3clean neither lists nor deletes it.
    watermark = WatermarkStore(store).load(orders.table)
    assert watermark is not None
    listed = classify(store, orders.table, watermark, {f.key for f in watermark.files})
    assert listed and not [f.key for f in listed if f.key.endswith(MARKER_FILE)]
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM orders WHERE id = 5")
    sessions = Sessions(monkeypatch)
    second = sync(orders, "second")  # deletes_every_minutes 0: a pass every run
    assert sessions.opened >= 1 and second.load_result().rows_deleted == 1
    assert_same_rows(mysql, orders, COLUMNS, ["id"])
