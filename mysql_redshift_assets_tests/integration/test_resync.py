"""Resync (issue 15, item 2) and the blocking schema_drift check, on DuckDB and PostgreSQL.

A resync re-extracts a table into a new generation and swaps it in in one transaction; a crash
at any step leaves the old table readable and the next resync or sync correct.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.load.evolve import SchemaChangeRefused
from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.maintenance import resync as resync_module
from mysql_redshift_assets.maintenance.resync import (
    ResyncError,
    ResyncResult,
    extract_generation,
    resync_table,
)
from mysql_redshift_assets.maintenance.windows import window_of
from mysql_redshift_assets.naming import (
    ledger_entry_name,
    pipeline_job_name,
    resync_job_name,
    resync_op_name,
    watermark_key,
)
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.drift import check_schema
from mysql_redshift_assets.sync.table import SyncRun, TableSync
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "amount", "note", "updated_at"]
RENAMED = ["id", "amount", "remark", "updated_at"]


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest) -> dict[str, Any]:
    pipeline: dict[str, Any] = {"target": request.param}
    if request.param == "postgres":
        pipeline["target_schema"] = request.getfixturevalue("pg_schema")
    return pipeline


def _create(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(40), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, '2024-05-01' + INTERVAL %s HOUR)",
            [(i, f"{i}.25", f"note {i}", i) for i in range(1, 61)],
        )


def _rename(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE orders RENAME COLUMN note TO remark")
        cur.execute("UPDATE orders SET remark = 'changed', updated_at = '2024-07-01' WHERE id < 4")


@pytest.fixture
def orders(mysql, mysql_db, make_project, target) -> Sync:
    _create(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    return sync


def resync(sync: Sync, run_id: str = "resync-1") -> None:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        resync_table(source, store, warehouse, sync.table, run_id=run_id)
    finally:
        warehouse.close()
        source.close()


def warehouse_columns(sync: Sync) -> list[str]:
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return warehouse.table_columns(sync.table.target_schema, "orders")
    finally:
        warehouse.close()


def watermark_bytes(sync: Sync) -> bytes | None:
    return open_store(sync.project, sync.table.store).get_bytes(watermark_key(sync.table))


def test_a_crash_while_extracting_leaves_the_old_state_and_the_next_resync_is_exact(
    mysql, orders: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rename(mysql)
    before = (watermark_bytes(orders), orders.warehouse_rows(COLUMNS, ["id"]))
    real = resync_module.read_table

    def dies_after_one_batch(source, scan):
        yield next(iter(real(source, scan)))
        raise ConnectionError("MySQL went away")

    with monkeypatch.context() as patched, pytest.raises(ConnectionError):
        patched.setattr(resync_module, "read_table", dies_after_one_batch)
        resync(orders)
    assert (watermark_bytes(orders), orders.warehouse_rows(COLUMNS, ["id"])) == before

    resync(orders, "resync-2")
    assert_same_rows(mysql, orders, RENAMED, ["id"])


def test_a_crash_in_the_swap_keeps_the_old_table_and_the_next_sync_swaps(
    mysql, orders: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rename(mysql)
    old_rows = orders.warehouse_rows(COLUMNS, ["id"])

    def crash(*args: Any) -> list[str]:
        raise RuntimeError("killed before the rename")

    with monkeypatch.context() as patched:
        patched.setattr("mysql_redshift_assets.load.swap.swap_statements", crash)
        with pytest.raises(LoadError, match="old table and the ledger are unchanged"):
            resync(orders)
    # The old table, as it was, is what readers see; the watermark already names the
    # generation, so the next ordinary sync swaps it in and goes on from its position.
    assert orders.warehouse_rows(COLUMNS, ["id"]) == old_rows
    with mysql.cursor() as cur:
        cur.execute("UPDATE orders SET amount = 9.99, updated_at = '2024-08-01' WHERE id = 50")
    extracted, loaded = orders.run("after-crash")
    assert extracted.rows >= 1
    assert_same_rows(mysql, orders, RENAMED, ["id"])


def test_resync_without_a_change_starts_the_table_over(mysql, orders: Sync) -> None:
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM orders WHERE id > 50")  # deletes the sync does not see
    store = open_store(orders.project, orders.table.store)
    source = open_source(orders.project, orders.table.source)
    warehouse = open_warehouse(orders.project, orders.table.target)
    try:
        result = resync_table(source, store, warehouse, orders.table, run_id="resync-1")
    finally:
        warehouse.close()
        source.close()
    assert result.rows_extracted == 50 and result.load.rows_loaded == 50
    assert result.load.files_loaded == [f.key for f in result.files]
    assert_same_rows(mysql, orders, COLUMNS, ["id"])
    watermark = WatermarkStore(open_store(orders.project, orders.table.store)).load(orders.table)
    assert watermark is not None and watermark.position is not None
    assert [f.generation for f in watermark.files] == [watermark.generations[0].id]


def test_a_resync_generation_is_recorded_in_one_watermark_write(
    mysql, orders: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(orders.project, orders.table.store)
    saves: list[str] = []
    real_save = WatermarkStore.save

    def counting_save(self, table, watermark):
        saves.append(watermark.lineage or "")
        real_save(self, table, watermark)

    monkeypatch.setattr(WatermarkStore, "save", counting_save)
    source = open_source(orders.project, orders.table.source)
    try:
        extract_generation(source, store, WatermarkStore(store), orders.table, run_id="r")
    finally:
        source.close()
    assert len(saves) == 1


def test_a_full_table_whose_shape_changed_is_swapped_in_by_its_sync(
    mysql, mysql_db, make_project, target
) -> None:
    _create(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"mode": "full"}, **target)
    sync.run("first")
    _rename(mysql)
    sync.run("second")
    assert_same_rows(mysql, sync, RENAMED, ["id"])
    assert warehouse_columns(sync) == RENAMED  # MySQL's shape, no stale `note`


def test_the_drift_check_compares_mysql_files_and_warehouse(mysql, orders: Sync) -> None:
    def check():
        store = open_store(orders.project, orders.table.store)
        source = open_source(orders.project, orders.table.source)
        warehouse = open_warehouse(orders.project, orders.table.target)
        try:
            return check_schema(source, store, warehouse, orders.table)
        finally:
            source.close()
            warehouse.close()

    assert check().passed
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE orders MODIFY amount DECIMAL(12,4)")
    widened = check()
    assert widened.passed and [c.column for c in widened.applied] == ["amount"]
    _rename(mysql)
    # Not extracted yet: the files still say `note`, MySQL says `remark`; the check sees it.
    renamed = check()
    assert not renamed.passed
    assert "column 'note'" in renamed.message and "mysql-redshift resync" in renamed.message


def test_cli_resync(mysql, orders: Sync) -> None:
    _rename(mysql)
    argv = ["--pipelines-dir", str(orders.project.root), "resync", "-p", "testpipe"]
    assert main([*argv, "-t", orders.table.qualified]) == 0
    assert_same_rows(mysql, orders, RENAMED, ["id"])
    assert warehouse_columns(orders) == RENAMED


def test_dagster_blocks_the_load_on_a_refused_change_and_the_resync_job_resolves_it(
    mysql, mysql_db, make_project
) -> None:
    _create(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"})
    defs = build_definitions(sync.project)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def(pipeline_job_name("testpipe"))
    assert job.execute_in_process(instance=instance).success
    _rename(mysql)
    before = sync.warehouse_rows(COLUMNS, ["id"])

    blocked = job.execute_in_process(instance=instance, raise_on_error=False)

    assert not blocked.success
    loaded = [e for e in blocked.get_asset_materialization_events()
              if e.asset_key.path[-1] == "redshift"]  # fmt: skip
    assert loaded == []
    assert sync.warehouse_rows(COLUMNS, ["id"]) == before
    config = {"ops": {resync_op_name("testpipe"): {"config": {"table": sync.table.qualified}}}}
    resync_job = defs.resolve_job_def(resync_job_name("testpipe"))
    assert resync_job.execute_in_process(run_config=config, instance=instance).success
    assert_same_rows(mysql, sync, RENAMED, ["id"])
    assert job.execute_in_process(instance=instance).success


# -- partitioned tables: every window re-extracted, all swapped in at once ---------------------

DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
EVENT_COLUMNS = ["id", "kind", "n", "created_at"]
LEDGER_COLUMNS = ["id", "label", "n"]


def _partitioned(make_project, mysql_db, target, name: str, spec: dict[str, Any]) -> Sync:
    return Sync.of(make_project, mysql_db, name, spec, chunk_rows=7, file_rows=15, **target)


def sync_window(sync: Sync, key: str, run_id: str | None = None) -> None:
    """The partition's asset work: a new generation of the window, then its load."""
    run = SyncRun(run_id or f"r-{key}", windows=[window_of(sync.table, key)])
    with Clients(sync.project) as clients:
        TableSync(sync.table, clients, run).run().raise_failure()


def loaded_keys(sync: Sync) -> set[str]:
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return warehouse.loaded_keys(sync.table.target_schema, ledger_entry_name(sync.table))
    finally:
        warehouse.close()


@pytest.fixture
def events(mysql, mysql_db, make_project, target) -> Sync:
    """A daily time-partitioned table, its three days synced window by window."""
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id INT PRIMARY KEY, kind VARCHAR(10), n INT, "
            "created_at DATETIME(6) NOT NULL, KEY (created_at, id))"
        )
        cur.executemany(
            "INSERT INTO events VALUES (%s, 'click', %s, %s)",
            [
                (d * 100 + i, i, f"{day} {i:02d}:59:59.999999")
                for d, day in enumerate(DAYS)
                for i in range(20)
            ],
        )
    spec = {
        "mode": "time", "cursor": "created_at",
        "partitions": {"granularity": "daily", "start": "2024-03-01"},
    }  # fmt: skip
    sync = _partitioned(make_project, mysql_db, target, "events", spec)
    for day in DAYS:
        sync_window(sync, day)
    assert_same_rows(mysql, sync, EVENT_COLUMNS, ["id"])
    return sync


@pytest.fixture
def id_ranges(mysql, mysql_db, make_project, target) -> Sync:
    """An id-range-partitioned table, its three ranges synced window by window."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ledger (id BIGINT PRIMARY KEY, v VARCHAR(20), n INT)")
        cur.executemany(
            "INSERT INTO ledger VALUES (%s, %s, %s)", [(i, f"zoë {i}", i) for i in range(1, 251)]
        )
    spec = {"mode": "id_range", "id_range": {"size": 100}}
    sync = _partitioned(make_project, mysql_db, target, "ledger", spec)
    for key in ("0-100", "100-200", "200-300"):
        sync_window(sync, key)
    assert_same_rows(mysql, sync, ["id", "v", "n"], ["id"])
    return sync


def _assert_one_new_generation_per_window(sync: Sync, before: bytes | None, keys: list[str]):
    """The watermark: a new lineage holding one complete generation of each window, all of
    whose files the ledger holds."""
    store = open_store(sync.project, sync.table.store)
    assert before is not None
    watermark = WatermarkStore(store).load(sync.table)
    assert watermark is not None
    assert watermark.lineage != json.loads(before)["lineage"]
    assert [(g.partition, g.complete) for g in watermark.generations] == [(k, True) for k in keys]
    assert {f.key for f in watermark.files} <= loaded_keys(sync)


def test_a_time_partitioned_table_with_a_refused_change_is_resynced_whole(
    mysql, events: Sync
) -> None:
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE events MODIFY n VARCHAR(20)")  # INT -> VARCHAR: refused
        cur.execute("UPDATE events SET n = CONCAT('#', n), kind = 'view' WHERE id IN (3, 104)")
        cur.execute("DELETE FROM events WHERE id = 210")
    with pytest.raises(SchemaChangeRefused) as refused:
        sync_window(events, "2024-03-02", "r-refused")
    message = str(refused.value)
    assert f"`mysql-redshift resync -p testpipe -t {events.table.qualified}`" in message
    assert "--partition-range" not in message
    before = watermark_bytes(events)

    result = _resync(events, "resync-1")

    assert result.windows == DAYS
    assert result.rows_extracted == 59 and result.load.rows_loaded == 59
    assert result.load.files_loaded == [f.key for f in result.files]
    assert_same_rows(mysql, events, EVENT_COLUMNS, ["id"])
    _assert_one_new_generation_per_window(events, before, DAYS)
    # The windows go on as before: each window's next run replaces its window.
    with mysql.cursor() as cur:
        cur.execute("UPDATE events SET n = 'later' WHERE id = 111")
        cur.execute("DELETE FROM events WHERE id = 112")
        cur.execute("INSERT INTO events VALUES (150, 'new', 'x', '2024-03-02 23:30:00')")
    sync_window(events, "2024-03-02", "r-after")
    assert_same_rows(mysql, events, EVENT_COLUMNS, ["id"])


def test_an_id_range_table_with_a_renamed_column_is_resynced_by_the_cli(
    mysql, id_ranges: Sync
) -> None:
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE ledger RENAME COLUMN v TO label")
        cur.execute("UPDATE ledger SET label = 'changed' WHERE id IN (5, 150, 250)")
    with pytest.raises(SchemaChangeRefused, match="mysql-redshift resync -p testpipe"):
        sync_window(id_ranges, "100-200", "r-refused")
    before = watermark_bytes(id_ranges)
    argv = ["--pipelines-dir", str(id_ranges.project.root), "resync", "-p", "testpipe"]

    assert main([*argv, "-t", id_ranges.table.qualified]) == 0

    assert_same_rows(mysql, id_ranges, LEDGER_COLUMNS, ["id"])
    assert warehouse_columns_of(id_ranges, "ledger") == LEDGER_COLUMNS
    _assert_one_new_generation_per_window(id_ranges, before, ["0-100", "100-200", "200-300"])
    with mysql.cursor() as cur:
        cur.execute("UPDATE ledger SET label = 'again', n = -1 WHERE id = 220")
        cur.execute("DELETE FROM ledger WHERE id = 221")
        cur.execute("INSERT INTO ledger VALUES (299, 'last', 299)")
    sync_window(id_ranges, "200-300", "r-after")
    assert_same_rows(mysql, id_ranges, LEDGER_COLUMNS, ["id"])


def test_the_resync_job_resyncs_a_partitioned_table(mysql, id_ranges: Sync) -> None:
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE ledger RENAME COLUMN v TO label")
    defs = build_definitions(id_ranges.project)
    config = {"ops": {resync_op_name("testpipe"): {"config": {"table": id_ranges.table.qualified}}}}
    job = defs.resolve_job_def(resync_job_name("testpipe"))
    assert job.execute_in_process(
        run_config=config, instance=dg.DagsterInstance.ephemeral()
    ).success
    assert_same_rows(mysql, id_ranges, LEDGER_COLUMNS, ["id"])


def test_a_crash_while_extracting_a_window_leaves_the_old_table_and_watermark(
    mysql, events: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE events MODIFY n VARCHAR(20)")
        cur.execute("UPDATE events SET n = 'changed' WHERE id = 5")
    before = (watermark_bytes(events), events.warehouse_rows(EVENT_COLUMNS, ["id"]))
    real = resync_module.read_table
    scans: list[object] = []

    def dies_in_the_second_window(source, scan):
        scans.append(scan)
        batches = iter(real(source, scan))
        if len(scans) == 2:  # the first window is in the store already
            yield next(batches)
            raise ConnectionError("MySQL went away")
        yield from batches

    with monkeypatch.context() as patched, pytest.raises(ConnectionError):
        patched.setattr(resync_module, "read_table", dies_in_the_second_window)
        _resync(events, "resync-1")
    assert len(scans) == 2
    assert (watermark_bytes(events), events.warehouse_rows(EVENT_COLUMNS, ["id"])) == before

    _resync(events, "resync-2")
    assert_same_rows(mysql, events, EVENT_COLUMNS, ["id"])


def test_a_crash_in_the_swap_of_the_windows_keeps_the_old_table(
    mysql, id_ranges: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE ledger RENAME COLUMN v TO label")
    old_rows = id_ranges.warehouse_rows(["id", "v", "n"], ["id"])

    def crash(*args: Any) -> list[str]:
        raise RuntimeError("killed before the rename")

    with monkeypatch.context() as patched:
        patched.setattr("mysql_redshift_assets.load.swap.swap_statements", crash)
        with pytest.raises(LoadError, match="old table and the ledger are unchanged"):
            _resync(id_ranges, "resync-1")
    assert warehouse_columns_of(id_ranges, "ledger") == ["id", "v", "n"]
    assert id_ranges.warehouse_rows(["id", "v", "n"], ["id"]) == old_rows
    _resync(id_ranges, "resync-2")  # run again: re-extracted and swapped in
    assert_same_rows(mysql, id_ranges, LEDGER_COLUMNS, ["id"])


def test_a_partitioned_table_with_no_window_extracted_is_refused(
    mysql, mysql_db, make_project, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ledger (id BIGINT PRIMARY KEY, v VARCHAR(20), n INT)")
    spec = {"mode": "id_range", "id_range": {"size": 100}}
    sync = _partitioned(make_project, mysql_db, target, "ledger", spec)
    with pytest.raises(ResyncError, match="no window extracted yet"):
        _resync(sync)
    assert watermark_bytes(sync) is None


def _resync(sync: Sync, run_id: str = "resync-1") -> ResyncResult:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return resync_table(source, store, warehouse, sync.table, run_id=run_id)
    finally:
        warehouse.close()
        source.close()


def warehouse_columns_of(sync: Sync, name: str) -> list[str]:
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return warehouse.table_columns(sync.table.target_schema, name)
    finally:
        warehouse.close()


def test_warehouse_rows_outside_every_extracted_window_refuse_the_resync(
    mysql, id_ranges: Sync
) -> None:
    """The swap keeps the extracted windows only: a row in no window (loaded under a watermark
    since removed, or written by hand) is never dropped silently."""
    warehouse = open_warehouse(id_ranges.project, id_ranges.table.target)
    try:
        ref = warehouse.ref(id_ranges.table.target_schema, "ledger")
        warehouse.execute(f"INSERT INTO {ref} VALUES (1000, 'by hand', 1)")
        warehouse.commit()
    finally:
        warehouse.close()
    before = (watermark_bytes(id_ranges), id_ranges.warehouse_rows(["id", "v", "n"], ["id"]))
    with pytest.raises(ResyncError, match="1 row.* in no extracted window") as refused:
        _resync(id_ranges)
    assert "--partition" in str(refused.value)
    assert (
        watermark_bytes(id_ranges),
        id_ranges.warehouse_rows(["id", "v", "n"], ["id"]),
    ) == before
