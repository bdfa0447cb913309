"""Definitions from a pipelines folder. Reads YAML only: nothing connects, nothing reflects MySQL."""

from __future__ import annotations

import dagster as dg

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.defs.assets import build_parquet_asset, build_warehouse_asset
from mysql_redshift_assets.defs.checks import build_checks
from mysql_redshift_assets.defs.maintenance import build_s3clean_job, build_s3clean_schedule
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource


def build_definitions(project: Project) -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    jobs: list = []
    schedules: list[dg.ScheduleDefinition] = []
    for pipeline in project.pipelines.values():
        for table in table_configs(pipeline):
            assets += [build_parquet_asset(project, table), build_warehouse_asset(project, table)]
            checks += build_checks(table)
        s3clean = build_s3clean_job(pipeline)
        jobs.append(s3clean)
        if schedule := build_s3clean_schedule(pipeline, s3clean):
            schedules.append(schedule)
        jobs.append(
            dg.define_asset_job(
                f"sync_{pipeline.name}",
                selection=dg.AssetSelection.groups(pipeline.name),
                description=f"Every table of pipeline {pipeline.name}: MySQL -> store -> warehouse.",
                tags={"mysql_redshift/pipeline": pipeline.name},
            )
        )
    connections = ConnectionsResource(pipelines_dir=str(project.root))
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        resources={
            "connections": connections,
            "watermarks": WatermarkResource(connections=connections),
        },
    )
