"""Time and id-range partitions, backfills and sensors, through Dagster against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.partitions import dynamic_partitions_name
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05"]


def _events(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id INT PRIMARY KEY, kind VARCHAR(10), amount DECIMAL(10,2), "
            "created_at DATETIME(6) NOT NULL, KEY (created_at, id))"
        )
        rows = []
        for d, day in enumerate(DAYS):
            for i in range(40):  # 40 rows a day, the last ones just before midnight
                rows.append((d * 100 + i, "click", f"{i}.10", f"{day} {i % 24:02d}:59:59.999999"))
        cur.executemany("INSERT INTO events VALUES (%s, %s, %s, %s)", rows)


def _day_rows(mysql, day: str) -> list[tuple]:
    with mysql.cursor() as cur:
        cur.execute(
            "SELECT id, kind, CAST(amount AS CHAR) FROM events "
            "WHERE created_at >= %s AND created_at < %s + INTERVAL 1 DAY ORDER BY id",
            (day, day),
        )
        return [tuple(r) for r in cur.fetchall()]


def _warehouse_rows(path: Path, day: str | None = None) -> list[tuple]:
    where = (
        f"WHERE created_at >= '{day}' AND created_at < TIMESTAMP '{day}' + INTERVAL 1 DAY"
        if day
        else ""
    )
    with duckdb.connect(str(path), read_only=True) as con:
        return [
            (r[0], r[1], str(r[2]))
            for r in con.execute(
                f'SELECT id, kind, amount FROM "wh"."public"."events" {where} ORDER BY id'
            ).fetchall()
        ]


@pytest.fixture
def time_project(mysql, mysql_db, make_project):
    _events(mysql)
    project = make_project(
        {
            f"{mysql_db}.events": {
                "mode": "time",
                "cursor": "created_at",
                "partitions": {"granularity": "daily", "start": "2024-03-01"},
            }
        },
        chunk_rows=15,
        file_rows=25,
    )
    return project, f"{mysql_db}.events"


def _run_range(project, table_name: str, first: str, last: str) -> dg.ExecuteInProcessResult:
    defs = build_definitions(project)
    job = defs.resolve_job_def(f"sync_testpipe__{table_name.replace('.', '__')}")
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )


def test_three_days_equal_the_source_and_a_rerun_replaces_its_day(time_project, mysql, tmp_path):
    project, name = time_project
    result = _run_range(project, name, DAYS[0], DAYS[2])
    assert result.success
    wh = tmp_path / "wh.duckdb"
    assert _warehouse_rows(wh) == sum((_day_rows(mysql, d) for d in DAYS[:3]), [])

    # Change the second day in MySQL: update, delete, insert. Re-run only that day.
    with mysql.cursor() as cur:
        cur.execute("UPDATE events SET kind = 'buy', amount = 99.99 WHERE id = 105")
        cur.execute("DELETE FROM events WHERE id = 110")
        cur.execute("INSERT INTO events VALUES (199, 'new', 1.00, '2024-03-02 12:00:00')")
    before_other_days = _warehouse_rows(wh, DAYS[0]) + _warehouse_rows(wh, DAYS[2])
    assert _run_range(project, name, DAYS[1], DAYS[1]).success
    assert _warehouse_rows(wh, DAYS[1]) == _day_rows(mysql, DAYS[1])  # new values, no duplicate
    assert _warehouse_rows(wh, DAYS[0]) + _warehouse_rows(wh, DAYS[2]) == before_other_days
    ids = [r[0] for r in _warehouse_rows(wh)]
    assert len(ids) == len(set(ids)) and 110 not in ids and 199 in ids


def test_partition_range_backfill_from_the_cli(time_project, mysql, tmp_path):
    project, name = time_project
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    base = f"testpipe/{name.replace('.', '/')}"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
         "-m", "mysql_redshift_assets.definitions",
         "--select", f"{base},public/{name.split('.')[1]}",
         "--partition-range", f"{DAYS[0]}...{DAYS[4]}"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert _warehouse_rows(tmp_path / "wh.duckdb") == sum((_day_rows(mysql, d) for d in DAYS), [])
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        files = con.execute('SELECT COUNT(*) FROM "wh"."public"."mysql_redshift_loads"').fetchone()[
            0
        ]
    assert files == 5 * 2  # 40 rows a day, 25 a file


def _resources(project) -> dict:
    connections = ConnectionsResource(pipelines_dir=str(project.root))
    return {"connections": connections, "watermarks": WatermarkResource(connections=connections)}


def test_id_range_sensor_adds_partitions_as_the_table_grows(
    mysql, mysql_db, make_project, tmp_path
):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ledger (id BIGINT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO ledger VALUES (%s, %s)", [(i, i) for i in range(1, 251)])
    project = make_project({f"{mysql_db}.ledger": {"mode": "id_range", "id_range": {"size": 100}}})
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.ledger")
    defs = build_definitions(project)
    sensor = defs.resolve_sensor_def(f"testpipe__{mysql_db}__ledger__id_ranges")
    instance = dg.DagsterInstance.ephemeral()

    def evaluate(cursor):
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=_resources(project)
        ) as context:
            result = sensor(context)
        for request in getattr(result, "dynamic_partitions_requests", []):
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        return result

    first = evaluate(None)
    assert instance.get_dynamic_partitions(dynamic_partitions_name(table)) == [
        "0-100",
        "100-200",
        "200-300",
    ]
    assert sorted(r.partition_key for r in first.run_requests) == ["0-100", "100-200", "200-300"]
    assert (
        isinstance(evaluate(first.cursor), dg.SkipReason) or not evaluate(first.cursor).run_requests
    )

    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO ledger VALUES (%s, %s)", [(i, i) for i in range(251, 421)])
    second = evaluate(first.cursor)
    assert instance.get_dynamic_partitions(dynamic_partitions_name(table))[-2:] == [
        "300-400",
        "400-500",
    ]
    # The range that was half full re-runs (replace), the new ones run for the first time.
    assert sorted(r.partition_key for r in second.run_requests) == ["200-300", "300-400", "400-500"]

    job = defs.resolve_job_def(f"sync_testpipe__{mysql_db}__ledger")
    for key in ["0-100", "100-200", "200-300", "300-400", "400-500"]:
        assert job.execute_in_process(instance=instance, partition_key=key).success
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        count, total = con.execute('SELECT COUNT(*), SUM(v) FROM "wh"."public"."ledger"').fetchone()
    assert (count, total) == (420, sum(range(1, 421)))


def test_new_data_sensor_skips_when_nothing_is_new(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, updated_at DATETIME NOT NULL)")
        cur.executemany(
            "INSERT INTO orders VALUES (%s, '2024-01-01 00:00:00')", [(i,) for i in range(1, 11)]
        )
    project = make_project(
        {
            f"{mysql_db}.orders": {
                "cursor": "updated_at",
                "new_data_sensor": {"default_status": "running"},
            }
        }
    )
    defs = build_definitions(project)
    sensor = defs.resolve_sensor_def(f"testpipe__{mysql_db}__orders__new_data")
    instance = dg.DagsterInstance.ephemeral()

    def evaluate():
        with dg.build_sensor_context(instance=instance, resources=_resources(project)) as context:
            return sensor(context)

    request = evaluate()
    assert isinstance(request, dg.RunRequest)
    assert defs.resolve_job_def("sync_testpipe").execute_in_process(instance=instance).success
    skipped = evaluate()
    assert (
        isinstance(skipped, dg.SkipReason) and "no rows past the watermark" in skipped.skip_message
    )
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (11, '2024-01-02 00:00:00')")
    assert isinstance(evaluate(), dg.RunRequest)
