"""`validate` (and the row-count check) on partitioned tables: window by window.

Before, every time- and id-range-partitioned table read MISMATCH (source 0) straight after a
sync. Now each loaded window is counted and compared key by key and value by value on both
sides; a row deleted or changed in MySQL inside one window is a mismatch naming that window and
the key; a window never loaded is reported as not loaded, not as a mismatch.
"""

from __future__ import annotations

from typing import Any

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.maintenance.validate import TableCounts, reconcile_table, row_count_check
from mysql_redshift_assets.maintenance.windows import WindowCounts, window_of
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows, read_mysql

pytestmark = pytest.mark.mariadb
TARGETS = ["duckdb", "postgres"]
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]


def _sync(make_project, mysql_db, request, target, name: str, spec: dict[str, Any]) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, name, spec, target=target, target_schema=schema,
        chunk_rows=7, file_rows=15,
    )  # fmt: skip


def _sync_window(sync: Sync, key: str) -> None:
    """The partition's asset work: a new generation of the window, then its load."""
    window = window_of(sync.table, key)
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        watermarks = WatermarkStore(store)
        extract_table(source, store, watermarks, sync.table, run_id=f"r-{key}", window=window)
        load_table(warehouse, store, watermarks, sync.table, run_id=f"r-{key}", window=window)
    finally:
        source.close()
        warehouse.close()


def _validate(sync: Sync, partitions: list[str] | None = None) -> TableCounts:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return reconcile_table(source, WatermarkStore(store), warehouse, sync.table, partitions)
    finally:
        source.close()
        warehouse.close()


def _by_window(counts: TableCounts) -> dict[str, WindowCounts]:
    return {w.partition: w for w in counts.windows}


def _same_rows_in(mysql, sync: Sync, where: str, columns: list[str]) -> None:
    """MySQL's rows matching `where` == every row of the warehouse table, value by value."""
    table = f"(SELECT * FROM `{sync.table.source_table}` WHERE {where}) AS w"
    assert read_mysql(mysql, table, columns, ["id"]) == sync.warehouse_rows(columns, ["id"])


@pytest.mark.parametrize("target", TARGETS)
def test_time_windows_reconcile_one_by_one(mysql, mysql_db, make_project, request, target):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id INT PRIMARY KEY, kind VARCHAR(10), amount DECIMAL(10,2), "
            "created_at DATETIME(6) NOT NULL, KEY (created_at, id))"
        )
        cur.executemany(
            "INSERT INTO events VALUES (%s, 'click', %s, %s)",
            [
                (d * 100 + i, f"{i}.25", f"{day} {i:02d}:59:59.999999")
                for d, day in enumerate(DAYS)
                for i in range(20)
            ],
        )
    spec = {
        "mode": "time", "cursor": "created_at",
        "partitions": {"granularity": "daily", "start": "2024-03-01"},
    }  # fmt: skip
    sync = _sync(make_project, mysql_db, request, target, "events", spec)
    for day in DAYS[:2]:  # the third day is never loaded
        _sync_window(sync, day)
    columns = ["id", "kind", "amount", "created_at"]
    _same_rows_in(mysql, sync, "created_at < '2024-03-03'", columns)

    counts = _validate(sync)
    assert counts.verdict == "ok", counts.note
    assert (counts.source_rows, counts.warehouse_rows) == (40, 40)
    assert [(w.partition, w.verdict, w.source_rows) for w in counts.windows] == [
        ("2024-03-01", "ok", 20), ("2024-03-02", "ok", 20),
    ]  # fmt: skip
    assert all(w.values_compared for w in counts.windows)
    never = _validate(sync, ["2024-03-03"])
    assert never.verdict == "empty" and never.windows[0].verdict == "not_loaded"
    assert row_count_check(never).passed

    with mysql.cursor() as cur:
        cur.execute("DELETE FROM events WHERE id = 5")
        cur.execute("UPDATE events SET amount = 99.99 WHERE id = 107")
    counts = _validate(sync)
    windows = _by_window(counts)
    assert counts.verdict == "mismatch"
    assert windows["2024-03-01"].verdict == "mismatch" and windows["2024-03-01"].extra == 1
    assert windows["2024-03-01"].examples == {"extra": ["5"]}
    assert windows["2024-03-02"].verdict == "mismatch" and windows["2024-03-02"].changed == 1
    assert windows["2024-03-02"].examples == {"changed": ["107"]}
    assert "2024-03-01" in counts.note and "2024-03-02" in counts.note
    outcome = row_count_check(counts)
    assert not outcome.passed and outcome.error
    assert [w["verdict"] for w in outcome.metadata["windows"]] == ["mismatch", "mismatch"]
    one = _validate(sync, ["2024-03-02"])  # `--partition`: that window only
    assert [w.partition for w in one.windows] == ["2024-03-02"] and one.verdict == "mismatch"

    _sync_window(sync, "2024-03-01")  # the window's next run carries the delete
    _sync_window(sync, "2024-03-02")
    assert _validate(sync).verdict == "ok"
    _same_rows_in(mysql, sync, "created_at < '2024-03-03'", columns)


@pytest.mark.parametrize("target", TARGETS)
def test_id_range_windows_reconcile_one_by_one(mysql, mysql_db, make_project, request, target):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ledger (id BIGINT PRIMARY KEY, v VARCHAR(20), n INT)")
        cur.executemany(
            "INSERT INTO ledger VALUES (%s, %s, %s)", [(i, f"zoë {i}", i) for i in range(1, 251)]
        )
    spec = {"mode": "id_range", "id_range": {"size": 100}}
    sync = _sync(make_project, mysql_db, request, target, "ledger", spec)
    for key in ("0-100", "100-200"):  # 200-300 is never loaded
        _sync_window(sync, key)
    _same_rows_in(mysql, sync, "id < 200", ["id", "v", "n"])
    counts = _validate(sync)
    assert counts.verdict == "ok", counts.note
    assert [(w.partition, w.verdict, w.source_rows) for w in counts.windows] == [
        ("0-100", "ok", 99), ("100-200", "ok", 100),
    ]  # fmt: skip
    assert _validate(sync, ["200-300"]).windows[0].verdict == "not_loaded"

    with mysql.cursor() as cur:
        cur.execute("UPDATE ledger SET v = 'changed' WHERE id = 150")
    counts = _validate(sync)
    windows = _by_window(counts)
    assert counts.verdict == "mismatch"
    assert windows["0-100"].verdict == "ok"
    assert windows["100-200"].verdict == "mismatch"
    assert windows["100-200"].examples == {"changed": ["150"]}
    assert "100-200" in counts.note and "150" in counts.note

    # A window's newer generation extracted and not loaded yet: behind, not compared.
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    try:
        extract_table(
            source, store, WatermarkStore(store), sync.table, run_id="r-again",
            window=window_of(sync.table, "100-200"),
        )  # fmt: skip
    finally:
        source.close()
    windows = _by_window(_validate(sync))
    assert windows["100-200"].verdict == "behind" and windows["100-200"].files_pending > 0


def test_the_row_count_check_of_a_partitioned_run_reconciles_its_window(
    mysql, mysql_db, make_project, request
):
    """The Dagster check, run in a partitioned run: the run's window only, and it passes."""
    import dagster as dg

    from mysql_redshift_assets.defs.build import build_definitions
    from mysql_redshift_assets.defs.partitions import partitions_def
    from mysql_redshift_assets.defs.translator import asset_key

    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ledger (id BIGINT PRIMARY KEY, v VARCHAR(20))")
        cur.executemany("INSERT INTO ledger VALUES (%s, %s)", [(i, f"v{i}") for i in range(1, 51)])
    spec = {"mode": "id_range", "id_range": {"size": 10}}
    sync = _sync(make_project, mysql_db, request, "duckdb", "ledger", spec)
    for key in ("10-20", "20-30"):
        _sync_window(sync, key)
    pdef = partitions_def(sync.table)
    assert isinstance(pdef, dg.DynamicPartitionsDefinition) and pdef.name
    # The warehouse asset (its files are loaded already: it loads nothing) and its checks.
    checks_job = dg.define_asset_job(
        "checks_only", selection=dg.AssetSelection.assets(asset_key(sync.table, "redshift"))
    )
    defs = dg.Definitions.merge(build_definitions(sync.project), dg.Definitions(jobs=[checks_job]))
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(pdef.name, ["10-20", "20-30"])
    result = defs.resolve_job_def("checks_only").execute_in_process(
        instance=instance, partition_key="20-30"
    )
    (evaluation,) = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "row_count_reconciled"
    ]
    assert evaluation.passed, evaluation.description
    windows = evaluation.metadata["windows"].value
    assert [(w["partition"], w["verdict"], w["source_rows"]) for w in windows] == [
        ("20-30", "ok", 10)
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_time_windows_of_a_datetime_written_in_another_zone(
    mysql, mysql_db, make_project, request, target
):
    """Daily UTC windows over wall clocks written in New York: each window reads the rows whose
    UTC instant falls in it, so the load's UTC replace predicate covers exactly what was read.
    Before, a window read wall clocks as if UTC: 20:00 on 1 March in New York (01:00 UTC on the
    2nd) went into the 1st's files, and the 2nd's replace then deleted it for good."""
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE visits (id INT PRIMARY KEY, created_at DATETIME NOT NULL, "
            "KEY (created_at, id))"
        )
        cur.executemany(
            "INSERT INTO visits VALUES (%s, %s)",
            [(i, f"2024-03-0{1 + i // 24} {i % 24:02d}:30:00") for i in range(48)],
        )
    spec = {
        "mode": "time", "cursor": "created_at", "time_zone": "America/New_York",
        "partitions": {"granularity": "daily", "start": "2024-03-01"},
    }  # fmt: skip
    sync = _sync(make_project, mysql_db, request, target, "visits", spec)
    for day in ("2024-03-01", "2024-03-02", "2024-03-03"):
        _sync_window(sync, day)
    assert_same_rows(mysql, sync, ["id", "created_at"], ["id"], datetime_zone="America/New_York")
    counts = _validate(sync)
    assert counts.verdict == "ok", counts.note
    # New York is UTC-5 in early March: 1 March 19:30 local is the first row of 2 March UTC.
    assert [(w.partition, w.source_rows) for w in counts.windows] == [
        ("2024-03-01", 19), ("2024-03-02", 24), ("2024-03-03", 5),
    ]  # fmt: skip


@pytest.mark.parametrize("target", TARGETS)
def test_a_window_mismatch_reads_as_a_table_mismatch(
    mysql, mysql_db, make_project, request, target
):
    """One reconciliation path, one verdict: a window's keyed mismatch is worded as a whole
    table's (`reconcile/scope.py`), the count gap first, then what differs, by key. Before,
    windows had their own wording ("rows 1 with other values", no count gap)."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ledger (id BIGINT PRIMARY KEY, v VARCHAR(20))")
        cur.executemany("INSERT INTO ledger VALUES (%s, %s)", [(i, f"v{i}") for i in range(1, 31)])
    spec = {"mode": "id_range", "id_range": {"size": 10}}
    sync = _sync(make_project, mysql_db, request, target, "ledger", spec)
    for key in ("0-10", "10-20", "20-30"):
        _sync_window(sync, key)
    _same_rows_in(mysql, sync, "id < 30", ["id", "v"])
    with mysql.cursor() as cur:
        cur.execute("UPDATE ledger SET v = 'changed' WHERE id = 15")
        cur.execute("DELETE FROM ledger WHERE id = 25")
    windows = _by_window(_validate(sync))
    assert windows["10-20"].note == (
        "warehouse has +0 rows against the source; rows 1 with other values (stale or changed) "
        "(keys changed: 15)"
    )
    assert windows["20-30"].note == (
        "warehouse has +1 rows against the source; rows 1 not in MySQL (deleted there, or added "
        "here) (keys extra: 25)"
    )
    for key in ("10-20", "20-30"):
        _sync_window(sync, key)
    assert _validate(sync).verdict == "ok"
    _same_rows_in(mysql, sync, "id < 30", ["id", "v"])
