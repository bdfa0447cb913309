"""Issue 25, "Done when": a real multi-process deployment on this machine survives a run that is
SIGKILLed mid-extraction.

The instance is the shipped `deploy/local/dagster.yaml` (its run launcher, run monitoring, tag
limit and pools) on PostgreSQL storage (a fresh database), with three intervals shortened:
monitoring polls every second, the queue is read every second, the table lease lives 5 s. The
code server (`dagster api grpc`) and the daemon (`dagster-daemon run`) are separate processes;
each run is a process of the code server. The store is S3 (moto), the warehouse the PostgreSQL
stand-in, the source MariaDB through a slow link, so that the table takes seconds to extract.

Mid-extraction (files in the store, the lease held by the run's step process) the code server's
process group is SIGKILLed: the server, the run worker and its step process, what a restart of
the code-location service or the OOM killer taking the tree does. A second run of the pipeline
is submitted at once and waits in the queue (tag limit 1). The code server comes back, as a
service manager would start it. Run monitoring, through `LocalProcessRunLauncher`'s check of the
worker's process, fails the dead run; the queued run then starts, takes over the lease, and the
warehouse ends equal to MySQL row by row, with the rows a writer changed meanwhile.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from types import SimpleNamespace

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.defs.run_launcher import process_state
from mysql_redshift_assets.naming import lease_key, table_base
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.lease import TTL_ENV
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD
from mysql_redshift_assets_tests.deployment import (
    REPO,
    Deployment,
    SlowLink,
    instance_yaml,
    pg_database,
    wait_for,
)
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]
ROWS = 60_000
COLUMNS, KEY = ["id", "amount", "note", "updated_at"], ["id"]
FAST = {  # the shipped config's intervals, shortened so that the test takes about a minute
    "run_queue": {"dequeue_interval_seconds": 1, "user_code_failure_retry_delay": 1},
    "run_monitoring": {"poll_interval_seconds": 1, "free_slots_after_run_end_seconds": 1},
}


@pytest.fixture
def orders(mysql):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(12,2) NOT NULL, "
            "note VARCHAR(64) NOT NULL, updated_at DATETIME(6) NOT NULL, KEY (updated_at))"
        )
        cur.execute(
            "INSERT INTO orders SELECT seq, seq / 100, CONCAT('order number ', seq, ' of many'), "
            f"'2024-01-01' + INTERVAL seq SECOND FROM seq_1_to_{ROWS}"
        )
    return "orders"


@pytest.fixture
def link(mysql_server):
    """MySQL at 150 kB/s (about 30 s for the table), until the test lifts the limit."""
    slow = SlowLink(mysql_server.host, mysql_server.port, rate=150_000)
    yield slow
    slow.close()


@pytest.fixture
def writes(mysql_server, mysql_db):
    """`writes.start()`: updates, inserts and deletes, one statement every few ms, until
    `writes.stop()` (or the end of the test)."""
    stop = threading.Event()

    def work() -> None:
        rng, next_id = random.Random(25), ROWS + 1
        with mysql_server.connect(mysql_db) as conn, conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
            while not stop.wait(0.005):
                pick = rng.randint(1, ROWS)
                cur.execute(
                    "UPDATE orders SET amount = amount + 1, updated_at = NOW(6) WHERE id = %s",
                    (pick,),
                )
                cur.execute("INSERT INTO orders VALUES (%s, 1.5, 'new', NOW(6))", (next_id,))
                next_id += 1
                if pick % 7 == 0:
                    cur.execute("DELETE FROM orders WHERE id = %s", (pick + 1,))

    thread = threading.Thread(target=work, daemon=True)

    def halt() -> None:
        stop.set()
        if thread.is_alive():
            thread.join()

    yield SimpleNamespace(start=thread.start, stop=halt)
    halt()


@pytest.fixture
def pipeline(orders, link, mysql_db, make_project, pg_schema):
    """The pipeline `testpipe` (S3 store on moto, the PostgreSQL warehouse) reading MySQL
    through the slow link: (project, table)."""
    project = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}}, store="s3", target="postgres",
        target_schema=pg_schema, file_rows=4000, chunk_rows=4000, upper_bound_lag_seconds=0,
        late_commit_window_seconds=60,
    )  # fmt: skip
    connections = project.root / "connections.yml"
    config = yaml.safe_load(connections.read_text())
    config["sources"]["mysql"]["port"] = link.port
    connections.write_text(yaml.safe_dump(config))
    project = load_project(project.root)
    return project, table_config(project.pipeline("testpipe"), f"{mysql_db}.orders")


def _runs(instance: DagsterInstance) -> list:
    return sorted(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)  # fmt: skip


def _worker_pid(instance: DagsterInstance, run_id: str) -> int:
    """The run worker's PID, from its "Started process for run (pid: N)" engine event."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        if entry.message.startswith("Started process for run") and entry.dagster_event:
            return int(str(entry.dagster_event.engine_event_data.metadata["pid"].value))
    raise AssertionError(f"run {run_id} reported no worker process")


def test_a_run_killed_mid_extraction_is_failed_and_the_next_run_finishes_exact(
    pipeline, link, writes, mysql, tmp_path
):
    started = time.monotonic()
    project, table = pipeline
    store = open_store(project, table.store)
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "MRA_TEST_MYSQL_PASSWORD": TEST_PASSWORD,
        TTL_ENV: "5",
    }
    with pg_database() as database:
        instance_config = instance_yaml(REPO / "deploy/local/dagster.yaml", database, FAST)
        with (
            Deployment.start(tmp_path, env, instance_config) as dep,
            DagsterInstance.from_ref(InstanceRef.from_dir(str(dep.home))) as instance,
        ):
            writes.start()
            dep.launch("sync_testpipe")
            (first,) = wait_for("the first run", lambda: _runs(instance), timeout=30)

            def extracting() -> dict | None:
                files = [o for o in store.list(table_base(table)) if o.key.endswith(".parquet")]
                raw = store.get_bytes(lease_key(table))
                lease = json.loads(raw) if raw else {}
                held = lease.get("run_id") == first.run_id and not lease.get("released")
                return lease if files and held else None

            lease = wait_for("files and the lease of the first run", extracting, timeout=60)
            step_pid, worker_pid = int(lease["pid"]), _worker_pid(instance, first.run_id)
            for pid in (step_pid, worker_pid):  # the run's processes, in the server's group
                assert os.getpgid(pid) == dep.procs["code_server"].pid
            # The next run (a schedule's tick) waits in the queue: one run per pipeline.
            dep.launch("sync_testpipe")
            second = _runs(instance)[-1]
            assert second.run_id != first.run_id
            time.sleep(2)  # two dequeue intervals
            assert instance.get_run_by_id(first.run_id).status == DagsterRunStatus.STARTED
            assert instance.get_run_by_id(second.run_id).status == DagsterRunStatus.QUEUED
            assert extracting() is not None  # still extracting: files, the lease held

            dep.kill_code_server()  # the server, the run worker and its step process
            writes.stop()
            wait_for("the step process to die", lambda: process_state(step_pid, time.time()), 10)
            link.rate = None
            dep.start_code_server()  # the service manager starts it again

            def status(run_id: str) -> DagsterRunStatus | None:
                run = instance.get_run_by_id(run_id)
                return run.status if run and run.is_finished else None

            def both() -> str:
                runs = (instance.get_run_by_id(r.run_id) for r in (first, second))
                return "(runs: " + ", ".join(r.status.value for r in runs if r) + ")"

            assert wait_for(
                "the dead run to fail", lambda: status(first.run_id), 60, state=both
            ) == (DagsterRunStatus.FAILURE)
            assert wait_for(
                "the next run to end", lambda: status(second.run_id), 120, state=both
            ) == (DagsterRunStatus.SUCCESS), dep.log("code_server")
            (failure,) = instance.all_logs(first.run_id, of_type=DagsterEventType.RUN_FAILURE)
            print(failure.message)
            # Failed by run monitoring, from the launcher's check of the worker's process.
            assert "Detected run worker status FAILED" in failure.message
            assert f"the run worker process {worker_pid} " in failure.message
            assert len(_runs(instance)) == 2  # nothing else ran
    lease = json.loads(store.get_bytes(lease_key(table)) or b"{}")
    assert (lease["run_id"], lease["released"]) == (second.run_id, True)
    assert lease["generation"] > 1  # taken over from the killed holder
    assert_same_rows(mysql, Sync(project, table), COLUMNS, KEY)
    print(f"deployment test: {time.monotonic() - started:.1f} s")
