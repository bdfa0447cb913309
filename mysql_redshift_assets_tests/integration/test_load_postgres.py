"""MariaDB -> moto S3 -> PostgreSQL through PostgresWarehouse: the Redshift load SQL, for real.

Every test checks what ends up in the warehouse (rows, checksums) and in the load ledger, and,
for failures, that both are exactly as they were before the failed load.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pymysql
import pytest

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.load.request import LoadError, LoadResult
from mysql_redshift_assets.naming import LEDGER_TABLE
from mysql_redshift_assets.state.watermark import FileRecord, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import read_footer
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.conftest import pg_query
from mysql_redshift_assets_tests.orders_data import (
    ORDERS_COLUMNS,
    ORDERS_DDL,
    all_orders,
    checksum_mysql,
    insert_orders,
    mysql_rows,
    order_row,
)

pytestmark = [pytest.mark.mariadb, pytest.mark.s3, pytest.mark.postgres]


def pg_table_exists(schema: str, table: str) -> bool:
    return pg_query("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{table}"',))[0][0]


@dataclass
class Pipe:
    """One MySQL table wired to moto S3 and the PostgreSQL target."""

    mysql: pymysql.Connection
    project: Project
    table: TableConfig
    store: ObjectStore
    watermarks: WatermarkStore
    source: Source
    schema: str
    name: str
    columns: str = ORDERS_COLUMNS
    opened: list[Any] = field(default_factory=list)
    _default: PostgresWarehouse | None = None

    @property
    def target(self) -> str:
        return f'"{self.schema}"."{self.name}"'

    @property
    def ledger(self) -> str:
        return f'"{self.schema}"."{LEDGER_TABLE}"'

    def extract(self, run_id: str) -> ExtractResult:
        return extract_table(self.source, self.store, self.watermarks, self.table, run_id=run_id)

    def warehouse(self) -> PostgresWarehouse:
        warehouse = open_warehouse(self.project, "postgres")
        assert isinstance(warehouse, PostgresWarehouse)
        self.opened.append(warehouse)
        return warehouse

    def load(self, run_id: str, warehouse: PostgresWarehouse | None = None) -> LoadResult:
        if warehouse is None:
            if self._default is None:
                self._default = self.warehouse()
            warehouse = self._default
        result, warnings = load_table(
            warehouse, self.store, self.watermarks, self.table, run_id=run_id
        )
        assert warnings == []
        return result

    def files(self) -> list[FileRecord]:
        watermark = self.watermarks.load(self.table)
        assert watermark is not None
        return watermark.files

    def footer_rows(self, files: list[FileRecord] | None = None) -> int:
        """Rows as the Parquet footers in S3 say (read from the objects, not the watermark)."""
        total = 0
        for f in self.files() if files is None else files:
            fs, path = self.store.arrow_location(f.key)
            total += read_footer(path, fs).rows
        return total

    def ledger_rows(self) -> list[tuple[Any, ...]]:
        if not pg_table_exists(self.schema, LEDGER_TABLE):
            return []
        return pg_query(
            f"SELECT file_key, table_name, row_count, run_id, loaded_at FROM {self.ledger} "
            "ORDER BY file_key"
        )

    def target_rows(self, columns: str | None = None) -> list[tuple[Any, ...]] | None:
        if not pg_table_exists(self.schema, self.name):
            return None
        return pg_query(f"SELECT {columns or self.columns} FROM {self.target} ORDER BY 1")

    def state(self) -> tuple[Any, Any]:
        return self.target_rows(), self.ledger_rows()


PipeFactory = Callable[..., Pipe]


@pytest.fixture
def pipes(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, pg_schema: str
) -> Iterator[PipeFactory]:
    made: list[Pipe] = []

    def make(name: str, spec: dict[str, Any], **pipeline: Any) -> Pipe:
        project = make_project(
            {f"{mysql_db}.{name}": spec}, target="postgres", target_schema=pg_schema, **pipeline
        )
        table = table_config(project.pipeline("testpipe"), f"{mysql_db}.{name}")
        store = open_store(project, "s3")
        pipe = Pipe(
            mysql=mysql,
            project=project,
            table=table,
            store=store,
            watermarks=WatermarkStore(store),
            source=open_source(project, "mysql"),
            schema=pg_schema,
            name=name,
        )
        made.append(pipe)
        return pipe

    yield make
    # Close before pg_schema's DROP SCHEMA: an open session would hold locks on its tables.
    for pipe in made:
        for warehouse in pipe.opened:
            warehouse.close()
        pipe.source.close()


@pytest.fixture
def orders(mysql: pymysql.Connection, pipes: PipeFactory) -> Pipe:
    with mysql.cursor() as cur:
        cur.execute(ORDERS_DDL)
    return pipes("orders", {"cursor": "updated_at"}, chunk_rows=40, file_rows=100)


def checksum_pg(pipe: Pipe) -> tuple[Any, ...]:
    row = pg_query(
        'SELECT COUNT(*), SUM("id"), SUM("amount"), COUNT("note"), MAX("updated_at") '
        f"FROM {pipe.target}"
    )[0]
    return (int(row[0]), int(row[1]), Decimal(row[2]), int(row[3]), row[4])


def pg_now() -> datetime:
    # loaded_at is CURRENT_TIMESTAMP stored in a TIMESTAMP; the loader's session runs in UTC.
    return pg_query("SELECT clock_timestamp() AT TIME ZONE 'UTC'")[0][0]


# -- 1. counts and checksums ------------------------------------------------------------------
def test_source_rows_equal_footer_rows_equal_warehouse_rows_and_checksums(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    insert_orders(mysql, range(1, 251))
    extracted = orders.extract("ext-1")
    assert [f.rows for f in extracted.files] == [100, 100, 50]

    result = orders.load("load-1")

    source_count = mysql_rows(mysql, "SELECT COUNT(*) FROM orders")[0][0]
    assert source_count == 250
    assert orders.footer_rows() == 250
    assert result.rows_loaded == 250 and result.table_rows == 250
    assert result.copies == [250]
    assert pg_query(f"SELECT COUNT(*) FROM {orders.target}")[0][0] == 250
    assert checksum_pg(orders) == checksum_mysql(mysql)
    assert checksum_mysql(mysql)[3] == 188  # the nullable column has NULLs to count
    assert orders.target_rows() == all_orders(mysql)


# -- 2. the ledger ----------------------------------------------------------------------------
def test_ledger_has_one_row_per_file_and_a_second_run_loads_nothing(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    insert_orders(mysql, range(1, 251))
    orders.extract("ext-1")
    files = orders.files()
    before = pg_now()
    first = orders.load("load-1")
    after = pg_now()

    assert first.files_loaded == [f.key for f in files] and len(files) == 3
    ledger = orders.ledger_rows()
    assert [(r[0], r[1], r[2], r[3]) for r in ledger] == [
        (f.key, f"{orders.schema}.orders", f.rows, "load-1") for f in files
    ]
    assert all(before <= r[4] <= after for r in ledger)
    assert sum(r[2] for r in ledger) == orders.footer_rows() == 250

    second = orders.load("load-2")
    assert second.rows_loaded == 0 and second.files_loaded == [] and second.copies == []
    assert second.already_loaded == len(files) == 3
    assert second.table_rows == 250
    assert orders.ledger_rows() == ledger  # nothing added, nothing rewritten
    assert checksum_pg(orders) == checksum_mysql(mysql)

    # New rows later: only the new file is loaded, the ledger grows by exactly that file.
    insert_orders(mysql, range(251, 271))
    orders.extract("ext-2")
    third = orders.load("load-3")
    new_key = orders.files()[-1].key
    assert third.files_loaded == [new_key] and third.rows_loaded == 20
    assert third.already_loaded == 3
    assert [r[0] for r in orders.ledger_rows()] == [f.key for f in orders.files()]
    assert {r[0]: r[3] for r in orders.ledger_rows()}[new_key] == "load-3"
    assert orders.target_rows() == all_orders(mysql)


# -- 3. merge ---------------------------------------------------------------------------------
def test_updates_between_runs_are_merged_not_doubled(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    insert_orders(mysql, range(1, 101))
    orders.extract("ext-1")
    orders.load("load-1")

    insert_orders(mysql, [5, 50, 100], version=1)  # later updated_at: re-extracted
    insert_orders(mysql, range(101, 106))
    extracted = orders.extract("ext-2")
    assert extracted.rows == 8
    result = orders.load("load-2")

    assert result.rows_loaded == 8 and result.table_rows == 105
    rows = orders.target_rows()
    assert rows == all_orders(mysql)
    assert {r[0]: r for r in rows}[50] == order_row(50, version=1)
    assert pg_query(f'SELECT COUNT(*), COUNT(DISTINCT "id") FROM {orders.target}')[0] == (105, 105)
    assert checksum_pg(orders) == checksum_mysql(mysql)


def test_a_key_in_two_files_of_one_batch_ends_with_its_latest_version(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    insert_orders(mysql, range(1, 51))
    orders.extract("ext-1")
    insert_orders(mysql, [7, 8, 9], version=1)
    orders.extract("ext-2")
    insert_orders(mysql, [7, 9], version=2)
    orders.extract("ext-3")
    assert [f.rows for f in orders.files()] == [50, 3, 2]

    result = orders.load("load-1")  # all three files in one batch, one COPY

    assert result.copies == [55] and result.rows_loaded == 55 and result.table_rows == 50
    by_id = {r[0]: r for r in orders.target_rows()}
    assert by_id[7] == order_row(7, version=2)
    assert by_id[8] == order_row(8, version=1)
    assert by_id[9] == order_row(9, version=2)
    assert orders.target_rows() == all_orders(mysql)
    assert pg_query(f"SELECT COUNT(*) FROM {orders.target}")[0][0] == 50


# -- 4. rollback ------------------------------------------------------------------------------
def _pending_after_baseline(mysql: pymysql.Connection, orders: Pipe) -> list[FileRecord]:
    """A committed first load, then three more files waiting to be loaded."""
    insert_orders(mysql, range(1, 101))
    orders.extract("ext-1")
    orders.load("load-1")
    insert_orders(mysql, [3, 30], version=1)
    insert_orders(mysql, range(101, 301))
    orders.extract("ext-2")
    pending = orders.files()[1:]
    assert [f.rows for f in pending] == [100, 100, 2]
    return pending


@pytest.mark.parametrize("which", [0, 2], ids=["first-pending-file", "last-pending-file"])
def test_unreadable_file_rolls_back_and_the_next_load_takes_everything(
    mysql: pymysql.Connection, orders: Pipe, which: int
) -> None:
    pending = _pending_after_baseline(mysql, orders)
    before = orders.state()
    assert before[0] is not None and len(before[0]) == 100 and len(before[1]) == 1

    broken = pending[which]
    original = orders.store.get_bytes(broken.key)
    assert original is not None and original[:4] == b"PAR1"
    orders.store.put_bytes(b"this is not parquet \x00\xff" * 50, broken.key)

    with pytest.raises(LoadError, match="rolled back"):
        orders.load("load-broken")
    assert orders.state() == before

    orders.store.put_bytes(original, broken.key)
    result = orders.load("load-fixed")
    assert result.files_loaded == [f.key for f in pending]
    assert result.rows_loaded == 202 and result.already_loaded == 1
    assert orders.target_rows() == all_orders(mysql)
    assert checksum_pg(orders) == checksum_mysql(mysql)
    assert {r[0]: r[3] for r in orders.ledger_rows()} == {
        orders.files()[0].key: "load-1",
        **{f.key: "load-fixed" for f in pending},
    }


def test_unreadable_file_on_the_very_first_load_raises_load_error_and_loads_nothing(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    insert_orders(mysql, range(1, 51))
    orders.extract("ext-1")
    (only,) = orders.files()
    original = orders.store.get_bytes(only.key)
    assert original is not None
    orders.store.put_bytes(b"garbage" * 100, only.key)

    with pytest.raises(LoadError, match=f"cannot read {orders.store.uri(only.key)}"):
        orders.load("load-broken")
    assert orders.target_rows() in (None, [])
    assert orders.ledger_rows() == []

    orders.store.put_bytes(original, only.key)
    result = orders.load("load-fixed")
    assert result.rows_loaded == 50 and result.files_loaded == [only.key]
    assert orders.target_rows() == all_orders(mysql)


def _wait_until_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while pg_query("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = %s", (pid,))[0][0]:
        assert time.monotonic() < deadline, f"backend {pid} did not terminate"
        time.sleep(0.05)


def test_backend_terminated_mid_copy_rolls_back_and_a_fresh_warehouse_loads_all(
    mysql: pymysql.Connection, orders: Pipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = _pending_after_baseline(mysql, orders)
    before = orders.state()
    original_copy = PostgresWarehouse.copy_into_staging
    killed: list[int] = []

    def copy_then_die(self, batch):
        files = batch.files
        copied = original_copy(self, dataclasses.replace(batch, files=files[:1]))
        assert copied == files[0].rows  # staging holds rows: the copy is under way
        pid = self.conn.info.backend_pid
        # Staging runs before the LOCK: no session holds the target while files are copied.
        waiting = pg_query(
            "SELECT pid FROM pg_locks WHERE relation = to_regclass(%s) AND mode = %s AND granted",
            (orders.target, "ExclusiveLock"),
        )
        assert waiting == []
        assert pg_query("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
        _wait_until_gone(pid)
        killed.append(pid)
        return copied + original_copy(self, dataclasses.replace(batch, files=files[1:]))

    monkeypatch.setattr(PostgresWarehouse, "copy_into_staging", copy_then_die)
    doomed = orders.warehouse()
    with pytest.raises(LoadError):
        orders.load("load-killed", doomed)
    assert len(killed) == 1
    assert orders.state() == before

    monkeypatch.undo()
    result = orders.load("load-after", orders.warehouse())
    assert result.files_loaded == [f.key for f in pending] and result.rows_loaded == 202
    assert orders.target_rows() == all_orders(mysql)
    assert len(orders.ledger_rows()) == 4


def test_count_mismatch_rolls_back_with_an_error_naming_the_footers(
    mysql: pymysql.Connection, orders: Pipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = _pending_after_baseline(mysql, orders)
    before = orders.state()
    original_copy = PostgresWarehouse.copy_into_staging

    def miscounting(self, *args, **kwargs):
        return original_copy(self, *args, **kwargs) - 1

    monkeypatch.setattr(PostgresWarehouse, "copy_into_staging", miscounting)
    with pytest.raises(LoadError, match=r"201 rows but the files' footers hold 202"):
        orders.load("load-miscounted")
    assert orders.state() == before

    monkeypatch.undo()
    result = orders.load("load-after")
    assert result.files_loaded == [f.key for f in pending]
    assert orders.target_rows() == all_orders(mysql)


# -- 5. concurrency ---------------------------------------------------------------------------
def _rival_blocked(pid: int) -> bool:
    return bool(
        pg_query("SELECT COUNT(*) FROM pg_locks WHERE pid = %s AND NOT granted", (pid,))[0][0]
    )


def _two_loads_at_once(
    orders: Pipe, monkeypatch: pytest.MonkeyPatch, *, ddl_race: str | None = None
) -> list[LoadResult]:
    """Start two loads together; the first to hold the LOCK (taken after staging, for the merge
    and the ledger rows) waits there until the other queues on it.

    With `ddl_race`, the first session to commit a statement containing that text first waits
    until the other session is blocked behind its uncommitted DDL: the CREATE ... IF NOT EXISTS
    (or ADD COLUMN) race of two first loads, made to happen every time rather than by luck.
    """
    warehouses = [orders.warehouse(), orders.warehouse()]
    pids = [w.conn.info.backend_pid for w in warehouses]
    rival = {id(w): pids[1 - i] for i, w in enumerate(warehouses)}
    contended, raced = threading.Event(), threading.Event()
    first_ddl = threading.Lock()
    ddl_in_transaction: set[int] = set()
    original_record = PostgresWarehouse._record_in_ledger
    original_execute = PostgresWarehouse.execute
    original_commit = PostgresWarehouse.commit

    def record_and_wait_for_rival(self, *args, **kwargs):
        original_record(self, *args, **kwargs)
        deadline = time.monotonic() + 15
        while not contended.is_set() and time.monotonic() < deadline:
            if _rival_blocked(rival[id(self)]):
                contended.set()
            time.sleep(0.02)

    def execute(self, sql, params=()):
        if ddl_race and ddl_race in sql:
            ddl_in_transaction.add(id(self))
        return original_execute(self, sql, params)

    def commit(self):
        if id(self) in ddl_in_transaction and first_ddl.acquire(blocking=False):
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not _rival_blocked(rival[id(self)]):
                time.sleep(0.02)
            if _rival_blocked(rival[id(self)]):
                raced.set()
        ddl_in_transaction.discard(id(self))
        original_commit(self)

    monkeypatch.setattr(PostgresWarehouse, "_record_in_ledger", record_and_wait_for_rival)
    monkeypatch.setattr(PostgresWarehouse, "execute", execute)
    monkeypatch.setattr(PostgresWarehouse, "commit", commit)
    barrier = threading.Barrier(2)

    def run(i: int) -> LoadResult:
        barrier.wait(timeout=30)
        return orders.load(f"load-thread-{i}", warehouses[i])

    with ThreadPoolExecutor(2) as pool:
        results = [f.result(timeout=120) for f in [pool.submit(run, i) for i in (0, 1)]]
    monkeypatch.undo()
    assert contended.is_set(), "the second load never waited on the first one's LOCK"
    if ddl_race:
        assert raced.is_set(), f"the two loads did not race on {ddl_race!r}"
    return results


def test_two_concurrent_loads_of_one_table_load_every_row_and_file_once(
    mysql: pymysql.Connection, orders: Pipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = _pending_after_baseline(mysql, orders)
    results = _two_loads_at_once(orders, monkeypatch)

    winner, loser = sorted(results, key=lambda r: -r.rows_loaded)
    assert winner.files_loaded == [f.key for f in pending] and winner.rows_loaded == 202
    assert loser.files_loaded == [] and loser.rows_loaded == 0 and loser.already_loaded == 4
    assert orders.target_rows() == all_orders(mysql)
    assert pg_query(f'SELECT COUNT(*), COUNT(DISTINCT "id") FROM {orders.target}')[0] == (300, 300)
    keys = [r[0] for r in orders.ledger_rows()]
    assert keys == [f.key for f in orders.files()]


@pytest.mark.parametrize("race", ["schema-and-ledger", "target", "added-column"])
def test_two_concurrent_first_loads_race_on_ddl_and_both_succeed(
    mysql: pymysql.Connection, orders: Pipe, monkeypatch: pytest.MonkeyPatch, race: str
) -> None:
    """The first loads of a table (or of a new column) create things: both loads must succeed."""
    schema = orders.schema
    insert_orders(mysql, range(1, 251))
    if race == "schema-and-ledger":
        marker = f'CREATE TABLE IF NOT EXISTS "{schema}"."{LEDGER_TABLE}"'
    elif race == "target":
        marker = f'CREATE TABLE IF NOT EXISTS "{schema}"."orders"'
        setup = orders.warehouse()
        setup.ensure_ledger(schema)  # schema and ledger exist, the target does not
        setup.close()
    else:
        marker = 'ADD COLUMN "region"'
        setup = orders.warehouse()
        orders.extract("ext-0")
        orders.load("load-0", setup)
        setup.close()
        with mysql.cursor() as cur:
            cur.execute("ALTER TABLE orders ADD COLUMN region VARCHAR(10) NULL")
            cur.execute("UPDATE orders SET region = 'r', updated_at = '2024-12-01' WHERE id < 5")
    orders.extract("ext-1")
    files = orders.files()
    already = 3 if race == "added-column" else 0
    pending_rows = sum(f.rows for f in files[already:])

    results = _two_loads_at_once(orders, monkeypatch, ddl_race=marker)

    assert sorted(r.rows_loaded for r in results) == [0, pending_rows]
    assert sorted(r.already_loaded for r in results) == [already, len(files)]
    if race == "added-column":
        assert sorted(r.columns_added for r in results) == [[], ["region"]]
        columns = f"{ORDERS_COLUMNS}, region"
        assert orders.target_rows(columns) == mysql_rows(
            mysql, f"SELECT {columns} FROM orders ORDER BY id"
        )
    assert orders.target_rows() == all_orders(mysql)
    assert [r[0] for r in orders.ledger_rows()] == [f.key for f in files]


def test_a_finished_load_leaves_its_session_idle_not_in_a_transaction(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    """An open transaction after load() would hold locks that block the next load's DDL."""
    insert_orders(mysql, range(1, 11))
    orders.extract("ext-1")
    warehouse = orders.warehouse()
    orders.load("load-1", warehouse)
    pid = warehouse.conn.info.backend_pid
    assert pg_query("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,)) == [("idle",)]
    assert pg_query("SELECT COUNT(*) FROM pg_locks WHERE pid = %s", (pid,)) == [(0,)]


# -- 6. schema change -------------------------------------------------------------------------
def test_column_added_in_mysql_between_extractions(mysql: pymysql.Connection, orders: Pipe) -> None:
    insert_orders(mysql, range(1, 101))
    orders.extract("ext-1")
    with mysql.cursor() as cur:
        # Added in the middle: the new files' column order differs from the target's.
        cur.execute("ALTER TABLE orders ADD COLUMN region VARCHAR(10) NULL AFTER id")
        cur.execute(
            "UPDATE orders SET region = 'nörd', updated_at = '2024-09-01 00:00:00' WHERE id = 10"
        )
        cur.executemany(
            f"INSERT INTO orders ({ORDERS_COLUMNS}, region) VALUES (%s, %s, %s, %s, %s)",
            [(*order_row(i, version=1), f"r{i % 3}") for i in range(101, 121)],
        )
    orders.extract("ext-2")
    files = orders.files()
    assert [f.rows for f in files] == [100, 21]
    assert files[0].fingerprint != files[1].fingerprint

    result = orders.load("load-1")

    assert result.columns_added == ["region"]
    assert result.copies == [100, 21] and result.rows_loaded == 121 and result.table_rows == 120
    assert pg_query(
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'orders' ORDER BY ordinal_position",
        (orders.schema,),
    ) == [
        ("id", "bigint", None),
        ("amount", "numeric", None),
        ("note", "character varying", 160),
        ("updated_at", "timestamp without time zone", None),
        ("region", "character varying", 40),
    ]
    columns = f"{ORDERS_COLUMNS}, region"
    assert orders.target_rows(columns) == mysql_rows(
        mysql, f"SELECT {columns} FROM orders ORDER BY id"
    )
    nulls = pg_query(f'SELECT COUNT(*) FROM {orders.target} WHERE "region" IS NULL')[0][0]
    assert nulls == 99  # the old rows, except id 10 which came again after the change
    assert len(orders.ledger_rows()) == 2

    # Loaded separately: the target already has the column, nothing is added this time.
    with mysql.cursor() as cur:
        cur.execute("UPDATE orders SET region = 'x', updated_at = '2024-10-01' WHERE id = 1")
    orders.extract("ext-3")
    again = orders.load("load-2")
    assert again.columns_added == [] and again.copies == [1]
    assert orders.target_rows(columns) == mysql_rows(
        mysql, f"SELECT {columns} FROM orders ORDER BY id"
    )


# -- 7. full mode -----------------------------------------------------------------------------
ITEMS_DDL = "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), qty INT)"


@pytest.fixture
def items(mysql: pymysql.Connection, pipes: PipeFactory) -> Pipe:
    with mysql.cursor() as cur:
        cur.execute(ITEMS_DDL)
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s)", [(i, f"item {i}", i * 2) for i in range(1, 51)]
        )
    pipe = pipes("items", {"mode": "full"}, chunk_rows=15, file_rows=20)
    pipe.columns = "id, name, qty"
    return pipe


def all_items(mysql: pymysql.Connection) -> list[tuple[Any, ...]]:
    return mysql_rows(mysql, "SELECT id, name, qty FROM items ORDER BY id")


def test_full_mode_second_generation_replaces_the_table(
    mysql: pymysql.Connection, items: Pipe
) -> None:
    first = items.extract("snap-001")
    assert [f.rows for f in first.files] == [20, 20, 10]
    loaded = items.load("load-1")
    assert loaded.rows_loaded == 50 and loaded.table_rows == 50
    assert items.target_rows() == all_items(mysql)

    with mysql.cursor() as cur:
        cur.execute("DELETE FROM items WHERE id <= 10 OR id = 33")
        cur.execute("UPDATE items SET name = 'renamed', qty = -1 WHERE id = 20")
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s)", [(i, f"new {i}", i) for i in range(51, 56)]
        )
    second = items.extract("snap-002")
    assert second.generation != first.generation and sum(f.rows for f in second.files) == 44
    replaced = items.load("load-2")

    assert replaced.files_loaded == [f.key for f in second.files]
    assert replaced.rows_loaded == 44 and replaced.table_rows == 44
    assert items.target_rows() == all_items(mysql)
    assert pg_query(f'SELECT COUNT(*) FROM {items.target} WHERE "id" <= 10 OR "id" = 33') == [(0,)]
    ledger = items.ledger_rows()
    assert {r[0] for r in ledger} == {f.key for f in first.files + second.files}
    assert {r[0]: r[3] for r in ledger} == {
        **{f.key: "load-1" for f in first.files},
        **{f.key: "load-2" for f in second.files},
    }

    again = items.load("load-3")
    assert again.rows_loaded == 0 and again.already_loaded == len(second.files)
    assert items.target_rows() == all_items(mysql)


def test_full_mode_failed_replace_keeps_the_previous_generation(
    mysql: pymysql.Connection, items: Pipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    items.extract("snap-001")
    items.load("load-1")
    snapshot_one = all_items(mysql)
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM items WHERE id > 25")
    items.extract("snap-002")
    before = items.state()
    assert before[0] == snapshot_one

    original_copy = PostgresWarehouse.copy_into_staging
    monkeypatch.setattr(
        PostgresWarehouse,
        "copy_into_staging",
        lambda self, *a, **k: original_copy(self, *a, **k) + 5,
    )
    with pytest.raises(LoadError, match="footers"):
        items.load("load-2")
    # The DELETE of the whole table ran in the same transaction: it is undone too.
    assert items.state() == before

    monkeypatch.undo()
    items.load("load-3")
    assert items.target_rows() == all_items(mysql)
    assert len(all_items(mysql)) == 25


def test_full_mode_generation_of_an_emptied_table_empties_the_target(
    mysql: pymysql.Connection, items: Pipe
) -> None:
    items.extract("snap-001")
    items.load("load-1")
    assert len(items.target_rows() or []) == 50
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM items")
    second = items.extract("snap-002")
    assert second.rows == 0
    items.load("load-2")
    assert items.target_rows() == all_items(mysql) == []


# -- 8. types ---------------------------------------------------------------------------------
TYPES_DDL = """CREATE TABLE types (
  id INT NOT NULL PRIMARY KEY,
  d65 DECIMAL(65,30) NULL,
  bu BIGINT UNSIGNED NULL,
  txt VARCHAR(50) NULL,
  bl BLOB NULL,
  dt DATETIME(6) NULL,
  ts TIMESTAMP(6) NULL,
  da DATE NULL
) DEFAULT CHARSET=utf8mb4"""
D65 = "12345678901234567890123456789012345.123456789012345678901234567890"
EMOJI = "😀 héllo 日本 🚀"
BLOB = b"\x00\x01\x00\xff\x00" + bytes(range(256)) + b"\x00"


def test_types_reach_postgresql_exactly(mysql: pymysql.Connection, pipes: PipeFactory) -> None:
    with mysql.cursor() as cur:
        cur.execute(TYPES_DDL)
        cur.execute("SET sql_mode = ''")
        cur.execute(
            "INSERT INTO types VALUES (1, %s, 18446744073709551615, %s, %s,"
            " '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', '2024-02-29')",
            (D65, EMOJI, BLOB),
        )
        cur.execute(
            "INSERT INTO types VALUES (2, '-0.000000000000000000000000000001', 0, '', x'00',"
            " '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00')"
        )
        # Written in another session zone: TIMESTAMP is an instant, read back in UTC.
        cur.execute("SET time_zone = '+05:00'")
        cur.execute(
            "INSERT INTO types (id, dt, ts) VALUES (3, '2024-06-01 05:00:00.000001',"
            " '2024-06-01 05:00:00.000001')"
        )
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("INSERT INTO types (id) VALUES (4)")
    pipe = pipes("types", {"append_only": True}, chunk_rows=3, file_rows=3)
    pipe.extract("ext-1")
    result = pipe.load("load-1")
    assert result.rows_loaded == 4 and len(pipe.files()) == 2

    columns = dict(
        pg_query(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            (f'"{pipe.schema}"."types"',),
        )
    )
    assert columns == {
        "id": "integer",
        "d65": "character varying(67)",
        "bu": "numeric(20,0)",
        "txt": "character varying(200)",
        "bl": "bytea",
        "dt": "timestamp without time zone",
        "ts": "timestamp with time zone",
        "da": "date",
    }
    rows = pipe.target_rows("id, d65, bu, txt, bl, dt, ts, da")
    assert rows is not None
    as_bytes = [(*r[:4], None if r[4] is None else bytes(r[4]), *r[5:]) for r in rows]
    assert as_bytes == [
        (
            1, D65, Decimal(2**64 - 1), EMOJI, BLOB,
            datetime(9999, 12, 31, 23, 59, 59, 999999),
            datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
            datetime(2024, 2, 29).date(),
        ),
        (2, "-0.000000000000000000000000000001", Decimal(0), "", b"\x00", None, None, None),
        (
            3, None, None, None, None,
            datetime(2024, 6, 1, 5, 0, 0, 1),  # DATETIME: the wall clock, no zone applied
            datetime(2024, 6, 1, 0, 0, 0, 1, tzinfo=UTC),
            None,
        ),
        (4, None, None, None, None, None, None, None),
    ]  # fmt: skip
    # The exact text PostgreSQL holds: TIMESTAMPTZ rendered in UTC, bytea with its zero bytes.
    assert pg_query(
        "SELECT to_char(\"ts\" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
        f'length("bl"), length("txt"), octet_length("txt") FROM "{pipe.schema}"."types" '
        'WHERE "id" = 1'
    ) == [("2038-01-19 03:14:07.999999", len(BLOB), len(EMOJI), len(EMOJI.encode()))]
    assert mysql_rows(mysql, "SELECT COUNT(*) FROM types") == [(4,)]
