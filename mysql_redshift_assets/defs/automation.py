"""Jobs, schedules and sensors from YAML: off or on by `default_status`."""

from typing import TYPE_CHECKING

import dagster as dg

from mysql_redshift_assets.config.loader import Pipeline
from mysql_redshift_assets.config.models import ScheduleSpec
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.partitions import partitions_def
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.naming import (
    id_range_sensor_name,
    new_data_sensor_name,
    pipeline_job_name,
    reconcile_job_name,
    schedule_name,
    table_job_name,
)
from mysql_redshift_assets.partitions import id_range_key, id_range_keys
from mysql_redshift_assets.sync.probe import first_row_past_watermark, max_primary_key

if TYPE_CHECKING:  # what `define_asset_job` returns; dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

TABLE_TAG = "mysql_redshift/table"


def _status(value: str) -> dg.DefaultScheduleStatus:
    return (
        dg.DefaultScheduleStatus.RUNNING if value == "running" else dg.DefaultScheduleStatus.STOPPED
    )


def _sensor_status(value: str) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if value == "running" else dg.DefaultSensorStatus.STOPPED


def _keys(table: TableConfig) -> list[dg.AssetKey]:
    return [asset_key(table, "parquet"), asset_key(table, "redshift")]


def _table_tags(table: TableConfig) -> dict[str, str]:
    return {
        TABLE_TAG: f"{table.pipeline}.{table.qualified}",
        "mysql_redshift/pipeline": table.pipeline,
    }


def _without_checks(keys: list[dg.AssetKey]) -> dg.AssetSelection:
    """Scheduled and sensed syncs move rows only: the reconciliation check reads every row of
    MySQL and the warehouse, so it runs on its own (`reconcile_job`, the UI, `validate`)."""
    return dg.AssetSelection.assets(*keys).without_checks()


def table_job(table: TableConfig) -> "UnresolvedAssetJobDefinition":
    """Both assets of one table; partitioned tables need a job of their own."""
    return dg.define_asset_job(
        table_job_name(table),
        selection=_without_checks(_keys(table)),  # partitions follow from the selected assets
        tags=_table_tags(table),
        description=f"{table.qualified}: MySQL -> store -> warehouse.",
    )


def pipeline_job(
    pipeline: Pipeline, tables: list[TableConfig]
) -> "UnresolvedAssetJobDefinition | None":
    unpartitioned = [k for t in tables if not t.partitioned for k in _keys(t)]
    if not unpartitioned:
        return None
    return dg.define_asset_job(
        pipeline_job_name(pipeline.name),
        selection=_without_checks(unpartitioned),
        tags={"mysql_redshift/pipeline": pipeline.name},
        description=f"Every unpartitioned table of pipeline {pipeline.name}.",
    )


def schedule_for(
    job: "UnresolvedAssetJobDefinition", spec: ScheduleSpec, table: TableConfig | None = None
) -> dg.ScheduleDefinition:
    if table is None or table.mode != "time":
        return dg.ScheduleDefinition(
            name=schedule_name(job.name), job=job, cron_schedule=spec.cron,
            execution_timezone=spec.timezone,
            default_status=_status(spec.default_status),
        )  # fmt: skip
    pdef = partitions_def(table)
    assert isinstance(pdef, dg.TimeWindowPartitionsDefinition)

    @dg.schedule(
        job=job, cron_schedule=spec.cron, execution_timezone=spec.timezone,
        default_status=_status(spec.default_status), name=schedule_name(job.name),
    )  # fmt: skip
    def _latest_window(context: dg.ScheduleEvaluationContext) -> dg.SkipReason | dg.RunRequest:
        # Dagster 1.13 takes "now" from a loading context (no `current_time=` argument any more).
        with dg.partition_loading_context(effective_dt=context.scheduled_execution_time):
            key = pdef.get_last_partition_key()
        if key is None:
            return dg.SkipReason("no complete partition yet")
        return dg.RunRequest(partition_key=key, run_key=key)

    return _latest_window


def new_data_sensor(table: TableConfig) -> dg.SensorDefinition:
    spec = table.new_data_sensor
    assert spec is not None

    @dg.sensor(
        name=new_data_sensor_name(table),
        asset_selection=_without_checks(_keys(table)),
        minimum_interval_seconds=spec.interval_seconds,
        default_status=_sensor_status(spec.default_status),
        description=f"Starts a run when {table.qualified} has rows past the watermark.",
    )
    def _sensor(
        connections: ConnectionsResource, watermarks: WatermarkResource
    ) -> dg.SkipReason | dg.RunRequest:
        watermark = watermarks.get(table)
        source = connections.source(table.source)
        try:
            first = first_row_past_watermark(source, table, watermark)
        finally:
            source.close()
        position = watermark.position if watermark else None
        where = (
            "the start"
            if position is None
            else f"{position.cursor or ''} {','.join(position.pk)}".strip()
        )
        if first is None:
            return dg.SkipReason(
                f"no rows past the watermark ({where}) below the late-commit bound"
            )
        return dg.RunRequest(run_key=f"after:{where}", tags=_table_tags(table))

    return _sensor


def id_range_sensor(table: TableConfig) -> dg.SensorDefinition:
    spec = table.id_range
    assert spec is not None
    pdef = partitions_def(table)
    assert isinstance(pdef, dg.DynamicPartitionsDefinition)

    @dg.sensor(
        name=id_range_sensor_name(table),
        asset_selection=_without_checks(_keys(table)),
        minimum_interval_seconds=spec.sensor_interval_seconds,
        default_status=_sensor_status(spec.sensor_default_status),
        description=f"Adds id-range partitions of {spec.size:,} ids as {table.qualified} grows.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, connections: ConnectionsResource
    ) -> dg.SkipReason | dg.SensorResult:
        source = connections.source(table.source)
        try:
            top = max_primary_key(source, table)
        finally:
            source.close()
        seen = int(context.cursor) if context.cursor else -1
        if top is None or top <= seen:
            return dg.SkipReason(f"max id {top} is not past {seen}")
        assert pdef.name is not None  # `partitions_def` names every dynamic partitions def
        existing = set(context.instance.get_dynamic_partitions(pdef.name))
        wanted = id_range_keys(top, spec.size)
        new = [k for k in wanted if k not in existing]
        # The range that held the last max id may have filled up since: run it again too.
        grown = (
            id_range_key((max(seen, 0) // spec.size) * spec.size, spec.size) if seen >= 0 else None
        )
        to_run = list(dict.fromkeys(([grown] if grown else []) + new))
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(partition_key=k, run_key=f"{k}@{top}", tags=_table_tags(table))
                for k in to_run
            ],
            dynamic_partitions_requests=[pdef.build_add_request(new)] if new else [],
            cursor=str(top),
        )

    return _sensor


def automation_for(pipeline: Pipeline, tables: list[TableConfig]) -> tuple[list, list, list]:
    """(jobs, schedules, sensors) for one pipeline."""
    jobs, schedules, sensors = [], [], []
    if job := pipeline_job(pipeline, tables):
        jobs.append(job)
        if pipeline.spec.schedule:
            schedules.append(schedule_for(job, pipeline.spec.schedule))
        unpartitioned = [k for t in tables if not t.partitioned for k in _keys(t)]
        jobs.append(
            dg.define_asset_job(
                reconcile_job_name(pipeline.name),
                selection=dg.AssetSelection.checks_for_assets(*unpartitioned),
                tags={"mysql_redshift/pipeline": pipeline.name},
                description=(
                    f"The checks of pipeline {pipeline.name}'s tables: rows, keys and every "
                    "row's values compared between MySQL and the warehouse (reads every row; "
                    "scheduled syncs leave it out)."
                ),
            )
        )
    for table in tables:
        if table.partitioned or table.schedule:
            job = table_job(table)
            jobs.append(job)
            if table.schedule:
                schedules.append(schedule_for(job, table.schedule, table))
        if table.new_data_sensor:
            sensors.append(new_data_sensor(table))
        if table.mode == "id_range":
            sensors.append(id_range_sensor(table))
    return jobs, schedules, sensors
