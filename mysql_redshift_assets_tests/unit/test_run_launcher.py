"""`LocalProcessRunLauncher`'s check of a run worker's process (the deployment test,
e2e/test_deployment.py, runs it in a real daemon)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from mysql_redshift_assets.defs.run_launcher import LocalProcessRunLauncher, process_state


def test_a_live_process_is_the_worker_and_an_exited_one_is_not():
    assert process_state(os.getpid(), time.time()) is None
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    while not os.path.exists(f"/proc/{child.pid}") or process_state(child.pid, time.time()) is None:
        time.sleep(0.05)  # until it exits: then a zombie (not reaped yet)
    assert process_state(child.pid, time.time()) == "exited (a zombie)"
    child.wait()
    assert process_state(child.pid, time.time()) == "gone"


def test_a_pid_that_started_after_the_worker_reported_is_another_process():
    # This process started before now: an event "an hour ago" cannot have come from it.
    assert "started later" in (process_state(os.getpid(), time.time() - 3600) or "")


@dg.op
def _noop() -> None:
    pass


@dg.job
def _job() -> None:
    _noop()


def _run(instance: dg.DagsterInstance, host: str, pid: int) -> dg.DagsterRun:
    run = instance.create_run_for_job(
        _job,
        tags={GRPC_INFO_TAG: json.dumps({"host": host, "port": 4266})},
    )
    instance.report_engine_event(
        f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid)
    )
    return run


@pytest.fixture
def launcher():
    with dg.instance_for_test() as instance:
        launcher = LocalProcessRunLauncher()
        launcher.register_instance(instance)
        yield launcher, instance


def test_the_worker_of_a_local_code_server_is_checked_by_its_pid(launcher):
    launcher, instance = launcher
    assert launcher.supports_check_run_worker_health
    alive = launcher.check_run_worker_health(_run(instance, "localhost", os.getpid()))
    assert alive.status == WorkerStatus.RUNNING
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = launcher.check_run_worker_health(_run(instance, "127.0.0.1", child.pid))
    assert dead.status == WorkerStatus.FAILED
    assert f"run worker process {child.pid}" in (dead.msg or "") and "gone" in (dead.msg or "")


def test_a_worker_on_another_host_is_never_failed_by_a_pid_that_means_nothing_here(launcher):
    launcher, instance = launcher
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    result = launcher.check_run_worker_health(_run(instance, "user-code.internal", child.pid))
    assert result.status == WorkerStatus.RUNNING
    assert "another host" in (result.msg or "")
