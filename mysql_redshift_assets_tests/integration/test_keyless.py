"""Tables without a primary key (issue 22, defect 3), on DuckDB and the PostgreSQL stand-in.

Before, `read_table` read a keyless table whole whatever the window: each daily window of a
keyless time-partitioned table loaded every day's rows, and the next window's replace left the
earlier days doubled. `validate` then died on the table (`IndexError` in `reconcile/buckets.py`)
and validated no other table of the pipeline, and the Dagster step failed after its rows loaded.

Now every read honours the window's bounds; a keyless table is reconciled by what needs no key:
its count and a multiset hash of its rows' canonical text (per window, or per table), so a row
doubled or lost shows; one table's error in `validate` is reported for that table alone.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.maintenance.windows import window_of
from mysql_redshift_assets.naming import ROW_COUNT_CHECK, target_table
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.deletes import propagate_deletes
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
TARGETS = ["duckdb", "postgres"]
DAYS = ["2026-11-25", "2026-11-26"]
TIME_SPEC = {
    "mode": "time",
    "cursor": "created_at",
    "partitions": {"granularity": "daily", "start": "2026-11-20"},
}
EV = ["a", "note", "created_at"]
LAYERS = ("parquet", "redshift")


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # an ephemeral instance a test


def _pipeline(request, target: str) -> dict[str, Any]:
    pipeline: dict[str, Any] = {"target": target, "store": "local", "upper_bound_lag_seconds": 0}
    if target == "postgres":
        pipeline["target_schema"] = request.getfixturevalue("pg_schema")
    return pipeline


def _cli(project, *args: str) -> int:
    return main(["--pipelines-dir", str(project.root), *args])


def _validate(project, capsys, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    capsys.readouterr()
    code = _cli(project, "validate", "--json", "-p", "testpipe", *args)
    out = capsys.readouterr().out
    return code, {t["table"]: t for t in json.loads(out)}


def _ev_nk(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE ev_nk (a INT, note VARCHAR(20), created_at DATETIME NOT NULL)")
        cur.executemany(
            "INSERT INTO ev_nk VALUES (%s, %s, %s)",
            [
                (1, "zoë", "2026-11-25 10:00:00"),
                (1, "zoë", "2026-11-25 10:00:00"),  # the same row twice: both are kept
                (None, None, "2026-11-25 23:59:59"),
                (2, "b", "2026-11-26 00:00:00"),
            ],
        )


def _warehouse_execute(sync: Sync, sql: str) -> None:
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        warehouse.execute(sql.format(t=warehouse.ref(*target_table(sync.table))))
        warehouse.commit()
    finally:
        warehouse.close()


@pytest.mark.parametrize("target", TARGETS)
def test_a_keyless_time_window_reads_only_its_rows(
    mysql, mysql_db, make_project, request, capsys, target
):
    """The issue's reproduction: `sync --partition` on one day, then the next; then each window
    again after MySQL changed in both, and `validate` over the windows."""
    _ev_nk(mysql)
    sync = Sync.of(make_project, mysql_db, "ev_nk", TIME_SPEC, **_pipeline(request, target))
    assert _cli(sync.project, "sync", "-p", "testpipe", "--partition", DAYS[0]) == 0
    assert len(sync.warehouse_rows(["a"], ["a"])) == 3  # the 25th only (before: the 26th too)
    assert _cli(sync.project, "sync", "-p", "testpipe", "--partition", DAYS[1]) == 0
    assert_same_rows(mysql, sync, EV, EV)

    code, tables = _validate(sync.project, capsys)
    counts = tables[sync.table.qualified]
    assert code == 0, counts["note"]
    assert [(w["partition"], w["verdict"], w["source_rows"]) for w in counts["windows"]] == [
        (DAYS[0], "ok", 3), (DAYS[1], "ok", 1),
    ]  # fmt: skip
    assert all("multiset" in w["note"] for w in counts["windows"]), counts["windows"]

    with mysql.cursor() as cur:
        cur.execute("INSERT INTO ev_nk VALUES (1, 'zoë', '2026-11-25 10:00:00')")  # a third copy
        cur.execute("DELETE FROM ev_nk WHERE a = 2")
        cur.execute("INSERT INTO ev_nk VALUES (3, 'c', '2026-11-26 12:00:00')")
    code, tables = _validate(sync.project, capsys)
    windows = {w["partition"]: w for w in tables[sync.table.qualified]["windows"]}
    assert code == 1
    assert (windows[DAYS[0]]["verdict"], windows[DAYS[0]]["missing"]) == ("mismatch", 1)
    assert windows[DAYS[1]]["verdict"] == "mismatch"
    assert (windows[DAYS[1]]["missing"], windows[DAYS[1]]["extra"]) == (1, 1)
    assert "zoë" in windows[DAYS[0]]["note"]  # the row named by its values

    for day in DAYS:  # each window again: every row once
        assert _cli(sync.project, "sync", "-p", "testpipe", "--partition", day) == 0
    assert_same_rows(mysql, sync, EV, EV)
    assert _validate(sync.project, capsys)[0] == 0

    # A row doubled in the warehouse: the window's multiset differs, the count too.
    _warehouse_execute(sync, "INSERT INTO {t} SELECT * FROM {t} WHERE a = 3")
    code, tables = _validate(sync.project, capsys, "--partition", DAYS[1])
    (window,) = tables[sync.table.qualified]["windows"]
    assert code == 1 and (window["verdict"], window["extra"]) == ("mismatch", 1)


@pytest.mark.parametrize("target", TARGETS)
def test_a_keyless_full_table_with_duplicate_rows(
    mysql, mysql_db, make_project, request, capsys, target
):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE dup (a INT, b VARCHAR(10), d DECIMAL(8,3))")
        cur.executemany(
            "INSERT INTO dup VALUES (%s, %s, %s)",
            [(1, "x", "1.500")] * 3 + [(None, None, None)] * 2 + [(2, "y", "-0.001")],
        )
    spec = {"mode": "full", "chunk_rows": 2, "file_rows": 3}
    sync = Sync.of(make_project, mysql_db, "dup", spec, **_pipeline(request, target))
    sync.run("r1")
    assert_same_rows(mysql, sync, ["a", "b", "d"], ["a", "b", "d"])
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM dup WHERE a = 1 LIMIT 1")
        cur.execute("INSERT INTO dup VALUES (2, 'y', '-0.001'), (NULL, NULL, NULL)")
    sync.run("r2")
    assert_same_rows(mysql, sync, ["a", "b", "d"], ["a", "b", "d"])
    code, tables = _validate(sync.project, capsys)
    assert code == 0 and tables[sync.table.qualified]["warehouse_rows"] == 7


@pytest.mark.parametrize("target", TARGETS)
def test_validate_and_the_dagster_op_over_keyless_keyed_and_broken_tables(
    mysql, mysql_db, make_project, request, capsys, target
):
    """One pipeline: a keyless time-partitioned table, a keyed incremental table, and a table
    that fails to validate (dropped in MySQL). `validate -p` reports the broken one and
    validates the others; the pipeline's Dagster op, with the row-count checks, succeeds."""
    _ev_nk(mysql)
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE k (id INT PRIMARY KEY, v VARCHAR(10), updated_at DATETIME)")
        cur.execute("INSERT INTO k VALUES (1, 'one', '2026-11-25 01:00:00')")
        cur.execute("CREATE TABLE gone (id INT PRIMARY KEY)")
    names = [f"{mysql_db}.{t}" for t in ("ev_nk", "k", "gone")]
    specs = [TIME_SPEC, {"cursor": "updated_at"}, {"mode": "full"}]
    project = make_project(dict(zip(names, specs, strict=True)), **_pipeline(request, target))
    ev_nk, *others = (Sync(project, table_config(project.pipeline("testpipe"), n)) for n in names)
    k = others[0]
    # Each table's two assets and all their checks (the row count included), as the UI's
    # "Materialize" runs them: the keyless table's window, then the unpartitioned tables.
    jobs = [
        dg.define_asset_job(name, selection=dg.AssetSelection.assets(*keys))
        for name, keys in (
            ("ev_nk_all", [asset_key(ev_nk.table, a) for a in LAYERS]),
            ("others_all", [asset_key(s.table, a) for s in others for a in LAYERS]),
        )
    ]
    defs = dg.Definitions.merge(build_definitions(project), dg.Definitions(jobs=jobs))
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def("ev_nk_all").execute_in_process(
        instance=instance, partition_key=DAYS[0], raise_on_error=False
    )
    assert result.success
    assert _row_checks(result)["ev_nk"].passed, _row_checks(result)["ev_nk"].description
    result = defs.resolve_job_def("others_all").execute_in_process(instance=instance)
    assert {t: c.passed for t, c in _row_checks(result).items()} == {"k": True, "gone": True}
    assert _cli(project, "sync", "-p", "testpipe", "--partition", DAYS[1]) == 0
    assert_same_rows(mysql, ev_nk, EV, EV)
    assert_same_rows(mysql, k, ["id", "v", "updated_at"], ["id"])

    with mysql.cursor() as cur:
        cur.execute("DROP TABLE gone")
    code, tables = _validate(project, capsys)
    assert code == 1
    assert tables[names[2]]["verdict"] == "error"
    assert "not found" in tables[names[2]]["note"] and "gone" in tables[names[2]]["note"]
    assert tables[names[0]]["verdict"] == tables[names[1]]["verdict"] == "ok"
    # The row-count checks alone: the broken table's fails, the step and the other table's
    # do not.
    counts = [dg.AssetCheckKey(asset_key(s.table, "redshift"), ROW_COUNT_CHECK) for s in others]
    job = dg.define_asset_job("row_counts", selection=dg.AssetSelection.checks(*counts))
    defs = dg.Definitions.merge(build_definitions(project), dg.Definitions(jobs=[job]))
    checks = _row_checks(defs.resolve_job_def("row_counts").execute_in_process(instance=instance))
    assert checks["k"].passed and not checks["gone"].passed
    assert "could not validate" in checks["gone"].description


def _row_checks(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """The row-count check evaluations of a run, by table name."""
    return {
        e.event_specific_data.asset_key.path[-1]: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == "row_count_reconciled"
    }


def test_modes_that_need_a_key_refuse_a_keyless_table_clearly(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE nk (id INT, updated_at DATETIME)")
    for spec, words in (
        ({"mode": "id_range", "id_range": {"size": 10}}, ["no primary key", "mode: time"]),
        ({"cursor": "updated_at"}, ["no primary key", "mode: full"]),
    ):
        sync = Sync.of(make_project, mysql_db, "nk", spec)
        window = window_of(sync.table, "0-10") if sync.table.partitioned else None
        with pytest.raises(ConfigError) as err:
            sync.extract(window=window)
        message = str(err.value)
        assert f"table {mysql_db}.nk, key primary_key:" in message
        assert all(w in message for w in words), message


@pytest.mark.parametrize("mode", ["full", "time"])
def test_the_delete_pass_stands_aside_for_a_keyless_table(mysql, mysql_db, make_project, mode):
    _ev_nk(mysql)
    spec = TIME_SPEC if mode == "time" else {"mode": "full"}
    sync = Sync.of(make_project, mysql_db, "ev_nk", spec)
    if mode == "full":
        sync.run()
    else:
        assert _cli(sync.project, "sync", "-p", "testpipe", "--partition", DAYS[0]) == 0
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    store = open_store(sync.project, sync.table.store)
    try:
        done = propagate_deletes(source, warehouse, WatermarkStore(store), sync.table, run_id="d")
    finally:
        source.close()
        warehouse.close()
    assert not done.ran and done.deleted == 0
    assert "no primary key" in done.note and "replace" in done.note, done.note
    # the warehouse table is untouched
    assert len(sync.warehouse_rows(["a"], ["a"])) == (4 if mode == "full" else 3)
