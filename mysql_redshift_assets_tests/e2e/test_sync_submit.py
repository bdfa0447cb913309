"""`mysql-redshift sync --submit [--wait]`: the run queued in a Dagster instance whose
dagster.yaml uses the QueuedRunCoordinator, then (with `dagster-daemon run` started for the
test) launched by the daemon in a run worker process of its own, over MariaDB and DuckDB.

Times on this machine (2 shared cores): the queued-only test ~10 s, the daemon one ~60 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
INSTANCE = {
    "telemetry": {"enabled": False},
    "run_coordinator": {
        "module": "dagster._core.run_coordinator",
        "class": "QueuedRunCoordinator",
        "config": {
            "max_concurrent_runs": 2,
            "dequeue_interval_seconds": 1,
            "tag_concurrency_limits": [
                {"key": "mysql_redshift/pipeline", "value": {"applyLimitPerUniqueValue": True},
                 "limit": 1},
            ],
        },
    },
}  # fmt: skip


@pytest.fixture
def deployment(mysql, mysql_db, make_project, tmp_path):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(20), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, '2024-05-01 10:00:00.123456')",
            [(i, f"{i}.25", None if i % 7 else f"n{i}") for i in range(1, 301)],
        )
    mysql.commit()
    project = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}},
        store="local",
        file_rows=100,
        max_runtime_seconds=900,
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(INSTANCE))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # The SQLite storages created once, here: a daemon and a code server starting together
        # on a fresh folder would both run its migrations ("more than one head").
        instance.get_runs()
        instance.get_daemon_heartbeats()
        instance.all_instigator_state()
        instance.get_latest_materialization_event(dg.AssetKey("none"))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": "mysql_redshift_assets.definitions",
                            "working_directory": str(REPO),
                            "location_name": "mysql_redshift_assets",
                        }
                    }
                ]
            }
        )
    )
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return project, env, workspace, f"{mysql_db}.orders"


def _cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", *args],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == code, (
        f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    )
    return done.stdout + done.stderr


def _instance(env: dict[str, str]) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def test_submit_queues_the_run_the_in_process_sync_would_run(deployment):
    project, env, workspace, table = deployment
    # No --workspace: the package's code location, under the name `make dev` serves it.
    out = _cli(env, "sync", "-t", table, "--submit", "--limit", "50")
    found = re.search(r"run ([0-9a-f-]{36}) submitted \(QUEUED\)", out)
    assert found, out
    assert "warning: no dagster-daemon has reported to this instance" in out

    with _instance(env) as instance:
        run = instance.get_run_by_id(found[1])
        assert run is not None
        assert run.status == dg.DagsterRunStatus.QUEUED  # no daemon: it waits in the queue
        assert run.job_name == "__ASSET_JOB"
        assert run.tags["mysql_redshift/pipeline"] == "testpipe"  # the queue's tag limit
        assert run.tags["dagster/max_runtime"] == "900"  # the daemon's run timeout
        assert run.tags["mysql_redshift/started_by"] == "cli sync --submit"
        db, name = table.split(".")
        assert run.asset_selection == {
            dg.AssetKey(["testpipe", db, name]),
            dg.AssetKey(["public", name]),
        }
        assert {c.name for c in run.asset_check_selection or ()} == {"schema_drift"}
        assert run.remote_job_origin is not None
        assert run.remote_job_origin.location_name == "mysql_redshift_assets"
        (op,) = run.run_config["ops"]
        assert run.run_config["ops"][op]["config"] == {"max_rows": 50}
    # `--json`: the run ids, for automation.
    done = subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", "--json", "sync", "-t", table, "--submit"],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (second,) = json.loads(done.stdout)["submitted"]
    with _instance(env) as instance:
        assert {r.run_id for r in instance.get_runs()} == {found[1], second}
        assert all(r.status == dg.DagsterRunStatus.QUEUED for r in instance.get_runs())
    # Nothing ran: no warehouse yet.
    assert not (Path(env["MYSQL_REDSHIFT_PIPELINES_DIR"]).parent / "wh.duckdb").exists()


def test_submit_refuses_flags_that_make_no_sense_with_it(deployment):
    _, env, _, table = deployment
    out = _cli(env, "sync", "-t", table, "--wait", code=2)
    assert "error: --wait follows a submitted run: add --submit" in out
    out = _cli(env, "sync", "-t", table, "--submit", "--dry-run", code=2)
    assert "error: --dry-run runs nothing and --submit queues a run: choose one" in out


@pytest.fixture
def daemon(deployment, tmp_path):
    """`dagster-daemon run` over the test's instance and workspace, stopped by its pid."""
    _, env, workspace, _ = deployment
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(
        ["env", "--default-signal=INT,TERM", str(Path(sys.executable).parent / "dagster-daemon"),
         "run", "-w", str(workspace)],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield daemon
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()


def test_submit_wait_follows_the_daemons_run_to_an_exact_warehouse(deployment, daemon, mysql):
    project, env, workspace, table = deployment
    out = _cli(env, "sync", "-t", table, "--submit", "--wait", "--workspace", str(workspace))
    assert re.search(r"run [0-9a-f-]{36} submitted \(QUEUED\)", out), out
    assert re.search(r"run [0-9a-f-]{36}: STARTED", out), out  # followed through the daemon
    assert f"{table}: stored " in out, out  # the run's log relayed as it runs
    assert "300 rows extracted, 3 file(s)" in out, out  # the in-process sync's summary
    assert re.search(r"run [0-9a-f-]{36}: succeeded", out), out
    with _instance(env) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        # Launched by the daemon in a worker process of its own, not in the CLI's process.
        assert instance.get_run_by_id(run.run_id).tags["mysql_redshift/pipeline"] == "testpipe"
    sync = Sync(project, table_config(project.pipeline("testpipe"), table))
    assert_same_rows(mysql, sync, ["id", "amount", "note", "updated_at"], ["id"])

    # A run that fails in the worker (the warehouse file cannot be opened): non-zero, and the
    # cause named as the in-process sync names it.
    warehouse = Path(env["MYSQL_REDSHIFT_PIPELINES_DIR"]).parent / "wh.duckdb"
    shutil.move(warehouse, warehouse.with_suffix(".kept"))
    warehouse.mkdir()
    with mysql.cursor() as cur:
        cur.execute("UPDATE orders SET amount = 1, updated_at = '2024-05-02 00:00:00'")
    mysql.commit()
    out = _cli(
        env, "sync", "-t", table, "--submit", "--wait", "--workspace", str(workspace), code=1
    )
    assert re.search(rf"error: testpipe {re.escape(table)}: .*wh\.duckdb", out), out
    assert re.search(r"run [0-9a-f-]{36}: FAILED", out), out


def test_submit_queues_a_partition_range_as_the_in_process_sync_runs_it(
    deployment, mysql, mysql_db, make_project
):
    _, env, _, _ = deployment
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id INT PRIMARY KEY, created_at DATETIME(6) NOT NULL, "
            "KEY (created_at, id))"
        )
    mysql.commit()
    spec = {
        "mode": "time",
        "cursor": "created_at",
        "partitions": {"granularity": "daily", "start": "2024-05-01"},
    }
    make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}, f"{mysql_db}.events": spec},
        store="local",
        max_runtime_seconds=900,
    )
    out = _cli(
        env, "sync", "-t", f"{mysql_db}.events", "--submit",
        "--partition-range", "2024-05-01...2024-05-03",
    )  # fmt: skip
    (run_id,) = re.findall(r"run ([0-9a-f-]{36}) submitted \(QUEUED\)", out)
    with _instance(env) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.QUEUED
        # One single-run backfill over the three days, as the in-process sync runs it.
        assert run.tags["dagster/asset_partition_range_start"] == "2024-05-01"
        assert run.tags["dagster/asset_partition_range_end"] == "2024-05-03"
        assert run.tags["mysql_redshift/pipeline"] == "testpipe"
        assert run.asset_selection == {
            dg.AssetKey(["testpipe", mysql_db, "events"]),
            dg.AssetKey(["public", "events"]),
        }
