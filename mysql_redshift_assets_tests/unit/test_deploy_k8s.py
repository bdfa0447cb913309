"""deploy/k8s: the Helm values give a valid Dagster instance, and the code location and the run
pods see one pipelines folder and one set of secrets.

The chart's values.schema.json is not kept in this repository; `deploy/k8s/check_values.py`
validates the values against it (docs/deploy.md says how, and what was run). Here: the
instance sections the chart renders from these values (as its `configmap-instance.yaml`
template maps them: camelCase keys to dagster.yaml's) load in Dagster, and the checker
catches what it must.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
PIPELINES_DIR = "/opt/dagster/app/pipelines"


def _values() -> dict[str, Any]:
    return yaml.safe_load((K8S / "values.yaml").read_text())


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def _instance_sections(values: dict[str, Any]) -> dict[str, Any]:
    """dagster.yaml's sections from the values, as the chart's templates render them
    (helm/dagster/templates/configmap-instance.yaml, helpers/instance/_concurrency.tpl,
    _run-coordinator.tpl, _compute-log-manager.tpl in github.com/dagster-io/dagster)."""
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    runs = values["concurrency"]["runs"]
    s3 = values["computeLogManager"]["config"]["s3ComputeLogManager"]
    logs = values["pythonLogs"]
    return {
        "run_monitoring": {_snake(k): v for k, v in daemon["runMonitoring"].items()},
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                _snake(k): v
                for k, v in daemon["runCoordinator"]["config"]["queuedRunCoordinator"].items()
            },
        },
        "concurrency": {
            "pools": {_snake(k): v for k, v in values["concurrency"]["pools"].items()},
            "runs": {
                "max_concurrent_runs": runs["maxConcurrentRuns"],
                "tag_concurrency_limits": runs["tagConcurrencyLimits"],
            },
        },
        "python_logs": {
            "python_log_level": logs["pythonLogLevel"],
            "managed_python_loggers": logs["managedPythonLoggers"],
        },
        "compute_logs": {
            "module": "dagster_aws.s3.compute_log_manager",
            "class": "S3ComputeLogManager",
            "config": {_snake(k): v for k, v in s3.items()},
        },
        "telemetry": {"enabled": values["telemetry"]["enabled"]},
    }


def test_the_helm_values_give_a_valid_dagster_instance(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    values = _values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    config = _instance_sections(values)  # run storage and the K8s launcher: local stand-ins
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300
        assert instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_monitoring_start_timeout_seconds == 600
        assert list(instance.managed_python_loggers) == ["mysql_redshift_assets"]
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 2
        [limit] = concurrency.run_queue_config.tag_concurrency_limits
        assert (limit["key"], limit["limit"]) == ("mysql_redshift/pipeline", 1)
        assert limit["value"] == {"applyLimitPerUniqueValue": True}
        assert type(instance.compute_log_manager).__name__ == "S3ComputeLogManager"
        assert instance.compute_log_manager.upload_interval == 30  # type: ignore[attr-defined]


def test_the_code_location_and_the_run_pods_see_one_pipelines_folder_and_secrets():
    values = _values()
    [deployment] = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert deployment["env"]["MYSQL_REDSHIFT_PIPELINES_DIR"] == PIPELINES_DIR
    assert f"MYSQL_REDSHIFT_PIPELINES_DIR={PIPELINES_DIR}" in launcher["envVars"]
    assert (
        deployment["envSecrets"] == launcher["envSecrets"] == [{"name": "mysql-redshift-secrets"}]
    )
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    dockerfile = (K8S / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "WORKDIR /opt/dagster/app\n" in dockerfile and "COPY pipelines ./pipelines" in dockerfile
    assert f"MYSQL_REDSHIFT_PIPELINES_DIR={PIPELINES_DIR}" in dockerfile
    # The ECS instance gives its run tasks the same folder.
    ecs = yaml.safe_load((REPO / "deploy/ecs/dagster.yaml").read_text())
    assert (
        f"MYSQL_REDSHIFT_PIPELINES_DIR={PIPELINES_DIR}" in ecs["run_launcher"]["config"]["env_vars"]
    )


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_values", K8S / "check_values.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCHEMA = {
    "type": "object",
    "properties": {
        "daemon": {"$ref": "#/definitions/Daemon"},
        "resources": {"type": "object", "$ref": "https://kubernetesjsonschema.dev/x.json#/y"},
    },
    "required": ["daemon", "resources"],
    "definitions": {
        "Daemon": {
            "type": "object",
            "properties": {"runMonitoring": {"type": "object"}, "enabled": {"type": "boolean"}},
            "required": ["enabled"],
            "additionalProperties": False,
        }
    },
}


def test_the_values_checker_catches_typos_offline_and_merges_as_helm_does():
    check = _checker()
    good = {"daemon": {"runMonitoring": {"enabled": True}}, "resources": {"limits": {}}}
    assert check.errors(SCHEMA, good, partial=True) == []  # no network: the K8s $ref is skipped
    typo = {"daemon": {"runMonitring": {"enabled": True}}}
    assert check.errors(SCHEMA, typo, partial=True) == [
        "daemon: Additional properties are not allowed ('runMonitring' was unexpected)"
    ]
    # Full validation needs the chart's defaults merged in, as `helm install -f` does.
    assert check.errors(SCHEMA, good, partial=False) == ["daemon: 'enabled' is a required property"]
    chart = {"daemon": {"enabled": False, "runMonitoring": {"x": 1}}, "resources": {}, "l": [1, 2]}
    merged = check.helm_merge(chart, {"daemon": {"runMonitoring": {"enabled": True}}, "l": [3]})
    assert merged == {
        "daemon": {"enabled": False, "runMonitoring": {"x": 1, "enabled": True}},
        "resources": {},
        "l": [3],
    }
    assert check.helm_merge(chart, {"resources": None}) == {
        k: v for k, v in chart.items() if k != "resources"
    }
    assert check.errors(SCHEMA, merged, partial=False) == []
