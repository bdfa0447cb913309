"""Every warehouse write through one transaction runner (`load/retry.py`), on MariaDB + the
PostgreSQL stand-in, which shares Redshift's SERIALIZABLE aborts and lock semantics: the swap,
the rebuild and the delete pass run again after a serialization failure and end exact; the
swap's COPY and the rebuild's copy run without the target's lock; racing and killed swaps leave
one generation and no side table; a big first load commits in chunks and resumes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.identifiers import qualified
from mysql_redshift_assets.load import evolve, exactly_once, retry
from mysql_redshift_assets.load.base import CopyBatch
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.maintenance.resync import extract_generation
from mysql_redshift_assets.naming import LEDGER_TABLE, ledger_entry_name
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.clients import OpenClients
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets.sync.table import SyncRun, TableSync
from mysql_redshift_assets.targets import POSTGRES
from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, pg_query
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb
COLUMNS, KEY = ["id", "amount", "note", "updated_at"], ["id"]
Hook = Callable[["Hooked"], None]


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "RETRY_BASE_SECONDS", 0.01)


class Hooked(PostgresWarehouse):
    """The PostgreSQL stand-in with hooks: run once before the first statement that starts
    with a prefix, or after a COPY into staging."""

    def __init__(self, base: PostgresWarehouse, *, serializable: bool = False) -> None:
        super().__init__(base.name, base._connect)
        self.serializable = serializable
        self.before: list[tuple[str, Hook]] = []
        self.after: list[tuple[str, Hook]] = []
        self.after_copy: list[Hook] = []
        self.executed: list[str] = []

    def begin(self) -> None:
        idle = self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if self.serializable and idle:  # as Redshift clusters created before mid-2024 run
            self.conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE

    def _run(self, hooks: list[tuple[str, Hook]], sql: str) -> None:
        for i, (prefix, hook) in enumerate(hooks):
            if sql.startswith(prefix):
                del hooks[i]
                hook(self)
                return

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.executed.append(sql)
        self._run(self.before, sql)
        cur = super().execute(sql, params)
        self._run(self.after, sql)
        return cur

    def copy_into_staging(self, batch: CopyBatch) -> int:
        copied = super().copy_into_staging(batch)
        if self.after_copy:
            self.after_copy.pop(0)(self)
        return copied


def _pg() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB)


def _create(mysql: pymysql.Connection, rows: int = 60) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(40), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, '2024-05-01' + INTERVAL %s HOUR)",
            [(i, f"{i}.25", f"note {i}", i) for i in range(1, rows + 1)],
        )


def _change(mysql: pymysql.Connection) -> None:
    with mysql.cursor() as cur:
        cur.execute("UPDATE orders SET note = 'changed', updated_at = '2024-07-01' WHERE id < 6")
        cur.execute("DELETE FROM orders WHERE id IN (10, 11)")


@pytest.fixture
def orders(mysql: pymysql.Connection, mysql_db: str, make_project: Any, pg_schema: str) -> Sync:
    _create(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"},
                   target="postgres", target_schema=pg_schema)  # fmt: skip
    sync.run("first")
    return sync


def hooked(sync: Sync, **kwargs: Any) -> Hooked:
    base = open_warehouse(sync.project, sync.table.target)
    assert isinstance(base, PostgresWarehouse)
    return Hooked(base, **kwargs)


def sync_load(sync: Sync, warehouse: Hooked, run_id: str) -> Any:
    """The warehouse step of a sync (the load or swap, then the delete pass) on `warehouse`."""
    source = open_source(sync.project, sync.table.source)
    store = open_store(sync.project, sync.table.store)
    clients = OpenClients(source, store, warehouse)
    try:
        return TableSync(sync.table, clients, SyncRun(run_id)).run(extract=False).raise_failure()
    finally:
        warehouse.close()
        source.close()


def new_generation(sync: Sync, run_id: str = "resync-1") -> list[str]:
    """A resync's steps 1 and 2 (the generation extracted, the watermark switched to it); the
    generation's file keys. Step 3, the swap, is the next load's."""
    source = open_source(sync.project, sync.table.source)
    store = open_store(sync.project, sync.table.store)
    try:
        result = extract_generation(source, store, WatermarkStore(store), sync.table, run_id=run_id)
    finally:
        source.close()
    return [f.key for f in result.files]


def ledger_keys(sync: Sync) -> list[str]:
    ledger = qualified(sync.table.target_schema, LEDGER_TABLE)
    entry = ledger_entry_name(sync.table)
    sql = f"SELECT file_key FROM {ledger} WHERE table_name = %s ORDER BY 1"
    return [r[0] for r in pg_query(sql, (entry,))]


def side_tables(sync: Sync) -> list[str]:
    sql = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name LIKE 'orders\\_\\_mra\\_%%'"
    )
    return [r[0] for r in pg_query(sql, (sync.table.target_schema,))]


def rival_writes_the_ledger(sync: Sync) -> Hook:
    """Another table's load in the same schema, between our ledger read and our ledger write:
    it reads the shared ledger and records a file, committing first. No serial order explains
    both, so PostgreSQL aborts ours with SQLSTATE 40001 (Redshift: ERROR 1023)."""
    ledger = qualified(sync.table.target_schema, LEDGER_TABLE)

    def rival(_wh: Hooked) -> None:
        with _pg() as conn:
            conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
            conn.execute(f"SELECT COUNT(*) FROM {ledger}")
            conn.execute(
                f"INSERT INTO {ledger} VALUES ('other/0.parquet', 'other.t', 1, 'rival', now())"
            )

    return rival


# -- retried after a serialization failure --------------------------------------------------------
def test_a_swap_aborted_as_not_serializable_runs_again_and_ends_exact(
    mysql: pymysql.Connection, orders: Sync
) -> None:
    _change(mysql)
    generation = new_generation(orders)
    target = qualified(orders.table.target_schema, "orders")
    warehouse = hooked(orders, serializable=True)
    warehouse.before.append((f"DROP TABLE {target}", rival_writes_the_ledger(orders)))
    sync_load(orders, warehouse, "swap-1")
    assert warehouse.executed.count(f"DROP TABLE {target}") == 2  # aborted once, run again
    fills = [s for s in warehouse.executed if s.startswith(f"CREATE TABLE {target[:-1]}__mra_")]
    assert len(fills) == 1  # the retry swapped in the side table the first attempt filled
    assert set(generation) <= set(ledger_keys(orders))
    assert side_tables(orders) == []
    assert_same_rows(mysql, orders, COLUMNS, KEY)


def test_a_delete_pass_aborted_as_not_serializable_runs_again_and_ends_exact(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, pg_schema: str
) -> None:
    """A composite key: the doomed keys staged, then `DELETE ... USING` joining every column."""
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (region VARCHAR(10), code VARBINARY(8), qty INT, "
            "updated_at DATETIME(6) NOT NULL, PRIMARY KEY (region, code), KEY (updated_at))"
        )
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, '2024-01-01')",
            [(f"r{i % 7}ü", b"c%03d" % i, i) for i in range(1200)],
        )
    sync = Sync.of(make_project, mysql_db, "t", {"cursor": "updated_at"}, target="postgres",
                   target_schema=pg_schema)  # fmt: skip
    sync.run()
    with mysql.cursor() as cur:  # more doomed keys than one INSERT batch
        cur.execute("DELETE FROM t WHERE qty % 2 = 1 OR qty = 0")
    sync.extract("run-2")
    target = qualified(pg_schema, "t")
    warehouse = hooked(sync, serializable=True)
    warehouse.after.append((f"DELETE FROM {target}", rival_writes_the_ledger(sync)))
    done = sync_load(sync, warehouse, "run-2")
    deletes = [s for s in warehouse.executed if s.startswith(f"DELETE FROM {target}")]
    assert len(deletes) == 2 and all(" USING " in s for s in deletes)  # one statement, twice
    assert done.load_result().rows_deleted == 601
    assert_same_rows(mysql, sync, ["region", "code", "qty"], ["region", "code"])
    passes = pg_query(
        f"SELECT row_count FROM {qualified(pg_schema, LEDGER_TABLE)} "
        "WHERE table_name LIKE %s AND run_id = 'run-2'",
        ("%#deletes",),
    )
    assert passes == [(601,)]


@pytest.fixture
def redshift_like(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redshift's rebuild (a widening ALTER COLUMN TYPE cannot make) run on PostgreSQL: its
    record made to widen only VARCHAR in place, as Redshift's does."""
    real = evolve.dialect_of
    like = replace(POSTGRES, type_changes_in_place=frozenset({"varchar"}))
    monkeypatch.setattr(evolve, "dialect_of", lambda k: like if k == "postgres" else real(k))


def _widen(mysql: pymysql.Connection) -> None:
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE orders MODIFY amount DECIMAL(14,2)")
        cur.execute(
            "UPDATE orders SET amount = 123456789012.25, updated_at = '2024-08-01' WHERE id = 7"
        )


def test_a_rebuild_aborted_as_not_serializable_runs_again_and_ends_exact(
    mysql: pymysql.Connection, orders: Sync, redshift_like: None
) -> None:
    """Three aborts at the final step: more than the schema step's own re-plans (`_ddl`, 3),
    within the runner's 5 attempts."""
    _widen(mysql)
    orders.extract("widen")
    rename = f"ALTER TABLE {qualified(orders.table.target_schema, 'orders__mra_')}".removesuffix(
        '"'
    )

    def abort(_wh: Hooked) -> None:
        raise psycopg.errors.SerializationFailure("injected: could not serialize access")

    warehouse = hooked(orders)
    warehouse.before += [(rename, abort)] * 3
    sync_load(orders, warehouse, "widen")
    assert sum(s.startswith(rename) for s in warehouse.executed) == 4
    fills = [s for s in warehouse.executed if s.startswith(f"CREATE TABLE {rename[12:]}")]
    assert len(fills) == 1  # filled once, swapped in by the fourth attempt
    assert side_tables(orders) == []
    assert pg_query(
        "SELECT numeric_precision FROM information_schema.columns WHERE table_schema = %s "
        "AND table_name = 'orders' AND column_name = 'amount'",
        (orders.table.target_schema,),
    ) == [(14,)]
    assert_same_rows(mysql, orders, COLUMNS, KEY)


# -- the lock held only for the final step --------------------------------------------------------
def load_meanwhile(sync: Sync, seen: dict[str, Any]) -> Hook:
    """Another session while the copy runs: it reads the target and takes the lock a load
    takes, within a lock timeout (it would wait on a lock held through the copy)."""
    target = qualified(sync.table.target_schema, "orders")

    def probe(_wh: Hooked) -> None:
        with _pg() as conn:
            conn.execute("SET lock_timeout = '2s'")
            seen["rows"] = conn.execute(f"SELECT COUNT(*) FROM {target}").fetchone()
            seen["note"] = conn.execute(f"SELECT note FROM {target} WHERE id = 1").fetchone()
            conn.execute(f"LOCK TABLE {target} IN EXCLUSIVE MODE")
            seen["locked"] = True

    return probe


def test_the_swap_copies_without_the_targets_lock_and_readers_see_the_old_table(
    mysql: pymysql.Connection, orders: Sync
) -> None:
    _change(mysql)
    new_generation(orders)
    seen: dict[str, Any] = {}
    warehouse = hooked(orders)
    warehouse.after_copy.append(load_meanwhile(orders, seen))
    sync_load(orders, warehouse, "swap-1")
    assert seen == {"rows": (60,), "note": ("note 1",), "locked": True}  # the old table
    assert_same_rows(mysql, orders, COLUMNS, KEY)


def test_the_rebuild_copies_without_the_lock_and_a_load_meanwhile_is_kept(
    mysql: pymysql.Connection, orders: Sync, redshift_like: None
) -> None:
    """While the rebuild copies, a load commits a row (and its ledger row) into the target:
    under the lock the rebuild sees the ledger moved and copies again, keeping the row."""
    _widen(mysql)
    orders.extract("widen")
    with mysql.cursor() as cur:  # in MySQL, not yet extracted: the rival's load brings it
        cur.execute("INSERT INTO orders VALUES (999, 9.5, 'rival', '2024-09-01')")
    schema = orders.table.target_schema
    target, ledger = qualified(schema, "orders"), qualified(schema, LEDGER_TABLE)
    seen: dict[str, Any] = {}

    def rival_load(wh: Hooked) -> None:
        load_meanwhile(orders, seen)(wh)
        with _pg() as conn:
            conn.execute("SET lock_timeout = '2s'")
            conn.execute(f"LOCK TABLE {target} IN EXCLUSIVE MODE")
            conn.execute(
                f"INSERT INTO {target} (id, amount, note, updated_at) "
                "VALUES (999, 9.5, 'rival', '2024-09-01')"
            )
            conn.execute(
                f"INSERT INTO {ledger} VALUES ('rival/999.parquet', %s, 1, 'rival', now())",
                (ledger_entry_name(orders.table),),
            )

    warehouse = hooked(orders)
    warehouse.after.append((f"INSERT INTO {qualified(schema, 'orders__mra_')}"[:-1], rival_load))
    sync_load(orders, warehouse, "widen")
    assert seen == {"rows": (60,), "note": ("note 1",), "locked": True}
    assert side_tables(orders) == []
    assert_same_rows(mysql, orders, COLUMNS, KEY)


# -- racing and killed swaps ----------------------------------------------------------------------
def test_two_swaps_of_one_table_racing_swap_it_in_once(
    mysql: pymysql.Connection, orders: Sync
) -> None:
    _change(mysql)
    generation = new_generation(orders)
    both_filled = threading.Barrier(2, timeout=60)
    warehouses = [hooked(orders), hooked(orders)]
    errors: list[BaseException] = []
    store = open_store(orders.project, orders.table.store)

    def swap(warehouse: Hooked, run_id: str) -> None:
        warehouse.after_copy.append(lambda _wh: both_filled.wait())
        try:
            load_table(warehouse, store, WatermarkStore(store), orders.table, run_id=run_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            warehouse.close()

    threads = [
        threading.Thread(target=swap, args=(w, f"swap-{i}")) for i, w in enumerate(warehouses)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert set(generation) <= set(ledger_keys(orders))  # once each: the ledger's primary key
    assert side_tables(orders) == []
    assert_same_rows(mysql, orders, COLUMNS, KEY)


KILLED_SWAP = """
import os, signal, sys
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.load import swap
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.load import load_table

fill = swap.fill_side

def fill_then_die(*args, **kwargs):
    fill(*args, **kwargs)
    args[0].commit()  # transaction 1 committed: the side table is filled; then the kill
    os.kill(os.getpid(), signal.SIGKILL)

swap.fill_side = fill_then_die
project = load_project(sys.argv[1])
table = table_config(project.pipeline("testpipe"), sys.argv[2])
store = open_store(project, table.store)
warehouse = open_warehouse(project, table.target)
load_table(warehouse, store, WatermarkStore(store), table, run_id="killed")
"""


def test_a_swap_killed_between_its_transactions_leaves_a_side_table_the_next_swap_drops(
    mysql: pymysql.Connection, orders: Sync, tmp_path: Path
) -> None:
    _change(mysql)
    generation = new_generation(orders)
    store = open_store(orders.project, orders.table.store)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_SWAP, str(tmp_path / "pipelines"), orders.table.qualified],
        env=env,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL
    left = side_tables(orders)
    assert len(left) == 1  # the killed attempt's, filled
    assert not set(generation) & set(ledger_keys(orders))  # the old table is in
    warehouse = hooked(orders)
    try:
        load_table(warehouse, store, WatermarkStore(store), orders.table, run_id="next")
    finally:
        warehouse.close()
    drop = f"DROP TABLE IF EXISTS {qualified(orders.table.target_schema, left[0])}"
    assert drop in warehouse.executed
    assert side_tables(orders) == []
    assert set(generation) <= set(ledger_keys(orders))
    assert_same_rows(mysql, orders, COLUMNS, KEY)


# -- the first load in chunks ---------------------------------------------------------------------
class Crash(Exception):
    pass


def test_a_big_first_load_commits_in_chunks_and_resumes_after_a_crash(
    mysql: pymysql.Connection,
    mysql_db: str,
    make_project: Any,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _create(mysql, rows=40)
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"},
                   target="postgres", target_schema=pg_schema, chunk_rows=5, file_rows=10)  # fmt: skip
    sync.extract("ext-1")
    with mysql.cursor() as cur:  # a key in chunk 1 updated: its new version is in a later file
        cur.execute("UPDATE orders SET note = 'later', updated_at = '2024-09-01' WHERE id = 3")
        cur.execute("INSERT INTO orders VALUES (41, 41.25, 'new', '2024-09-02')")
    sync.extract("ext-2")
    store = open_store(sync.project, sync.table.store)
    files = WatermarkStore(store).load(sync.table).files
    assert len(files) >= 5
    # Each file its own transaction.
    monkeypatch.setattr(
        exactly_once, "TRANSACTION_BYTES", min(f.bytes for f in files), raising=False
    )
    merges = 0
    real = exactly_once.ExactlyOnceWarehouse._merge_staged

    def crash_after_two(self: Any, *args: Any) -> None:
        nonlocal merges
        if merges == 2:
            raise Crash("killed after chunk 2")
        merges += 1
        real(self, *args)

    monkeypatch.setattr(exactly_once.ExactlyOnceWarehouse, "_merge_staged", crash_after_two)
    warehouse = hooked(sync)
    with pytest.raises(Exception, match="killed after chunk 2"):
        try:
            load_table(warehouse, store, WatermarkStore(store), sync.table, run_id="first")
        finally:
            warehouse.close()
    keys = ledger_keys(sync)
    assert sorted(keys) == sorted(f.key for f in files[:2])  # a prefix, committed
    rows = pg_query(f"SELECT COUNT(*) FROM {qualified(pg_schema, 'orders')}")[0][0]
    assert rows == sum(f.rows for f in files[:2])
    monkeypatch.setattr(exactly_once.ExactlyOnceWarehouse, "_merge_staged", real)
    warehouse = hooked(sync)
    try:
        load_table(warehouse, store, WatermarkStore(store), sync.table, run_id="next")
    finally:
        warehouse.close()
    assert sorted(ledger_keys(sync)) == sorted(f.key for f in files)
    assert_same_rows(mysql, sync, COLUMNS, KEY)
