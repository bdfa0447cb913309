"""Definitions from a pipelines folder. Reads YAML only: nothing connects, nothing reflects MySQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.config.resolve import TableConfig, table_configs
from mysql_redshift_assets.defs.assets import Execute, build_tables_op
from mysql_redshift_assets.defs.automation import automation_for
from mysql_redshift_assets.defs.check_target import build_check_target_job
from mysql_redshift_assets.defs.config_errors import config_error_definitions
from mysql_redshift_assets.defs.maintenance import build_s3clean_job, build_s3clean_schedule
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.defs.resync import build_resync_job
from mysql_redshift_assets.defs.table_run import TableAssets
from mysql_redshift_assets.defs.translator import MysqlRedshiftTranslator, translator_for
from mysql_redshift_assets.naming import assets_op_name, op_qualifiers, source_pool_name


@dataclass(frozen=True)
class OpOptions:
    """How a pipeline's ops are built (the Component's `pool`, `op` and `execute`)."""

    pool: str | None = None  # default: `mysql-<source>`
    tags: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None  # default: `<pipeline>_tables` (qualified when several)
    execute: Execute | None = None  # default: the op's own work


def table_assets(
    project: Project, table: TableConfig, translator: MysqlRedshiftTranslator
) -> TableAssets:
    del project  # keys depend on the table alone; kept for translators that look further
    return TableAssets(
        table,
        translator.get_asset_key(table, "parquet"),
        translator.get_asset_key(table, "redshift"),
    )


def pipeline_ops(
    project: Project,
    pipeline: Pipeline,
    translator: MysqlRedshiftTranslator,
    options: OpOptions | None = None,
) -> list[dg.AssetsDefinition]:
    """One op per source and partitions definition of the pipeline (usually one, or a few)."""
    groups: dict[tuple[str, ...], list[TableConfig]] = {}
    tables = table_configs(pipeline)
    several_sources = len({t.source for t in tables}) > 1
    for table in tables:
        key = op_qualifiers(table, several_sources=several_sources)
        groups.setdefault(key, []).append(table)
    options = options or OpOptions()
    ops = []
    for qualifiers, members in groups.items():
        specs = [
            translator.get_asset_spec(project, t, layer)
            for t in members
            for layer in ("parquet", "redshift")
        ]
        name = assets_op_name(pipeline.name, *qualifiers)
        if options.name:
            name = "__".join([options.name, *qualifiers])
        ops.append(
            build_tables_op(
                name,
                [table_assets(project, t, translator) for t in members],
                specs,
                pool=options.pool or source_pool_name(members[0].source),
                op_tags=options.tags,
                execute=options.execute,
            )
        )
    return ops


def build_definitions(
    project: Project,
    translators: Mapping[str, MysqlRedshiftTranslator] | None = None,
    default_translator: MysqlRedshiftTranslator | None = None,
    op_options: Mapping[str, OpOptions] | None = None,
) -> dg.Definitions:
    """`translators`: a translator per pipeline name (keys, specs); the others use the default.
    `op_options`: a pipeline's ops' pool, tags, name and execute hook."""
    assets: list[dg.AssetsDefinition] = []
    jobs: list = []
    schedules: list = []
    sensors: list[dg.SensorDefinition] = []
    for pipeline in project.pipelines.values():
        translator = translator_for(pipeline.name, translators, default_translator)
        assets += pipeline_ops(project, pipeline, translator, (op_options or {}).get(pipeline.name))
        tables = [table_assets(project, t, translator) for t in table_configs(pipeline)]
        more_jobs, more_schedules, more_sensors = automation_for(pipeline, tables)
        jobs += more_jobs
        schedules += more_schedules
        sensors += more_sensors
        # Every job of a pipeline is collected here (one line each).
        s3clean = build_s3clean_job(pipeline)
        jobs += [s3clean, build_resync_job(pipeline), build_check_target_job(pipeline)]
        if schedule := build_s3clean_schedule(pipeline, s3clean):
            schedules.append(schedule)
    connections = ConnectionsResource(pipelines_dir=str(project.root))
    defs = dg.Definitions(
        assets=assets,
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
