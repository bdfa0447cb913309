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
