"""The shipped instance configs are valid for the Dagster and dagster-aws versions we install."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config, dagster_instance_config_schema
from dagster._core.instance.ref import InstanceRef
from dagster_aws.ecs import EcsRunLauncher

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", ["deploy/local/dagster.yaml", "deploy/ecs/dagster.yaml"])
def test_instance_yaml_matches_dagsters_schema(path, monkeypatch, tmp_path):
    # The env-sourced values a deployment sets (placeholders here: only the shape is checked).
    for var in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(var, "placeholder")
    config = yaml.safe_load((REPO / path).read_text())
    result = process_config(dagster_instance_config_schema(), config)
    assert result.success, [e.message for e in result.errors]
    # Dagster's own loader also cross-checks sections (e.g. run queue vs `concurrency`).
    shutil.copy(REPO / path, tmp_path / "dagster.yaml")
    dagster_instance_config(str(tmp_path))


def test_the_local_instance_starts_from_the_shipped_dagster_yaml(tmp_path):
    shutil.copy(REPO / "deploy/local/dagster.yaml", tmp_path / "dagster.yaml")
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 2


def test_ecs_run_launcher_config_matches_dagster_aws_schema(monkeypatch):
    monkeypatch.setenv(
        "DAGSTER_RUN_TASK_DEFINITION", "arn:aws:ecs:us-east-1:000000000000:task-definition/run:1"
    )
    launcher = yaml.safe_load((REPO / "deploy/ecs/dagster.yaml").read_text())["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    result = process_config(EcsRunLauncher.config_type(), launcher["config"])
    assert result.success, [e.message for e in result.errors]


def test_a_typo_in_the_launcher_config_is_caught(monkeypatch):
    monkeypatch.setenv(
        "DAGSTER_RUN_TASK_DEFINITION", "arn:aws:ecs:us-east-1:000000000000:task-definition/run:1"
    )
    launcher = yaml.safe_load((REPO / "deploy/ecs/dagster.yaml").read_text())["run_launcher"]
    bad = {**launcher["config"], "task_defintion": "typo"}
    assert not process_config(EcsRunLauncher.config_type(), bad).success


# -- run monitoring, python logs, compute logs (issue 25, items 2 and 5) ----------------------
def _instance_from(path: str, tmp_path: Path, **overrides: object) -> DagsterInstance:
    """A real instance from a shipped dagster.yaml; `overrides` replace whole sections (the ECS
    file's Postgres storage and ECS launcher cannot start here: they are swapped for local ones,
    every other section is loaded as shipped)."""
    config = yaml.safe_load((REPO / path).read_text()) | overrides
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path)))


LOCAL_SECTIONS = {
    "run_launcher": {
        "module": "dagster._core.launcher",
        "class": "DefaultRunLauncher",
        "config": {},
    },
}


@pytest.mark.parametrize("path", ["deploy/local/dagster.yaml", "deploy/ecs/dagster.yaml"])
def test_run_monitoring_and_library_logs_are_on_in_every_instance(path, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_BUCKET", "placeholder-bucket")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    overrides: dict[str, object] = {}
    if path.startswith("deploy/ecs"):
        overrides = {**LOCAL_SECTIONS, "storage": {"sqlite": {"base_dir": str(tmp_path)}}}
    with _instance_from(path, tmp_path, **overrides) as instance:
        assert instance.run_monitoring_enabled
        # A dead worker's run fails instead of holding its tag and pool slots forever.
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_poll_interval_seconds == 60
        assert instance.run_monitoring_max_runtime_seconds == 86_400  # untagged runs
        assert instance.run_monitoring_start_timeout_seconds >= 180
        assert list(instance.managed_python_loggers) == ["mysql_redshift_assets"]
        assert instance.python_log_level == "INFO"
        # Pools and the one-run-per-pipeline tag limit are as before.
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 2
        [limit] = concurrency.run_queue_config.tag_concurrency_limits
        assert limit["key"] == "mysql_redshift/pipeline" and limit["limit"] == 1
        # A queued run launched while the code server restarts is tried again.
        assert instance.run_coordinator.get_run_queue_config().max_user_code_failure_retries == 3


def test_the_local_instance_checks_its_run_workers_health(tmp_path):
    from mysql_redshift_assets.defs.run_launcher import LocalProcessRunLauncher

    with _instance_from("deploy/local/dagster.yaml", tmp_path) as instance:
        assert isinstance(instance.run_launcher, LocalProcessRunLauncher)
        # Run monitoring checks a worker only where the launcher says it can.
        assert instance.run_launcher.supports_check_run_worker_health


def test_the_instance_storage_uses_psycopg2(monkeypatch):
    """SQLAlchemy 2.1 maps `postgresql://` to psycopg 3, installed here for the PostgreSQL target,
    on which dagster-postgres fails: the ECS config and the Helm values name psycopg2."""
    from dagster_postgres.utils import pg_url_from_config

    for var in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(var, "placeholder")
    storage = yaml.safe_load((REPO / "deploy/ecs/dagster.yaml").read_text())["storage"]
    config = process_config(dagster_instance_config_schema(), {"storage": storage}).value
    assert pg_url_from_config(config["storage"]["postgres"]).startswith("postgresql+psycopg2://")
    values = yaml.safe_load((REPO / "deploy/k8s/values.yaml").read_text())
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"


def test_ecs_compute_logs_go_to_s3(tmp_path, monkeypatch):
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_BUCKET", "placeholder-bucket")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    section = yaml.safe_load((REPO / "deploy/ecs/dagster.yaml").read_text())["compute_logs"]
    result = process_config(S3ComputeLogManager.config_type(), section["config"])
    assert result.success, [e.message for e in result.errors]
    overrides = {**LOCAL_SECTIONS, "storage": {"sqlite": {"base_dir": str(tmp_path)}}}
    with _instance_from("deploy/ecs/dagster.yaml", tmp_path, **overrides) as instance:
        manager = instance.compute_log_manager
        assert isinstance(manager, S3ComputeLogManager)  # built without an AWS call
        assert manager._s3_bucket == "placeholder-bucket"  # noqa: SLF001 (from the env var)
        assert manager.upload_interval == 30


# -- dagster/max_runtime on the jobs the project builds ---------------------------------------
def _project(root: Path, **pipeline: object):
    from mysql_redshift_assets.project import load_project

    root.mkdir()
    (root / "connections.yml").write_text(
        yaml.safe_dump(
            {
                "sources": {"db": {"kind": "mysql", "host": "127.0.0.1", "user": "etl"}},
                "stores": {"files": {"kind": "local", "path": "store"}},
                "targets": {"wh": {"kind": "duckdb", "path": "wh.duckdb"}},
            }
        )
    )
    tables = {
        "shop.orders": {"append_only": True},
        "shop.events": {
            "mode": "time",
            "cursor": "created_at",
            "partitions": {"granularity": "daily", "start": "2024-01-01"},
        },
    }
    spec = {"source": "db", "store": "files", "target": "wh", "tables": tables, **pipeline}
    (root / "shop.yml").write_text(yaml.safe_dump(spec))
    return load_project(root)


@pytest.mark.parametrize(("setting", "tag"), [({}, "86400"), ({"max_runtime_seconds": 0}, "0")])
def test_every_job_and_automated_run_carries_the_pipelines_max_runtime(tmp_path, setting, tag):
    from mysql_redshift_assets.defs.build import build_definitions

    defs = build_definitions(_project(tmp_path / "p", **setting))
    jobs = {job.name: job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert {"sync_shop", "reconcile_shop", "resync_shop", "s3clean_shop"} <= set(jobs)
    assert any(name.startswith("sync_shop_") for name in jobs)  # the partitioned table's job
    for name, job in jobs.items():
        assert job.tags.get("dagster/max_runtime") == tag, name
    automation = defs.resolve_sensor_def("automation_shop")
    assert automation.run_tags["dagster/max_runtime"] == tag  # type: ignore[attr-defined]


def test_a_max_runtime_past_a_week_is_refused(tmp_path):
    from mysql_redshift_assets.config.errors import ConfigError

    with pytest.raises(
        ConfigError, match="max_runtime_seconds: Input should be less than or equal"
    ):
        _project(tmp_path / "p", max_runtime_seconds=8 * 86_400)
