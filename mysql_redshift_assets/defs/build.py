"""Definitions from a pipelines folder. Reads YAML only: nothing connects, nothing reflects MySQL."""

from __future__ import annotations

import dagster as dg

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.defs.assets import build_parquet_asset, build_warehouse_asset
from mysql_redshift_assets.defs.automation import automation_for
from mysql_redshift_assets.defs.check_target import build_check_target_job
from mysql_redshift_assets.defs.checks import build_checks
from mysql_redshift_assets.defs.config_errors import config_error_definitions
from mysql_redshift_assets.defs.maintenance import build_s3clean_job, build_s3clean_schedule
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.defs.resync import build_resync_job


def build_definitions(project: Project) -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    jobs: list = []
    schedules: list = []
    sensors: list[dg.SensorDefinition] = []
    for pipeline in project.pipelines.values():
        tables = table_configs(pipeline)
        for table in tables:
            assets += [build_parquet_asset(project, table), build_warehouse_asset(project, table)]
            checks += build_checks(table)
        more_jobs, more_schedules, more_sensors = automation_for(pipeline, tables)
        jobs += more_jobs
        schedules += more_schedules
        sensors += more_sensors
        s3clean = build_s3clean_job(pipeline)
        jobs += [s3clean, build_resync_job(pipeline), build_check_target_job(pipeline)]
        if schedule := build_s3clean_schedule(pipeline, s3clean):
            schedules.append(schedule)
    connections = ConnectionsResource(pipelines_dir=str(project.root))
    defs = dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={
            "connections": connections,
            "watermarks": WatermarkResource(connections=connections),
        },
    )
    # Broken pipeline files: red in the UI beside the healthy pipelines (defs/config_errors.py).
    return dg.Definitions.merge(defs, config_error_definitions(project))
