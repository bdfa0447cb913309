"""`sync --submit`: the runs `sync` would execute, queued in the Dagster instance instead.

Done as `dagster job launch` does it (dagster/_cli/job.py, `execute_launch_command`) and as the
sensor daemon creates its runs with an asset selection (dagster/_daemon/sensor.py,
`_create_sensor_run`): load the code location from a workspace (`--workspace`, the same
workspace.yaml the daemon reads), take the asset job from it, subset it to the assets and
checks, create the run in the instance with the location's origin, and hand it to
`instance.submit_run`, i.e. to the instance's run coordinator. Under the QueuedRunCoordinator the
run waits in the queue until the daemon launches it, counted by the instance's tag limits (one
run a pipeline) and, once running, by its pools. Chosen over the GraphQL client: no webserver
needed, the same `DAGSTER_HOME` the in-process sync uses, and the run is the same (selection,
tags, config) because it is built by the same code.

`--wait` then follows each run in the instance (its status and its event log) to the end, and
turns its events into what an in-process sync returns (`SubmittedRun`), so the summary, the
error lines and the exit code are the in-process sync's.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.events import DagsterEvent
from dagster._core.remote_representation.code_location import CodeLocation
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.workspace.context import BaseWorkspaceRequestContext, WorkspaceProcessContext
from dagster._core.workspace.load_target import (
    ModuleTarget,
    WorkspaceFileTarget,
    WorkspaceLoadTarget,
)
from dagster._daemon.controller import get_daemon_statuses
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from mysql_redshift_assets.config.errors import ConfigError

ASSET_JOB = "__ASSET_JOB"  # the implicit asset job the in-process sync subsets as well
CODE_LOCATION_MODULE = "mysql_redshift_assets.definitions"
# The location's name as `make dev` (`dg dev`, pyproject's `code_location_name`) and this
# repository's workspace.yaml serve it: a queued run names its location, and the daemon
# launches it from the location of that name in its own workspace.
CODE_LOCATION_NAME = "mysql_redshift_assets"
# The webserver's address, to print each submitted run's page (optional).
WEBSERVER_URL_ENV = "MYSQL_REDSHIFT_DAGSTER_URL"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@dataclass(frozen=True)
class Submission:
    """One run as the in-process sync would execute it."""

    assets: set[dg.AssetKey]
    checks: set[dg.AssetCheckKey]
    tags: dict[str, str]
    run_config: dict[str, Any]


def coordinator_warning(instance: dg.DagsterInstance) -> str | None:
    """What a user should know before waiting: a coordinator other than the queue launches at
    once (no tag limits); a queue no daemon serves (no heartbeat for 90 s; it beats every
    30 s) keeps the run QUEUED."""
    coordinator = instance.run_coordinator
    if not isinstance(coordinator, QueuedRunCoordinator):
        return (
            f"warning: the instance's run coordinator is {type(coordinator).__name__}: the run "
            "is launched at once, without the queue's tag limits (deploy/*/dagster.yaml queue)"
        )
    daemon = QueuedRunCoordinatorDaemon.daemon_type()
    status = get_daemon_statuses(
        instance, [daemon], ignore_errors=True, heartbeat_tolerance_seconds=60
    )[daemon]
    if status.required and not status.healthy:
        return (
            "warning: no dagster-daemon has reported to this instance in the last 90 s: the run "
            "stays QUEUED until one runs (`dagster-daemon run`, or `make dev`)"
        )
    return None


def workspace_target(path: str | None, pipelines_dir: Path) -> WorkspaceLoadTarget:
    """`--workspace FILE` (a deployment's: its gRPC code server, e.g. the Helm chart's
    user deployment); else the package's code location module, loading `pipelines_dir`."""
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"--workspace {path}: no such file")
        return WorkspaceFileTarget([str(Path(path).resolve())])
    # The code server is a child process: it reads the pipelines folder from the environment.
    os.environ["MYSQL_REDSHIFT_PIPELINES_DIR"] = str(pipelines_dir)
    return ModuleTarget(CODE_LOCATION_MODULE, None, None, CODE_LOCATION_NAME)


@contextmanager
def open_workspace(
    instance: dg.DagsterInstance, target: WorkspaceLoadTarget
) -> Iterator[BaseWorkspaceRequestContext]:
    # The code server this process may start logs its start and stop: not this command's news.
    with WorkspaceProcessContext(instance, target, code_server_log_level="WARNING") as process:
        yield process.create_request_context()


def _location_for(
    workspace: BaseWorkspaceRequestContext, keys: set[dg.AssetKey]
) -> tuple[CodeLocation, str]:
    """The code location (and repository) whose asset job holds every key of the run."""
    names: list[str] = []
    broken: list[str] = []
    for entry in workspace.get_code_location_entries().values():
        location = entry.code_location
        if location is None:
            if entry.load_error is not None:
                broken.append(
                    f"{entry.origin.location_name}: {_last_line(entry.load_error.message)}"
                )
            continue
        names.append(location.name)
        for repo in location.get_repositories().values():
            if repo.has_job(ASSET_JOB) and keys <= set(repo.asset_graph.get_all_asset_keys()):
                return location, repo.name
    where = ", ".join(names) or "none loaded"
    raise ConfigError(
        f"no code location of the workspace (locations: {where}) has the assets "
        f"{', '.join(sorted(k.to_user_string() for k in keys)[:3])}: the code location must "
        "load the same pipelines folder (MYSQL_REDSHIFT_PIPELINES_DIR) as this command"
        + (f" (not loaded: {'; '.join(broken)})" if broken else "")
    )


def submit(
    instance: dg.DagsterInstance, workspace: BaseWorkspaceRequestContext, run: Submission
) -> str:
    """Create the run in the instance and give it to the run coordinator; its id."""
    location, repo_name = _location_for(workspace, run.assets)
    remote_job = location.get_job(
        JobSubsetSelector(
            location_name=location.name,
            repository_name=repo_name,
            job_name=ASSET_JOB,
            op_selection=None,
            asset_selection=run.assets,
            asset_check_selection=run.checks,
        )
    )
    plan = location.get_execution_plan(
        remote_job, run.run_config, step_keys_to_execute=None, known_state=None, instance=instance
    )
    created = instance.create_run(
        job_name=ASSET_JOB,
        run_id=None,
        run_config=run.run_config,
        resolved_op_selection=remote_job.resolved_op_selection,
        step_keys_to_execute=None,
        status=DagsterRunStatus.NOT_STARTED,
        op_selection=None,
        root_run_id=None,
        parent_run_id=None,
        tags={**(remote_job.run_tags or {}), **run.tags},
        job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_selection=frozenset(run.assets),
        asset_check_selection=frozenset(run.checks),
        asset_graph=location.get_repository(repo_name).asset_graph,
    )
    return instance.submit_run(created.run_id, workspace).run_id


@dataclass
class SubmittedRun:
    """A submitted run followed to its end: what `sync` reads of an in-process result."""

    run_id: str
    status: DagsterRunStatus = DagsterRunStatus.QUEUED
    all_events: list[DagsterEvent] = field(default_factory=list)
    cursor: str | None = None

    @property
    def success(self) -> bool:
        return self.status == DagsterRunStatus.SUCCESS

    def get_asset_materialization_events(self) -> list[DagsterEvent]:
        return [e for e in self.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]


def _print_new(instance: dg.DagsterInstance, run: SubmittedRun, quiet: bool) -> None:
    """Read the run's new event log records; print its log lines (each table's progress,
    warnings, errors) and its steps, as they come."""
    while True:
        page = instance.get_records_for_run(run.run_id, cursor=run.cursor)
        run.cursor = page.cursor
        for record in page.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            if event is not None:
                run.all_events.append(event)
                if event.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                    _say(quiet, f"{run.run_id[:8]} {event.step_key}: {event.event_type_value}")
            elif entry.user_message and _level(entry.level) >= logging.INFO:
                _say(quiet, f"{run.run_id[:8]} {entry.user_message.splitlines()[0]}")
        if not page.has_more:
            return


def _level(level: str | int) -> int:
    number = level if isinstance(level, int) else logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else text


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        print(line, file=sys.stderr, flush=True)


def wait(
    instance: dg.DagsterInstance,
    run_ids: list[str],
    *,
    poll_seconds: float = 1.0,
    quiet: bool = False,
) -> list[SubmittedRun]:
    """Follow the runs until each has ended (success, failure, canceled): status changes and
    the run log on stderr (not with `--json`)."""
    runs = [SubmittedRun(r) for r in run_ids]
    last: Mapping[str, DagsterRunStatus | None] = {}
    while True:
        seen: dict[str, DagsterRunStatus | None] = {}
        for run in runs:
            record = instance.get_run_by_id(run.run_id)
            if record is None:
                raise ConfigError(f"run {run.run_id} is no longer in the instance")
            _print_new(instance, run, quiet)
            run.status = record.status
            seen[run.run_id] = record.status
            if last.get(run.run_id) != record.status:
                _say(quiet, f"run {run.run_id}: {record.status.value}")
        last = seen
        if all(r.status in FINISHED for r in runs):
            for run in runs:  # the last records, written as the run ended
                _print_new(instance, run, quiet)
            return runs
        time.sleep(poll_seconds)
