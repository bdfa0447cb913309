"""Generations read while write transactions are open (issue 22, defect 1): real concurrent
MariaDB sessions, then MySQL == the warehouse row by row on DuckDB and PostgreSQL.

A generation replaces what the warehouse holds, so it reads everything its MySQL snapshot sees
(never cut at the open-transaction bound); the increments after it start at or before the
bound computed before the snapshot opened, so the rows the open transactions commit later are
read by the next sync.

The module runs on a private MariaDB: its open transactions would hold every other test's
bound (INNODB_TRX is server-wide).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from mysql_redshift_assets.cli.sync_partitions import partitioned_runs
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.maintenance import resync as resync_module
from mysql_redshift_assets.maintenance.resync import ResyncResult, resync_table
from mysql_redshift_assets.maintenance.validate import reconcile_table
from mysql_redshift_assets.maintenance.windows import window_of
from mysql_redshift_assets.naming import id_range_sensor_name, schedule_name, table_job_name
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync import extract as extract_module
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows, read_mysql
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(private_mariadb):
    return private_mariadb


def resync(sync: Sync, run_id: str = "resync-1") -> ResyncResult:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return resync_table(source, store, warehouse, sync.table, run_id=run_id)
    finally:
        warehouse.close()
        source.close()


def writer_elsewhere(mysql, mysql_sessions) -> Any:
    """A session holding a write transaction open on another table."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE other_table (id INT PRIMARY KEY)")
    app = mysql_sessions()
    app.begin()
    with app.cursor() as cur:
        cur.execute("INSERT INTO other_table VALUES (1)")
    time.sleep(1.2)  # what is written from now on is stamped after its start, in a later second
    return app


@pytest.mark.parametrize("target", TARGETS)
def test_an_append_only_resync_while_a_transaction_is_open_elsewhere_keeps_every_row(
    mysql, mysql_db, mysql_sessions, make_project, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ap (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO ap (v) VALUES (%s)", [(i,) for i in range(10_200)])
    sync = sync_on(
        request, make_project, mysql_db, "ap", {"append_only": True}, target,
        late_commit_window_seconds=0,  # the bound alone: no re-read hides a wrong position
    )  # fmt: skip
    sync.run("first")
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])
    app = writer_elsewhere(mysql, mysql_sessions)
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO ap (v) VALUES (%s)", [(i,) for i in range(10)])

    result = resync(sync)
    assert result.rows_extracted == 10_210
    assert result.load.table_rows == 10_210
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])

    # The open transaction now writes the table too (an id allocated, not committed), and a
    # later id commits first; a second resync sees the later one, and neither resync may move
    # the increments past the earlier one.
    with app.cursor() as cur:
        cur.execute("INSERT INTO ap (v) VALUES (-1)")
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO ap (v) VALUES (-2)")
    result = resync(sync, "resync-2")
    assert result.rows_extracted == 10_211
    app.commit()
    sync.run("after")  # nothing open now: this run's own sample is safe
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])


@pytest.mark.parametrize("target", TARGETS)
def test_a_cursor_resync_while_a_transaction_is_open_elsewhere_keeps_later_updates(
    mysql, mysql_db, mysql_sessions, make_project, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE cu (id INT PRIMARY KEY, v INT, updated_at DATETIME(6) NOT NULL "
            "DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6), KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO cu VALUES (%s, %s, '2024-05-01' + INTERVAL %s SECOND)",
            [(i, i, i) for i in range(1, 10_001)],
        )
    sync = sync_on(
        request, make_project, mysql_db, "cu", {"cursor": "updated_at"}, target,
        late_commit_window_seconds=0,
    )  # fmt: skip
    sync.run("first")
    app = writer_elsewhere(mysql, mysql_sessions)
    with mysql.cursor() as cur:
        cur.execute("UPDATE cu SET v = -v WHERE id BETWEEN 201 AND 400")  # autocommit

    result = resync(sync)
    assert result.rows_extracted == 10_000
    assert result.load.table_rows == 10_000
    assert_same_rows(mysql, sync, ["id", "v", "updated_at"], ["id"])

    # The open transaction now updates and inserts rows of this table (stamped now), then later
    # updates commit first; a second resync sees those, and neither resync may move the
    # increments past the open transaction's rows.
    with app.cursor() as cur:
        cur.execute("UPDATE cu SET v = 0 WHERE id BETWEEN 401 AND 410")
        cur.execute("INSERT INTO cu (id, v) VALUES (10001, 1), (10002, 2)")
    time.sleep(0.01)
    with mysql.cursor() as cur:
        cur.execute("UPDATE cu SET v = -v WHERE id BETWEEN 421 AND 430")
    result = resync(sync, "resync-2")
    assert result.rows_extracted == 10_000
    app.commit()
    sync.run("after")
    assert_same_rows(mysql, sync, ["id", "v", "updated_at"], ["id"])


@pytest.mark.parametrize("target", TARGETS)
def test_a_full_table_read_while_transactions_are_open_is_its_whole_snapshot(
    mysql, mysql_db, mysql_sessions, make_project, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE fu (id INT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO fu VALUES (%s, %s)", [(i, i) for i in range(1, 1001)])
    sync = sync_on(request, make_project, mysql_db, "fu", {"mode": "full"}, target)
    app = writer_elsewhere(mysql, mysql_sessions)
    with app.cursor() as cur:  # uncommitted: not in the snapshot, not in the warehouse yet
        cur.execute("UPDATE fu SET v = 0 WHERE id <= 10")
        cur.execute("INSERT INTO fu VALUES (2001, 1)")
    with mysql.cursor() as cur:  # committed, stamped after the open transaction began
        cur.execute("UPDATE fu SET v = -v WHERE id BETWEEN 21 AND 30")
        cur.executemany("INSERT INTO fu VALUES (%s, %s)", [(i, i) for i in range(1001, 1011)])
    extracted, loaded = sync.run("busy")
    assert extracted.rows == 1010 and loaded.table_rows == 1010
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])  # what every other session sees
    app.commit()
    sync.run("after")
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])


def sync_window(sync: Sync, key: str) -> None:
    """A partition's asset work: a new generation of the window, then its load."""
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


@pytest.mark.parametrize("target", TARGETS)
def test_time_windows_read_while_transactions_are_open_are_whole_or_provisional(
    mysql, mysql_db, mysql_sessions, make_project, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE ev (id INT PRIMARY KEY, v INT, at DATETIME(6) NOT NULL, KEY (at, id))"
        )
        cur.executemany(
            "INSERT INTO ev VALUES (%s, %s, '2024-05-01' + INTERVAL %s MINUTE)",
            [(i, i, i * 20) for i in range(1, 301)],  # 2024-05-01 00:20 .. 2024-05-05 04:00
        )
        cur.execute("SELECT DATE(UTC_TIMESTAMP())")
        today = str(cur.fetchone()[0])
    spec = {"mode": "time", "cursor": "at",
            "partitions": {"granularity": "daily", "start": "2024-05-01"}}  # fmt: skip
    sync = sync_on(request, make_project, mysql_db, "ev", spec, target)
    app = writer_elsewhere(mysql, mysql_sessions)
    with app.cursor() as cur:  # today's window: a row that commits after the window's read
        cur.execute("INSERT INTO ev VALUES (1001, 1, UTC_TIMESTAMP(6))")
    with mysql.cursor() as cur:
        cur.execute("UPDATE ev SET v = -v WHERE at >= '2024-05-02' AND at < '2024-05-02 06:00'")
        cur.execute("INSERT INTO ev VALUES (1002, 2, UTC_TIMESTAMP(6))")
    keys = ("2024-05-01", "2024-05-02", today)
    for key in keys:
        sync_window(sync, key)
    windows = f"(at >= '2024-05-01' AND at < '2024-05-03') OR at >= '{today}'"
    table = f"(SELECT * FROM ev WHERE {windows}) AS w"
    columns = ["id", "v", "at"]
    assert sync.warehouse_rows(columns, ["id"]) == read_mysql(mysql, table, columns, ["id"])
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None
    # The past windows ended before the open transaction began: complete. Today's reaches past
    # its safe bound: provisional, read again by its next run.
    assert [(g.partition, g.provisional) for g in watermark.generations] == [
        ("2024-05-01", False), ("2024-05-02", False), (today, True)
    ]  # fmt: skip
    app.commit()
    sync_window(sync, today)
    assert sync.warehouse_rows(columns, ["id"]) == read_mysql(mysql, table, columns, ["id"])


@pytest.mark.parametrize("target", TARGETS)
def test_an_id_committed_into_a_window_after_its_read_is_read_by_the_next_sync(
    mysql, mysql_db, mysql_sessions, make_project, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ir (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO ir (v) VALUES (%s)", [(i,) for i in range(1, 51)])
    spec = {"mode": "id_range", "id_range": {"size": 100}}
    sync = sync_on(request, make_project, mysql_db, "ir", spec, target)
    app = writer_elsewhere(mysql, mysql_sessions)
    with app.cursor() as cur:
        cur.execute("INSERT INTO ir (v) VALUES (51)")  # id 51: allocated, not committed
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO ir (v) VALUES (%s)", [(i,) for i in range(52, 151)])
    for key in ("0-100", "100-200"):
        sync_window(sync, key)
    counts = validate(sync)
    sensor = build_definitions(sync.project).resolve_sensor_def(id_range_sensor_name(sync.table))
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), cursor="150", resources=resources(sync)
    ) as context:
        sensed = sensor(context)  # no new id; 0-100 is full and provisional: read it again
    app.commit()

    # The next sync (the CLI's default windows): the provisional range, and the newest one.
    runs = partitioned_runs(sync.project, sync.table, None, None)
    for run in runs:
        sync_window(sync, run.keys[0])
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])
    assert [r.keys for r in runs] == [["0-100"], ["100-200"]]
    assert [(r.partition_key, r.run_key) for r in sensed.run_requests] == [
        ("0-100", f"0-100@{counts_generation(sync, '0-100', 0)}")
    ]
    # `validate` named both windows provisional (read while id 51 could still commit).
    assert [w.partition for w in counts.windows if w.provisional] == ["0-100", "100-200"]
    assert "provisional (read again by the next sync): 0-100, 100-200" in counts.note
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None
    assert [g.partition for g in watermark.provisional_partitions()] == ["100-200"]  # not full


def resources(sync: Sync) -> dict[str, Any]:
    connections = ConnectionsResource(pipelines_dir=str(sync.project.root))
    return {"connections": connections, "watermarks": WatermarkResource(connections=connections)}


def counts_generation(sync: Sync, key: str, index: int) -> str:
    """The id of the `index`-th generation of window `key`."""
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None
    return [g.id for g in watermark.generations if g.partition == key][index]


@pytest.mark.parametrize("target", TARGETS)
def test_a_day_read_within_its_lag_is_read_again_by_the_schedule(
    mysql, mysql_db, make_project, request, target
) -> None:
    """`upper_bound_lag_seconds` of a day: yesterday is read only up to `now - lag` (rows newer
    than that may still commit), so its generation is provisional, and the table's schedule
    reads it again beside the latest complete window."""
    today = datetime.now(UTC).date()
    yesterday, tomorrow = str(today - timedelta(days=1)), today + timedelta(days=1)
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ev (id INT PRIMARY KEY, v INT, at DATETIME NOT NULL)")
        cur.executemany(
            "INSERT INTO ev VALUES (%s, %s, %s)",
            [(h, h, f"{yesterday} {h:02d}:00:00") for h in range(24)],
        )
    spec = {
        "mode": "time",
        "cursor": "at",
        "schedule": {"cron": "0 1 * * *"},
        "partitions": {"granularity": "daily", "start": str(today - timedelta(days=9))},
    }
    sync = sync_on(request, make_project, mysql_db, "ev", spec, target,
                   upper_bound_lag_seconds=86400)  # fmt: skip
    sync_window(sync, yesterday)
    generation = counts_generation(sync, yesterday, 0)
    schedule = build_definitions(sync.project).resolve_schedule_def(
        schedule_name(table_job_name(sync.table))
    )
    with dg.build_schedule_context(
        instance=dg.DagsterInstance.ephemeral(),
        scheduled_execution_time=datetime.combine(tomorrow, datetime.min.time(), UTC)
        + timedelta(hours=1),
        resources=resources(sync),
    ) as context:
        evaluated = schedule(context)  # tomorrow 01:00: the latest complete window is today
    requests = evaluated if isinstance(evaluated, list) else [evaluated]
    assert [(r.partition_key, r.run_key) for r in requests] == [
        (yesterday, f"{yesterday}@{generation}"), (str(today), str(today))
    ]  # fmt: skip


def validate(sync: Sync) -> Any:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return reconcile_table(source, WatermarkStore(store), warehouse, sync.table)
    finally:
        source.close()
        warehouse.close()


def drops_a_row(real: Any) -> Any:
    """A reader that loses the first row of the table (a fault the count must catch)."""

    def read(source, scan):
        for i, batch in enumerate(real(source, scan)):
            yield batch.slice(1, batch.num_rows - 1) if i == 0 else batch

    return read


@pytest.mark.parametrize("target", TARGETS)
def test_a_generation_missing_a_row_of_its_snapshot_is_never_swapped_in(
    mysql, mysql_db, make_project, request, target, monkeypatch: pytest.MonkeyPatch
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE fu (id INT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO fu VALUES (%s, %s)", [(i, i) for i in range(1, 101)])
    full = sync_on(request, make_project, mysql_db, "fu", {"mode": "full"}, target)
    full.run("first")
    with mysql.cursor() as cur:
        cur.execute("UPDATE fu SET v = -v WHERE id <= 5")
    with monkeypatch.context() as patched:
        patched.setattr(extract_module, "read_table", drops_a_row(extract_module.read_table))
        with pytest.raises(Exception, match="wrote 99 rows but its MySQL snapshot holds 100"):
            full.extract("short")
    full.load("short")  # the incomplete generation is never loaded
    assert len(full.warehouse_rows(["id"], ["id"])) == 100
    full.run("again")
    assert_same_rows(mysql, full, ["id", "v"], ["id"])

    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE cu (id INT PRIMARY KEY, v INT, at DATETIME NOT NULL)")
        cur.executemany(
            "INSERT INTO cu VALUES (%s, %s, '2024-05-01')", [(i, i) for i in range(1, 101)]
        )
    sync = sync_on(request, make_project, mysql_db, "cu", {"cursor": "at"}, target)
    sync.run("first")
    before = sync.warehouse_rows(["id", "v"], ["id"])
    with monkeypatch.context() as patched:
        patched.setattr(resync_module, "read_table", drops_a_row(resync_module.read_table))
        with pytest.raises(Exception, match="cu: the resync wrote 99 rows but its MySQL snapsh"):
            resync(sync)
    assert sync.warehouse_rows(["id", "v"], ["id"]) == before
    resync(sync, "resync-2")
    assert_same_rows(mysql, sync, ["id", "v"], ["id"])
