"""Broken pipeline files, visible in the UI: the healthy pipelines load beside them.

Each pipeline file that did not load (`Project.broken`) gets an asset `config_errors/<pipeline>`
(its description and metadata carry every error) with a check `pipeline_file_valid`. The sensor
`pipeline_file_errors` (running by default) records that check as failed, with the errors, so
the asset shows red in the catalog without anyone running anything; running the check in the
UI fails it the same way. A folder with no broken file adds nothing.
"""

from __future__ import annotations

import hashlib

import dagster as dg

from mysql_redshift_assets.config.loader import Project

CHECK_NAME = "pipeline_file_valid"
SENSOR_NAME = "pipeline_file_errors"


def error_asset_key(pipeline: str) -> dg.AssetKey:
    return dg.AssetKey(["config_errors", pipeline])


def _evaluation(project: Project, pipeline: str) -> dg.AssetCheckEvaluation:
    errors = project.broken[pipeline]
    return dg.AssetCheckEvaluation(
        asset_key=error_asset_key(pipeline),
        check_name=CHECK_NAME,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{pipeline}.yml did not load; its tables are missing from this location",
        metadata={"errors": dg.MetadataValue.md(_markdown(errors))},
    )


def _markdown(errors: str) -> str:
    return "\n".join(f"- `{line}`" for line in errors.splitlines())


def _asset(project: Project, pipeline: str) -> dg.AssetSpec:
    errors = project.broken[pipeline]
    return dg.AssetSpec(
        key=error_asset_key(pipeline),
        group_name="config_errors",
        description=f"**{pipeline}.yml has errors and was not loaded:**\n\n{_markdown(errors)}",
        metadata={"errors": dg.MetadataValue.md(_markdown(errors)), "path": str(project.root)},
        kinds={"yaml"},
    )


def _check(project: Project, pipeline: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=error_asset_key(pipeline),
        name=CHECK_NAME,
        description="Fails while the pipeline file has errors (fix the file, reload the location).",
    )
    def check() -> dg.AssetCheckResult:
        evaluation = _evaluation(project, pipeline)
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            description=evaluation.description,
            metadata=evaluation.metadata,
        )

    return check


def _sensor(project: Project) -> dg.SensorDefinition:
    fingerprint = hashlib.sha256(repr(sorted(project.broken.items())).encode()).hexdigest()

    @dg.sensor(
        name=SENSOR_NAME,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Marks the check of each broken pipeline file failed (once per set of errors).",
    )
    def sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        if context.cursor == fingerprint:
            return dg.SkipReason(f"already reported: {', '.join(sorted(project.broken))}")
        return dg.SensorResult(
            asset_events=[_evaluation(project, name) for name in sorted(project.broken)],
            cursor=fingerprint,
        )

    return sensor


def config_error_definitions(project: Project) -> dg.Definitions:
    """The assets, checks and sensor that show `project.broken` (empty when nothing is)."""
    if not project.broken:
        return dg.Definitions()
    names = sorted(project.broken)
    return dg.Definitions(
        assets=[_asset(project, name) for name in names],
        asset_checks=[_check(project, name) for name in names],
        sensors=[_sensor(project)],
    )
