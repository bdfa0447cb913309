"""`sync` on partitioned tables, and single-run backfills that change every day (issue 15, item 6).

Run through the CLI's own entry point in process (`cli.main`), so the flags, the default window
and the one-run-per-partitions-definition split are what is tested, on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"]
EVENT_COLUMNS = ["id", "kind", "amount", "created_at"]


def _sync(project, *args: str, code: int = 0) -> dict:
    out = Path(project.root) / "sync.json"
    result = main(["--pipelines-dir", str(project.root), "sync", "-p", "testpipe", *args,
                   "--json-output", str(out)])  # fmt: skip
    summary = json.loads(out.read_text()) if out.exists() else {}
    assert result == code, summary.get("errors")
    return summary


def _pipeline(request, target: str) -> dict:
    pipeline = {"target": target, "chunk_rows": 15, "file_rows": 25}
    if target == "postgres":
        pipeline["target_schema"] = request.getfixturevalue("pg_schema")
    return pipeline


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # an ephemeral instance a test


def _events(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id INT PRIMARY KEY, kind VARCHAR(10), amount DECIMAL(10,2), "
            "created_at DATETIME(6) NOT NULL, KEY (created_at, id))"
        )
        cur.executemany(
            "INSERT INTO events VALUES (%s, 'click', %s, %s)",
            [
                (d * 100 + i, f"{i}.10", f"{day} {i % 24:02d}:30:00")
                for d, day in enumerate(DAYS)
                for i in range(30)
            ],
        )


def _change_every_day(mysql) -> None:
    """In each day: two rows updated, two deleted, two inserted."""
    with mysql.cursor() as cur:
        for d, day in enumerate(DAYS):
            cur.execute(
                "UPDATE events SET kind = 'buy', amount = 99.99 WHERE id IN (%s, %s)",
                (d * 100 + 1, d * 100 + 2),
            )
            cur.execute("DELETE FROM events WHERE id IN (%s, %s)", (d * 100 + 3, d * 100 + 4))
            cur.executemany(
                "INSERT INTO events VALUES (%s, 'new', 1.00, %s)",
                [(d * 100 + 50, f"{day} 06:00:00"), (d * 100 + 51, f"{day} 23:59:59.999999")],
            )


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_single_run_backfill_replaces_every_day_it_covers(
    mysql, mysql_db, make_project, request, target
):
    _events(mysql)
    spec = {
        "mode": "time",
        "cursor": "created_at",
        "partitions": {"granularity": "daily", "start": DAYS[0]},
    }
    sync = Sync.of(make_project, mysql_db, "events", spec, **_pipeline(request, target))
    first = _sync(sync.project, "--partition-range", f"{DAYS[0]}...{DAYS[-1]}")
    assert [r["partitions"] for r in first["runs"]] == [DAYS]  # one run over the three days
    assert_same_rows(mysql, sync, EVENT_COLUMNS, ["id"])
    # One materialization a day, with that day's own rows and files (not the run's totals).
    parquet = first["assets"][f"testpipe/{mysql_db}/events"]["partitions"]
    assert {day: parquet[day]["rows"] for day in DAYS} == dict.fromkeys(DAYS, 30)
    assert {day: parquet[day]["files"] for day in DAYS} == dict.fromkeys(DAYS, 2)
    schema = "public" if target == "duckdb" else request.getfixturevalue("pg_schema")
    loaded = first["assets"][f"{schema}/events"]["partitions"]
    assert {day: loaded[day]["rows_loaded"] for day in DAYS} == dict.fromkeys(DAYS, 30)

    _change_every_day(mysql)
    _sync(sync.project, "--partition-range", f"{DAYS[0]}...{DAYS[-1]}")
    assert_same_rows(mysql, sync, EVENT_COLUMNS, ["id"])
    # Every window got a generation of its own, within one run (and one second).
    watermark = WatermarkStore(open_store(sync.project, "local")).load(sync.table)
    assert watermark is not None
    ids = [g.id for g in watermark.generations]
    assert len(ids) == len(set(ids)) == 2 * len(DAYS)
    assert sorted(g.partition for g in watermark.generations) == sorted(DAYS * 2)


def _items(mysql, ids: range) -> None:
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO items VALUES (%s, %s)", [(i, f"item {i}") for i in ids])


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_sync_runs_a_pipeline_with_partitioned_and_plain_tables(
    mysql, mysql_db, make_project, request, target
):
    """`sync -p` on a pipeline with an id-range table and a plain one: the default window runs
    as a partitioned run, the plain table as before; `--partition` runs a chosen range."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute("CREATE TABLE plain (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO plain VALUES (1, 1), (2, 2)")
    _items(mysql, range(1, 81))
    tables = {
        f"{mysql_db}.items": {"mode": "id_range", "id_range": {"size": 100}},
        f"{mysql_db}.plain": {"mode": "full"},
    }
    pipeline = _pipeline(request, target)
    project = make_project(tables, store="local", upper_bound_lag_seconds=0, **pipeline)
    from mysql_redshift_assets.config.resolve import table_config

    items = Sync(project, table_config(project.pipeline("testpipe"), f"{mysql_db}.items"))
    plain = Sync(project, table_config(project.pipeline("testpipe"), f"{mysql_db}.plain"))

    summary = _sync(project)  # default: the range holding the newest id
    assert [r["partitions"] for r in summary["runs"]] == [None, ["0-100"]]
    assert_same_rows(mysql, items, ["id", "name"], ["id"])
    assert_same_rows(mysql, plain, ["id", "v"], ["id"])

    _items(mysql, range(100, 130))  # a new range
    with mysql.cursor() as cur:
        cur.execute("UPDATE items SET name = 'renamed' WHERE id = 5")
        cur.execute("DELETE FROM items WHERE id = 6")
    # The new range, and 0-100 again: it was read before it was full (provisional, issue 22).
    assert [r["partitions"] for r in _sync(project)["runs"]][1:] == [["0-100"], ["100-200"]]
    _sync(project, "-t", f"{mysql_db}.items", "--partition", "0-100")  # the older range again
    assert_same_rows(mysql, items, ["id", "name"], ["id"])


def test_bad_partition_flags_get_one_clear_error(mysql, mysql_db, make_project, capsys):
    _events(mysql)
    spec = {
        "mode": "time",
        "cursor": "created_at",
        "partitions": {"granularity": "daily", "start": DAYS[0]},
    }
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE plain (id INT PRIMARY KEY)")
    tables = {f"{mysql_db}.events": spec, f"{mysql_db}.plain": {"mode": "full"}}
    project = make_project(tables, store="local")
    _sync(project, "--partition", "2024-13-01", code=2)
    assert "2024-13-01" in capsys.readouterr().err
    _sync(project, "--partition-range", "2024-03-02", code=2)
    assert "<first>...<last>" in capsys.readouterr().err
    _sync(project, "-t", f"{mysql_db}.plain", "--partition", DAYS[0], code=2)
    assert "no partitioned table" in capsys.readouterr().err
    assert not (Path(project.root).parent / "store").exists()  # nothing was written
