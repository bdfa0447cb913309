"""Every schedule and sensor of the shipped pipelines, evaluated: each run request fits its job.

A schedule or sensor whose run config names an op that does not exist loads fine and fails only
at its first tick, in the daemon, at night. Here each one ticks once and every RunRequest's run
config is validated against the job it would launch.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.demo import create_or_grow
from mysql_redshift_assets.project import load_project

AutomationSensor = dg.AutomationConditionSensorDefinition

REPO_PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = datetime.now(UTC)
SETTLEMENT_TABLES = {
    "settle_orders": """CREATE TABLE settle_orders (
        id BIGINT UNSIGNED PRIMARY KEY, tracking_number VARCHAR(32) NOT NULL,
        created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL)""",
    "billing_lines": """CREATE TABLE billing_lines (
        id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(12,2) NOT NULL)""",
}
# Today's names: users have schedules, cursors and runs stored under them.
EXPECTED_SCHEDULES = {
    "sync_demo_schedule",
    "sync_demo__shop__events_schedule",
    "sync_settlement_schedule",
    "sync_settlement__settlement__parcel_events_schedule",
    "s3clean_demo_schedule",
    "s3clean_settlement_schedule",
}
EXPECTED_SENSORS = {
    "settlement__settlement__settle_orders__new_data",
    "settlement__settlement__billing_lines__id_ranges",
}


def _settlement_source(folder: Path) -> None:
    """The settlement schema the sensors read, as a demo (SQLite) file: rows past any watermark."""
    ts = (NOW - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    con = sqlite3.connect(folder / "settlement.sqlite")
    with con:
        for ddl in SETTLEMENT_TABLES.values():
            con.execute(ddl)
        con.executemany(
            "INSERT INTO settle_orders VALUES (?, ?, ?, ?)",
            [(i, f"TN{i:06d}", ts, ts) for i in range(1, 11)],
        )
        con.executemany("INSERT INTO billing_lines VALUES (?, ?)", [(7, "1.00"), (12, "2.50")])
    con.close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """The shipped pipelines and the production example with s3clean scheduled and
    settlement's servers standing in locally."""
    root = tmp_path / "pipelines"
    shutil.copytree(REPO_PIPELINES, root)
    shutil.copy(REPO_EXAMPLES / "settlement.yml", root)
    for name in ("demo.yml", "settlement.yml"):  # the shipped files schedule no s3clean
        with (root / name).open("a") as f:
            f.write('\ns3clean:\n  cron: "0 3 * * *"\n  older_than: 7d\n')
    # Settlement's MySQL and S3 become a demo source and a local folder, so the sensors read a
    # real source and nothing leaves this machine. Pipelines, tables and names are unchanged.
    connections = yaml.safe_load((root / "connections.yml").read_text())
    example = yaml.safe_load((REPO_EXAMPLES / "connections.yml").read_text())
    for group in ("sources", "stores", "targets"):
        connections[group] |= example[group]
    connections["sources"]["us_dw_ro"] = {"kind": "demo", "path": "../.local/demo/source"}
    connections["stores"]["s3_backup"] = {"kind": "local", "path": "../.local/settlement/store"}
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    folder = tmp_path / ".local" / "demo" / "source"
    create_or_grow(folder, random.Random(0))
    _settlement_source(folder)
    return load_project(root)


def _job_for(repo: dg.RepositoryDefinition, request: dg.RunRequest) -> dg.JobDefinition:
    job = repo.get_job(request.job_name)
    if request.asset_selection is not None:  # a sensor on assets: the base job, subset
        return job.get_subset(asset_selection=set(request.asset_selection))
    return job


def _check_request(
    repo: dg.RepositoryDefinition,
    request: dg.RunRequest,
    added_partitions: set[str],
) -> None:
    job = _job_for(repo, request)
    dg.validate_run_config(job, request.run_config)  # raises DagsterInvalidConfigError
    if request.partition_key is not None:
        pdef = job.partitions_def
        assert pdef is not None, f"{job.name}: partition {request.partition_key} on no partitions"
        if isinstance(pdef, dg.DynamicPartitionsDefinition):
            assert request.partition_key in added_partitions
        else:
            assert pdef.has_partition_key(request.partition_key)


def test_every_schedule_and_sensor_requests_runs_whose_config_fits_the_job(project):
    defs = build_definitions(project)
    repo = defs.get_repository_def()
    schedules = list(defs.schedules or [])
    automation = [s for s in defs.sensors or [] if isinstance(s, AutomationSensor)]
    sensors = [s for s in defs.sensors or [] if not isinstance(s, AutomationSensor)]
    # Declarative automation runs in the daemon; its runs carry the pipeline's tag and its
    # run timeout (the default max_runtime_seconds).
    limit = {"dagster/max_runtime": "86400"}
    assert {s.name: s.run_tags for s in automation} == {
        "automation_demo": {"mysql_redshift/pipeline": "demo", **limit},
        "automation_settlement": {"mysql_redshift/pipeline": "settlement", **limit},
    }
    assert {s.name for s in schedules} == EXPECTED_SCHEDULES
    assert {s.name for s in sensors} == EXPECTED_SENSORS
    evaluated: dict[str, int] = {}
    with dg.instance_for_test() as instance:
        for schedule in schedules:
            with dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=NOW,
                repository_def=repo,
                resources=defs.resources,  # a time table's schedule reads its watermark
            ) as context:
                tick = schedule.evaluate_tick(context)
            assert tick.run_requests, f"{schedule.name}: {tick.skip_message}"
            assert all(r.job_name in (None, schedule.job_name) for r in tick.run_requests)
            for request in tick.run_requests:
                _check_request(repo, request.with_replaced_attrs(job_name=schedule.job_name), set())
            evaluated[schedule.name] = len(tick.run_requests)
        for sensor in sensors:
            with dg.build_sensor_context(
                instance=instance,
                instance_ref=instance.get_ref(),  # so partitions it adds resolve, as in the daemon
                definitions=defs,
                resources=defs.resources,
            ) as context:
                tick = sensor.evaluate_tick(context)
            assert tick.run_requests, f"{sensor.name}: {tick.skip_message}"
            added = {
                key
                for r in tick.dynamic_partitions_requests or []
                if isinstance(r, dg.AddDynamicPartitionsRequest)
                for key in r.partition_keys
            }
            for request in tick.run_requests:
                _check_request(repo, request, added)
            evaluated[sensor.name] = len(tick.run_requests)
    assert evaluated and set(evaluated) == EXPECTED_SCHEDULES | EXPECTED_SENSORS
    # billing_lines has ids up to 12: one 5M-id range, added by the sensor and run.
    assert evaluated["settlement__settlement__billing_lines__id_ranges"] == 1
