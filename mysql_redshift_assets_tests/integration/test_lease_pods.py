"""The table lease across pods: a holder that dies anywhere loses it within its TTL, a live one
keeps it by its heartbeat, and a holder that lost it writes nothing (real processes; the moto S3
server and the local store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.naming import lease_key, table_base, watermark_key
from mysql_redshift_assets.state.lease import LeaseHeld, table_lease
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]
CHILD = Path(__file__).with_name("_lease_child.py")
TTL = 3  # seconds: the lease's lifetime in these tests
TTL_ENV = "MYSQL_REDSHIFT_LEASE_TTL_SECONDS"


@pytest.fixture
def orders(mysql, mysql_db):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, updated_at DATETIME NOT NULL)")
        cur.executemany(
            "INSERT INTO orders VALUES (%s, '2024-01-01 00:00:00')", [(i,) for i in range(1, 3001)]
        )
    return "orders"


def child(
    project: Project,
    table: TableConfig,
    mode: str,
    run_id: str,
    host: str | None = None,
    own_pids: bool = False,
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "MRA_TEST_MYSQL_PASSWORD": TEST_PASSWORD,
        TTL_ENV: str(TTL),
        "MRA_LEASE_TABLE": table.qualified,
        "MRA_LEASE_MODE": mode,
        "MRA_LEASE_RUN_ID": run_id,
    }
    command = [sys.executable, str(CHILD)]
    if host is not None:  # a new UTS namespace: the holder runs under another hostname
        # own_pids: and in its own PID namespace (as in another pod: its PID means nothing
        # here); --kill-child: killing `unshare` kills the holder.
        pids = ["--pid", "--fork", "--kill-child"] if own_pids else []
        shell = ["sh", "-c", f'hostname {host} && exec "$@"', "sh"]
        command = ["unshare", "--uts", *pids, *shell, *command]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_stopped(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "T":
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not stop")


def holder(store: ObjectStore, table: TableConfig) -> dict:
    raw = store.get_bytes(lease_key(table))
    assert raw is not None
    return json.loads(raw)


@pytest.mark.parametrize(("kind", "own_pids"), [("s3", True), ("local", True), ("s3", False)])
def test_a_holder_killed_on_another_host_is_taken_over_within_the_ttl(
    kind, own_pids, orders, mysql_db, make_project, monkeypatch
):
    """In its own PID namespace, only the lease's expiry frees the table; in this one (only the
    hostname differs), the holder's PID proves it gone at once. Either way within the TTL."""
    monkeypatch.setenv(TTL_ENV, str(TTL))
    project = make_project({f"{mysql_db}.orders": {"cursor": "updated_at"}}, store=kind)
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.orders")
    store = open_store(project, kind)
    proc = child(project, table, "hold", "pod-1", host="lease-other-pod", own_pids=own_pids)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held", (
            proc.stderr.read() if proc.stderr else ""
        )
        assert holder(store, table)["host"] == "lease-other-pod"
        with pytest.raises(LeaseHeld, match="pod-1"):  # alive: it holds the table
            with table_lease(store, table, "too-early"):
                pass
    finally:
        proc.kill()  # SIGKILL: no release, no clean-up
        proc.communicate()
    killed = time.monotonic()
    while True:
        try:
            with table_lease(store, table, "next-pod"):
                taken = time.monotonic() - killed
                assert holder(store, table)["generation"] == 2
            break
        except LeaseHeld:
            assert time.monotonic() - killed < TTL + 5, "the dead pod's lease was never taken"
            time.sleep(0.2)
    assert taken <= TTL + 1
    if own_pids:  # nothing here can see its process: the expiry did it
        assert taken >= TTL / 3


@pytest.mark.parametrize("kind", ["s3", "local"])
def test_the_heartbeat_keeps_a_working_holder_s_lease_for_several_ttls(
    kind, orders, mysql_db, make_project
):
    project = make_project({f"{mysql_db}.orders": {"cursor": "updated_at"}}, store=kind)
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.orders")
    store = open_store(project, kind)
    ttl = timedelta(seconds=1)
    started = time.monotonic()
    with table_lease(store, table, "worker", ttl=ttl):
        while time.monotonic() - started < 5 * ttl.total_seconds():
            with pytest.raises(LeaseHeld, match="worker"):
                with table_lease(store, table, "intruder", ttl=ttl):
                    pass
            time.sleep(0.25)
        WatermarkStore(store).save(table, Watermark(table=table.qualified, mode=table.mode))
    assert holder(store, table)["released"] is True
    with table_lease(store, table, "after", ttl=ttl):  # released: at once, the next generation
        assert holder(store, table)["generation"] == 2


def test_a_holder_stopped_past_its_ttl_writes_nothing_after_another_run_took_over(
    orders, mysql, mysql_db, make_project, monkeypatch
):
    monkeypatch.setenv(TTL_ENV, str(TTL))
    spec = {"cursor": "updated_at"}
    sync = Sync.of(
        make_project, mysql_db, "orders", spec, store="s3", file_rows=300, chunk_rows=100
    )
    store = open_store(sync.project, "s3")
    first = child(sync.project, sync.table, "stop", "run-stopped")
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "stopping"
        wait_stopped(first.pid)
        assert holder(store, sync.table)["run_id"] == "run-stopped"
        time.sleep(TTL + 1)  # its lease expires: nobody renews it
        done = sync.extract("run-second")  # takes the lease over and finishes
        assert done.rows >= 3000 - 300
        assert holder(store, sync.table)["generation"] == 2
        before = {
            o.key: store.get_bytes(o.key)
            for o in store.list(table_base(sync.table) + "/")
            if o.key != lease_key(sync.table)
        }
        os.kill(first.pid, signal.SIGCONT)
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode != 0 and "LeaseLost" in err, (first.returncode, out, err[-3000:])
    assert "run-stopped lost its lease" in err
    after = {
        o.key: store.get_bytes(o.key)
        for o in store.list(table_base(sync.table) + "/")
        if o.key != lease_key(sync.table)
    }
    assert after == before  # no file, no watermark written by the stopped run
    watermark = WatermarkStore(store).load(sync.table)
    assert watermark is not None and watermark.session is not None
    assert watermark.session.run_id == "run-second" and watermark.status == "success"
    assert store.get_bytes(watermark_key(sync.table)) == before[watermark_key(sync.table)]
    sync.load("run-second")
    sync.run("final")
    assert_same_rows(mysql, sync, ["id", "updated_at"], ["id"])
