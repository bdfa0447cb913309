"""One Dagster step per pipeline: its tables side by side, checks inside, a broken table alone.

Through the `sync_<pipeline>` job (as a schedule or the UI launches it), against MariaDB and
DuckDB / PostgreSQL; the good tables end with a row-by-row comparison.
"""

from __future__ import annotations

import dagster as dg
import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "name", "amount", "updated_at"]


def _tables(mysql, names: list[str]) -> None:
    with mysql.cursor() as cur:
        for name in names:
            cur.execute(
                f"CREATE TABLE {name} (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, "
                "amount DECIMAL(10,2), updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
            )
            cur.executemany(
                f"INSERT INTO {name} VALUES (%s, %s, %s, '2024-05-01 10:00:00')",
                [(i, f"{name}-{i}", f"{i}.25") for i in range(1, 41)],
            )


def _project(make_project, mysql_db, request, target: str):  # request: None for DuckDB
    pipeline = {"store": "local", "target": target, "file_rows": 25}
    if target == "postgres":
        pipeline["target_schema"] = request.getfixturevalue("pg_schema")
    spec = {"cursor": "updated_at"}
    tables = {f"{mysql_db}.{n}": spec for n in ("alpha", "broken", "gamma")}
    tables[f"{mysql_db}.gamma"] = {"mode": "full"}
    return make_project(tables, **pipeline)


def _run(project, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    job = build_definitions(project).resolve_job_def("sync_testpipe")
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False
    )


def _materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {
        "/".join(e.materialization.asset_key.path): {
            k: v.value for k, v in e.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        f"{'/'.join(e.asset_check_evaluation_data.asset_key.path)}:"
        f"{e.asset_check_evaluation_data.check_name}": e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_broken_table_fails_alone_and_the_run_names_it(
    mysql, mysql_db, make_project, request, target
):
    _tables(mysql, ["alpha", "broken", "gamma"])
    project = _project(make_project, mysql_db, request, target)
    schema = "public" if target == "duckdb" else request.getfixturevalue("pg_schema")
    with mysql.cursor() as cur:
        cur.execute("DROP TABLE broken")  # configured, gone from MySQL: planning it fails

    result = _run(project)

    assert not result.success
    steps = [e for e in result.all_events if e.event_type_value == "STEP_START"]
    assert len(steps) == 1  # three tables, two layers, their checks: one step
    done = _materialized(result)
    assert set(done) == {
        f"testpipe/{mysql_db}/alpha",
        f"{schema}/alpha",
        f"testpipe/{mysql_db}/gamma",
        f"{schema}/gamma",
    }
    checks = _checks(result)
    broken = checks[f"testpipe/{mysql_db}/broken:schema_drift"]
    assert not broken.passed and "not evaluated" in (broken.description or "")
    assert checks[f"testpipe/{mysql_db}/alpha:schema_drift"].passed
    # The reconciliation reads every row: a sync leaves it to `reconcile_testpipe`.
    assert not any(name.endswith(":row_count_reconciled") for name in checks)
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message if failure.step_failure_data.error else ""
    assert f"{mysql_db}.broken" in message and "1 of 3 table(s) failed" in message
    assert f"{mysql_db}.alpha" not in message
    for name in ("alpha", "gamma"):
        sync = Sync(project, table_config(project.pipeline("testpipe"), f"{mysql_db}.{name}"))
        assert_same_rows(mysql, sync, COLUMNS, ["id"])


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_standard_metadata_and_no_rate_when_nothing_moved(
    mysql, mysql_db, make_project, request, target
):
    _tables(mysql, ["alpha", "broken", "gamma"])
    project = _project(make_project, mysql_db, request, target)
    schema = "public" if target == "duckdb" else request.getfixturevalue("pg_schema")
    instance = dg.DagsterInstance.ephemeral()
    first = _run(project, instance)
    assert first.success
    # Every selected check reports; the blocking drift check as the op output Dagster expects.
    messages = [e.user_message for e in instance.all_logs(first.run_id)]
    assert not [m for m in messages if "did not yield or return expected outputs" in m]
    drift = {k: c for k, c in _checks(first).items() if k.endswith(":schema_drift")}
    assert len(drift) == 3 and all(c.passed for c in drift.values()), drift
    done = _materialized(first)
    parquet, loaded = done[f"testpipe/{mysql_db}/alpha"], done[f"{schema}/alpha"]
    assert parquet["rows"] == 40 and parquet["rows_per_second"] > 0
    assert parquet["dagster/uri"].endswith(f"testpipe/{mysql_db}/alpha")
    assert len(parquet["keys"]) == 2 and parquet["keys"][0].startswith("incremental/")
    assert loaded["dagster/table_name"] == f"{schema}.alpha"
    assert loaded["dagster/row_count"] == 40
    columns = loaded["dagster/column_schema"].columns
    assert [c.name for c in columns] == ["id", "name", "amount", "updated_at"]
    assert "decimal(10,2)" in (columns[2].description or "")
    # Column lineage: each warehouse column from the Parquet asset's column of that name.
    lineage = loaded["dagster/column_lineage"].deps_by_column
    assert sorted(lineage) == ["amount", "id", "name", "updated_at"]
    assert [(d.asset_key.to_user_string(), d.column_name) for d in lineage["amount"]] == [
        (f"testpipe/{mysql_db}/alpha", "amount")
    ]
    assert done[f"testpipe/{mysql_db}/gamma"]["dagster/row_count"] == 40  # a full copy

    # The reconciliation: the same op, its checks alone (no materialization).
    job = build_definitions(project).resolve_job_def("reconcile_testpipe")
    reconciled = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert reconciled.success and not _materialized(reconciled)
    rows = {k: c for k, c in _checks(reconciled).items() if k.endswith(":row_count_reconciled")}
    assert len(rows) == 3 and all(c.passed for c in rows.values()), rows

    again = _materialized(_run(project))  # nothing new for the incremental tables
    for key in (f"testpipe/{mysql_db}/alpha", f"{schema}/alpha", f"{schema}/broken"):
        assert "rows_per_second" not in again[key], key  # no 0 dragging every plot down
    assert again[f"testpipe/{mysql_db}/alpha"]["rows"] == 0
    assert "keys" not in again[f"testpipe/{mysql_db}/alpha"]
    assert again[f"testpipe/{mysql_db}/gamma"]["rows_per_second"] > 0  # a full copy moves rows


def test_a_failed_blocking_check_stops_its_table_only(mysql, mysql_db, make_project):
    """Schema drift is a blocking check: a change the loader would refuse stops that table
    before it writes anything (no extraction, no load); the other tables complete."""
    _tables(mysql, ["alpha", "broken", "gamma"])
    project = _project(make_project, mysql_db, None, "duckdb")
    assert _run(project).success
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE broken MODIFY amount VARCHAR(20)")  # refused: resync fixes it
        cur.execute("INSERT INTO broken VALUES (99, 'new', 1.5, '2024-05-02 10:00:00')")
        cur.execute("INSERT INTO alpha VALUES (99, 'new', 1.5, '2024-05-02 10:00:00')")

    result = _run(project)

    assert not result.success
    checks = _checks(result)
    drift = checks[f"testpipe/{mysql_db}/broken:schema_drift"]
    assert not drift.passed and drift.blocking and "amount" in (drift.description or "")
    done = _materialized(result)
    assert f"testpipe/{mysql_db}/broken" not in done and "public/broken" not in done
    assert done[f"testpipe/{mysql_db}/alpha"]["rows"] == 1 and done["public/alpha"]
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message if failure.step_failure_data.error else ""
    assert f"{mysql_db}.broken: BlockedByCheck: blocking check schema_drift failed" in message
