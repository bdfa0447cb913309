"""MariaDB -> moto S3 (or a local folder) -> DuckDB: the embedded warehouse, same guarantees.

The target schema is `wh`, the same name as the DuckDB file's catalog (`wh.duckdb`): every table
reference goes through `warehouse.ref()`, as the loader's own do.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pymysql
import pytest

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.duckdb import DuckDBWarehouse
from mysql_redshift_assets.load.request import LoadError, LoadResult
from mysql_redshift_assets.naming import LEDGER_TABLE
from mysql_redshift_assets.state.watermark import FileRecord, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import read_footer
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.orders_data import (
    ORDERS_COLUMNS,
    ORDERS_DDL,
    all_orders,
    checksum_mysql,
    insert_orders,
    mysql_rows,
    order_row,
)

pytestmark = [pytest.mark.mariadb]

SCHEMA = "wh"  # also the catalog name of <tmp>/wh.duckdb


@dataclass
class Pipe:
    project: Project
    table: TableConfig
    store: ObjectStore
    watermarks: WatermarkStore
    source: Source
    warehouse: DuckDBWarehouse
    name: str
    columns: str = ORDERS_COLUMNS

    @property
    def target(self) -> str:
        return self.warehouse.ref(SCHEMA, self.name)

    def extract(self, run_id: str) -> ExtractResult:
        return extract_table(self.source, self.store, self.watermarks, self.table, run_id=run_id)

    def load(self, run_id: str) -> LoadResult:
        result, warnings = load_table(
            self.warehouse, self.store, self.watermarks, self.table, run_id=run_id
        )
        assert warnings == []
        return result

    def files(self) -> list[FileRecord]:
        watermark = self.watermarks.load(self.table)
        assert watermark is not None
        return watermark.files

    def footer_rows(self) -> int:
        total = 0
        for f in self.files():
            fs, path = self.store.arrow_location(f.key)
            total += read_footer(path, fs).rows
        return total

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        return self.warehouse.fetchall(sql)

    def exists(self, table: str) -> bool:
        return bool(self.warehouse.table_columns(SCHEMA, table))

    def target_rows(self, columns: str | None = None) -> list[tuple[Any, ...]] | None:
        if not self.exists(self.name):
            return None
        return self.query(f"SELECT {columns or self.columns} FROM {self.target} ORDER BY 1")

    def ledger_rows(self) -> list[tuple[Any, ...]]:
        if not self.exists(LEDGER_TABLE):
            return []
        return self.query(
            "SELECT file_key, table_name, row_count, run_id, loaded_at "
            f"FROM {self.warehouse.ledger(SCHEMA)} ORDER BY file_key"
        )

    def state(self) -> tuple[Any, Any]:
        return self.target_rows(), self.ledger_rows()


PipeFactory = Callable[..., Pipe]


@pytest.fixture
def pipes(mysql: pymysql.Connection, mysql_db: str, make_project: Any) -> Iterator[PipeFactory]:
    made: list[Pipe] = []

    def make(name: str, spec: dict[str, Any], *, store: str = "s3", **pipeline: Any) -> Pipe:
        project = make_project(
            {f"{mysql_db}.{name}": spec},
            store=store,
            target="duckdb",
            target_schema=SCHEMA,
            **pipeline,
        )
        table = table_config(project.pipeline("testpipe"), f"{mysql_db}.{name}")
        object_store = open_store(project, store)
        warehouse = open_warehouse(project, "duckdb")
        assert isinstance(warehouse, DuckDBWarehouse)
        pipe = Pipe(
            project=project,
            table=table,
            store=object_store,
            watermarks=WatermarkStore(object_store),
            source=open_source(project, "mysql"),
            warehouse=warehouse,
            name=name,
        )
        made.append(pipe)
        return pipe

    yield make
    for pipe in made:
        pipe.warehouse.close()
        pipe.source.close()


def orders_pipe(mysql: pymysql.Connection, pipes: PipeFactory, store: str = "s3") -> Pipe:
    with mysql.cursor() as cur:
        cur.execute(ORDERS_DDL)
    return pipes("orders", {"cursor": "updated_at"}, store=store, chunk_rows=40, file_rows=100)


@pytest.fixture
def orders(mysql: pymysql.Connection, pipes: PipeFactory) -> Pipe:
    return orders_pipe(mysql, pipes)


def checksum_duckdb(pipe: Pipe) -> tuple[Any, ...]:
    row = pipe.query(
        'SELECT COUNT(*), SUM("id"), SUM("amount"), COUNT("note"), MAX("updated_at") '
        f"FROM {pipe.target}"
    )[0]
    return (int(row[0]), int(row[1]), Decimal(row[2]), int(row[3]), row[4])


# -- counts, checksums, ledger, second run ----------------------------------------------------
@pytest.mark.parametrize("store", [pytest.param("s3", marks=pytest.mark.s3), "local"])
def test_counts_checksums_ledger_and_a_second_run_that_loads_nothing(
    mysql: pymysql.Connection, pipes: PipeFactory, store: str
) -> None:
    orders = orders_pipe(mysql, pipes, store)
    insert_orders(mysql, range(1, 251))
    extracted = orders.extract("ext-1")
    assert [f.rows for f in extracted.files] == [100, 100, 50]
    if store == "local":
        assert orders.store.uri(extracted.files[0].key).startswith("file://")

    result = orders.load("load-1")

    assert mysql_rows(mysql, "SELECT COUNT(*) FROM orders") == [(250,)]
    assert orders.footer_rows() == 250
    assert result.rows_loaded == 250 and result.table_rows == 250 and result.copies == [250]
    assert orders.query(f"SELECT COUNT(*) FROM {orders.target}") == [(250,)]
    assert checksum_duckdb(orders) == checksum_mysql(mysql)
    assert checksum_mysql(mysql)[3] == 188
    assert orders.target_rows() == all_orders(mysql)

    files = orders.files()
    ledger = orders.ledger_rows()
    assert [r[:4] for r in ledger] == [(f.key, f"{SCHEMA}.orders", f.rows, "load-1") for f in files]
    now = datetime.now(UTC).replace(tzinfo=None)
    assert all(now - timedelta(minutes=5) <= r[4] <= now for r in ledger)  # UTC, not local

    again = orders.load("load-2")
    assert again.rows_loaded == 0 and again.files_loaded == [] and again.copies == []
    assert again.already_loaded == 3 and again.table_rows == 250
    assert orders.ledger_rows() == ledger
    assert orders.target_rows() == all_orders(mysql)


def test_the_memory_limit_is_the_configured_one_and_loads_stay_exact(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    setting = "SELECT current_setting('memory_limit')"
    assert orders.query(setting) == [("953.6 MiB",)]  # the config's default, 1GB
    path = orders.warehouse.path
    orders.warehouse.close()
    orders.warehouse = DuckDBWarehouse("duckdb", path, memory_limit="64MB")
    insert_orders(mysql, range(1, 251))
    orders.extract("ext-1")

    result = orders.load("load-1")

    assert orders.query(setting) == [("61.0 MiB",)]
    assert result.rows_loaded == 250 and result.table_rows == 250
    assert checksum_duckdb(orders) == checksum_mysql(mysql)
    assert orders.target_rows() == all_orders(mysql)


# -- merge ------------------------------------------------------------------------------------
def test_updates_are_merged_not_doubled_and_the_latest_version_wins_in_a_batch(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    insert_orders(mysql, range(1, 101))
    orders.extract("ext-1")
    orders.load("load-1")

    insert_orders(mysql, [5, 50, 100], version=1)
    insert_orders(mysql, range(101, 106))
    orders.extract("ext-2")
    merged = orders.load("load-2")
    assert merged.rows_loaded == 8 and merged.table_rows == 105
    assert orders.target_rows() == all_orders(mysql)
    assert orders.query(f'SELECT COUNT(*), COUNT(DISTINCT "id") FROM {orders.target}') == [
        (105, 105)
    ]

    # One key in two files of ONE load batch: the later cursor wins.
    insert_orders(mysql, [7, 8], version=2)
    orders.extract("ext-3")
    insert_orders(mysql, [7], version=3)
    orders.extract("ext-4")
    batch = orders.load("load-3")
    assert batch.copies == [3] and batch.table_rows == 105
    by_id = {r[0]: r for r in orders.target_rows()}
    assert by_id[7] == order_row(7, version=3) and by_id[8] == order_row(8, version=2)
    assert orders.target_rows() == all_orders(mysql)
    assert checksum_duckdb(orders) == checksum_mysql(mysql)


# -- failures ---------------------------------------------------------------------------------
def _pending_after_baseline(mysql: pymysql.Connection, orders: Pipe) -> list[FileRecord]:
    insert_orders(mysql, range(1, 101))
    orders.extract("ext-1")
    orders.load("load-1")
    insert_orders(mysql, [3, 30], version=1)
    insert_orders(mysql, range(101, 301))
    orders.extract("ext-2")
    pending = orders.files()[1:]
    assert [f.rows for f in pending] == [100, 100, 2]
    return pending


@pytest.mark.s3
@pytest.mark.parametrize("which", [0, 2], ids=["first-pending-file", "last-pending-file"])
def test_unreadable_file_leaves_warehouse_and_ledger_as_before(
    mysql: pymysql.Connection, orders: Pipe, which: int
) -> None:
    pending = _pending_after_baseline(mysql, orders)
    before = orders.state()
    assert len(before[0]) == 100 and len(before[1]) == 1

    broken = pending[which]
    original = orders.store.get_bytes(broken.key)
    assert original is not None and original[:4] == b"PAR1"
    orders.store.put_bytes(b"\x00garbage, not parquet\xff" * 40, broken.key)

    with pytest.raises(LoadError, match="rolled back"):
        orders.load("load-broken")
    assert orders.state() == before
    # The same connection still works after the rollback.
    assert orders.query("SELECT 1") == [(1,)]

    orders.store.put_bytes(original, broken.key)
    result = orders.load("load-fixed")
    assert result.files_loaded == [f.key for f in pending] and result.rows_loaded == 202
    assert orders.target_rows() == all_orders(mysql)
    assert checksum_duckdb(orders) == checksum_mysql(mysql)
    assert [r[3] for r in orders.ledger_rows()] == [
        "load-1",
        "load-fixed",
        "load-fixed",
        "load-fixed",
    ]


@pytest.mark.s3
def test_unreadable_only_file_of_a_first_load_is_a_load_error(
    mysql: pymysql.Connection, orders: Pipe
) -> None:
    insert_orders(mysql, range(1, 21))
    orders.extract("ext-1")
    (only,) = orders.files()
    original = orders.store.get_bytes(only.key)
    assert original is not None
    orders.store.put_bytes(b"garbage" * 100, only.key)

    with pytest.raises(LoadError, match=f"cannot read {orders.store.uri(only.key)}"):
        orders.load("load-broken")
    assert orders.target_rows() in (None, []) and orders.ledger_rows() == []

    orders.store.put_bytes(original, only.key)
    assert orders.load("load-fixed").rows_loaded == 20
    assert orders.target_rows() == all_orders(mysql)


@pytest.mark.s3
def test_count_mismatch_rolls_back(
    mysql: pymysql.Connection, orders: Pipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    pending = _pending_after_baseline(mysql, orders)
    before = orders.state()
    original_copy = DuckDBWarehouse.copy_into_staging
    monkeypatch.setattr(
        DuckDBWarehouse,
        "copy_into_staging",
        lambda self, *a, **k: original_copy(self, *a, **k) + 1,
    )
    with pytest.raises(LoadError, match=r"203 rows but the files' footers hold 202"):
        orders.load("load-miscounted")
    assert orders.state() == before

    monkeypatch.undo()
    assert orders.load("load-after").files_loaded == [f.key for f in pending]
    assert orders.target_rows() == all_orders(mysql)


# -- schema change ----------------------------------------------------------------------------
@pytest.mark.s3
def test_column_added_between_extractions(mysql: pymysql.Connection, orders: Pipe) -> None:
    insert_orders(mysql, range(1, 51))
    orders.extract("ext-1")
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE orders ADD COLUMN region VARCHAR(10) NULL AFTER id")
        cur.execute("UPDATE orders SET region = 'x', updated_at = '2024-09-01' WHERE id = 2")
        cur.executemany(
            f"INSERT INTO orders ({ORDERS_COLUMNS}, region) VALUES (%s, %s, %s, %s, %s)",
            [(*order_row(i, version=1), f"r{i}") for i in range(51, 61)],
        )
    orders.extract("ext-2")

    result = orders.load("load-1")

    assert result.columns_added == ["region"] and result.copies == [50, 11]
    columns = f"{ORDERS_COLUMNS}, region"
    assert orders.target_rows(columns) == mysql_rows(
        mysql, f"SELECT {columns} FROM orders ORDER BY id"
    )
    assert orders.query(f'SELECT COUNT(*) FROM {orders.target} WHERE "region" IS NULL') == [(49,)]


# -- full mode --------------------------------------------------------------------------------
@pytest.mark.s3
def test_full_mode_replaces_the_table(mysql: pymysql.Connection, pipes: PipeFactory) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), qty INT)")
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s)", [(i, f"item {i}", i) for i in range(1, 41)]
        )
    items = pipes("items", {"mode": "full"}, chunk_rows=15, file_rows=20)
    items.columns = "id, name, qty"

    def all_items() -> list[tuple[Any, ...]]:
        return mysql_rows(mysql, "SELECT id, name, qty FROM items ORDER BY id")

    first = items.extract("snap-001")
    assert items.load("load-1").table_rows == 40
    assert items.target_rows() == all_items()

    with mysql.cursor() as cur:
        cur.execute("DELETE FROM items WHERE id % 3 = 0")
        cur.execute("UPDATE items SET qty = -1 WHERE id = 1")
    second = items.extract("snap-002")
    replaced = items.load("load-2")

    assert replaced.rows_loaded == 27 and replaced.table_rows == 27
    assert items.target_rows() == all_items()
    assert items.query(f'SELECT COUNT(*) FROM {items.target} WHERE "id" % 3 = 0') == [(0,)]
    assert {r[0]: r[3] for r in items.ledger_rows()} == {
        **{f.key: "load-1" for f in first.files},
        **{f.key: "load-2" for f in second.files},
    }
    assert items.load("load-3").rows_loaded == 0
    assert items.target_rows() == all_items()


# -- time zones -------------------------------------------------------------------------------
@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with monkeypatch.context() as patch:
        patch.setenv("TZ", "America/New_York")
        time.tzset()
        try:
            yield
        finally:
            patch.undo()
            time.tzset()


TIMES = [
    "2024-01-15 12:00:00.000000",
    "2024-03-10 02:30:00.250000",  # does not exist in New York (spring forward)
    "2024-11-03 01:30:00.000001",  # exists twice in New York (fall back)
    "2024-07-01 23:59:59.999999",
    "1970-01-01 00:00:00.000000",
]


@pytest.mark.s3
def test_duckdb_timestamps_equal_mysql_datetimes_whatever_the_process_time_zone(
    new_york: None, mysql: pymysql.Connection, pipes: PipeFactory
) -> None:
    # The environment really is hostile: local time and a fresh DuckDB are New York.
    assert time.strftime("%Z", time.localtime(0)) == "EST"
    probe = duckdb.connect()
    assert probe.execute("SELECT current_setting('TimeZone')").fetchone() == ("America/New_York",)
    probe.close()

    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id INT PRIMARY KEY, dt DATETIME(6) NOT NULL, ts TIMESTAMP(6) NULL)"
        )
        cur.executemany(
            "INSERT INTO events VALUES (%s, %s, %s)",
            [(i, t, None if t.startswith("1970") else t) for i, t in enumerate(TIMES, 1)],
        )
    events = pipes("events", {"append_only": True}, chunk_rows=2, file_rows=2)
    events.columns = "id, dt, ts"
    events.extract("ext-1")
    assert events.load("load-1").rows_loaded == len(TIMES)

    assert events.query("SELECT current_setting('TimeZone')") == [("UTC",)]
    source = mysql_rows(mysql, "SELECT id, dt, ts FROM events ORDER BY id")  # session zone UTC
    expected = [(i, dt, None if ts is None else ts.replace(tzinfo=UTC)) for i, dt, ts in source]
    assert events.target_rows() == expected
    assert [r[1] for r in expected] == [datetime.fromisoformat(t) for t in TIMES]
    # Text, as anyone querying the warehouse sees it: the MySQL wall clock, unshifted.
    assert events.query(
        f'SELECT strftime("dt", \'%Y-%m-%d %H:%M:%S.%f\') FROM {events.target} ORDER BY "id"'
    ) == [(t,) for t in TIMES]
    types = dict(
        events.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema = '{SCHEMA}' AND table_name = 'events'"
        )
    )
    assert types == {"id": "INTEGER", "dt": "TIMESTAMP", "ts": "TIMESTAMP WITH TIME ZONE"}
