"""A run launcher for one machine that tells run monitoring when a run worker's process is gone.

Dagster's `DefaultRunLauncher` starts each run in a process of its code server and cannot
report that process's health, so run monitoring skips the check (Dagster calls it only when
`supports_check_run_worker_health` is true: `_daemon/monitoring/run_monitoring.py`). While that
code server lives it notices its own worker's death and fails the run. When the server goes
with it (a restart of the code-location service, a crash, the OOM killer taking the process
tree, a reboot), nothing does: the run stays STARTED forever, keeping its pipeline's tag slot
(limit 1) and its pool slots, and that pipeline never runs again.

`LocalProcessRunLauncher` is the `DefaultRunLauncher` plus that check. The worker's PID comes
from its own "Started process for run (pid: N)" engine event. The check answers FAILED once that
process is gone, a zombie, or another process that started after the event (a reused PID).
It trusts a PID only when the code server runs on this machine (`localhost`, `127.0.0.1`, `::1`,
this hostname, or a socket), i.e. daemon and code server on one VM. Otherwise it reports the
worker RUNNING (it cannot tell, and saying FAILED would fail a healthy run). Use the ECS or
Kubernetes launcher there.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster_shared import seven

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}
# The event is written after the process started; /proc's start time is rounded to a tick and
# the boot time to a second.
_START_SLACK_SECONDS = 2.0
_FIRST_EVENTS = 50


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_state(pid: int, started_by: float) -> str | None:
    """Why process `pid` is not the worker that was running at `started_by` (a Unix time), or
    None if it is alive and can be it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return "gone"
    except OSError:  # no /proc (another OS): only whether the PID exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "gone"
        except PermissionError:
            pass
        return None
    if stat[0] in ("Z", "X"):
        return "exited (a zombie)"
    boot = _boot_time()
    if boot is not None:
        started = boot + int(stat[19]) / os.sysconf("SC_CLK_TCK")
        if started > started_by + _START_SLACK_SECONDS:
            return "gone (its PID now belongs to a process started later)"
    return None


class LocalProcessRunLauncher(dg.DefaultRunLauncher):
    """`DefaultRunLauncher` whose run workers' health run monitoring can check (same machine)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def _worker(self, run: dg.DagsterRun) -> tuple[int, float] | None:
        """(PID, when it reported) of the run's worker process, from its engine event: among the
        run's first engine events (a bounded read at every poll; runs are never resumed here,
        so there is one worker)."""
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=_FIRST_EVENTS
        ).records
        for record in records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is None or not entry.message.startswith("Started process for run"):
                continue
            pid = event.engine_event_data.metadata.get("pid")
            if pid is not None and str(pid.value).isdigit():
                return int(str(pid.value)), entry.timestamp
        return None

    def _code_server_is_local(self, run: dg.DagsterRun) -> bool:
        raw = run.tags.get(GRPC_INFO_TAG)
        if not raw:
            return False
        info = seven.json.loads(raw)
        host = info.get("host")
        return bool(info.get("socket")) or host in _LOCAL_HOSTS | {socket.gethostname()}

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        if not self._code_server_is_local(run):
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, "the run's code server is on another host: not checked"
            )
        worker = self._worker(run)
        if worker is None:  # launched, its process not started yet: the start timeout covers it
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no worker process reported yet")
        pid, at = worker
        why = process_state(pid, at)
        if why is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the run worker process {pid} on {socket.gethostname()} (started {since}) is "
            f"{why}: the run ended without reporting its end (killed, OOM, a crash)",
            run_worker_id=str(pid),
        )
