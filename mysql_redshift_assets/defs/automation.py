"""Jobs, schedules and sensors from YAML: off or on by `default_status`.

Every run they start carries `mysql_redshift/pipeline`, the tag dagster.yaml limits to one run
a pipeline: jobs carry it, and so do the runs of sensors, schedules and the pipeline's
declarative-automation sensor (`automation_<pipeline>`, stopped until turned on).
"""

from typing import TYPE_CHECKING

import dagster as dg

from mysql_redshift_assets.config.loader import Pipeline
from mysql_redshift_assets.config.pipelines import ScheduleSpec
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.checks import CHEAP_CHECKS
from mysql_redshift_assets.defs.partitions import partitions_def
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.defs.table_run import TableAssets
from mysql_redshift_assets.naming import (
    automation_sensor_name,
    id_range_sensor_name,
    new_data_sensor_name,
    pipeline_job_name,
    reconcile_job_name,
    schedule_name,
    table_job_name,
)
from mysql_redshift_assets.partitions import id_range_key, id_range_keys
from mysql_redshift_assets.state.watermark import Generation, Watermark
from mysql_redshift_assets.sync.probe import (
    binlog_past_position,
    first_row_past_watermark,
    max_primary_key,
)

if TYPE_CHECKING:  # what `define_asset_job` returns; dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

TABLE_TAG = "mysql_redshift/table"
PIPELINE_TAG = "mysql_redshift/pipeline"
# Dagster's job timeout; enforced by the daemon's run monitoring
# (https://docs.dagster.io/deployment/execution/job-timeouts).
MAX_RUNTIME_TAG = "dagster/max_runtime"


def max_runtime_tags(pipeline: Pipeline) -> dict[str, str]:
    """`dagster/max_runtime` from the pipeline's max_runtime_seconds. "0" is sent too: the
    daemon reads 0 as no bound, where a missing tag would get the instance's default."""
    return {MAX_RUNTIME_TAG: str(pipeline.spec.max_runtime_seconds)}


def run_limit_tags(pipeline: Pipeline) -> dict[str, str]:
    """The tags that bound every sync run of `pipeline`: its pipeline tag (one run at a time,
    by dagster.yaml's tag limit) and its `dagster/max_runtime`."""
    return {PIPELINE_TAG: pipeline.name} | max_runtime_tags(pipeline)


def _status(value: str) -> dg.DefaultScheduleStatus:
    return (
        dg.DefaultScheduleStatus.RUNNING if value == "running" else dg.DefaultScheduleStatus.STOPPED
    )


def _sensor_status(value: str) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if value == "running" else dg.DefaultSensorStatus.STOPPED


def _keys(assets: TableAssets) -> list[dg.AssetKey]:
    return [assets.parquet, assets.warehouse]


def _table_tags(table: TableConfig) -> dict[str, str]:
    return {TABLE_TAG: f"{table.pipeline}.{table.qualified}", PIPELINE_TAG: table.pipeline}


def sync_selection(tables: list[TableAssets]) -> dg.AssetSelection:
    """The assets and their cheap checks (drift, freshness), evaluated in the same op. The
    reconciliation check reads every row of MySQL and the warehouse, so it runs on its own
    (`reconcile_<pipeline>`, the UI's Materialize, `validate`)."""
    checks = [a.check_key(c.name) for a in tables for c in a.checks if c.name in CHEAP_CHECKS]
    keys = [k for a in tables for k in _keys(a)]
    return dg.AssetSelection.assets(*keys).without_checks() | dg.AssetSelection.checks(*checks)


def table_job(pipeline: Pipeline, assets: TableAssets) -> "UnresolvedAssetJobDefinition":
    """Both assets of one table; partitioned tables need a job of their own."""
    table = assets.table
    return dg.define_asset_job(
        table_job_name(table),
        selection=sync_selection([assets]),  # partitions follow from the selected assets
        tags=run_limit_tags(pipeline) | _table_tags(table),
        description=f"{table.qualified}: MySQL -> store -> warehouse, schema drift and freshness "
        "checked in the same step.",
    )


def pipeline_job(
    pipeline: Pipeline, tables: list[TableAssets]
) -> "UnresolvedAssetJobDefinition | None":
    unpartitioned = [a for a in tables if not a.table.partitioned]
    if not unpartitioned:
        return None
    return dg.define_asset_job(
        pipeline_job_name(pipeline.name),
        selection=sync_selection(unpartitioned),
        tags=run_limit_tags(pipeline),
        description=f"Every unpartitioned table of pipeline {pipeline.name}: one step, the "
        "tables side by side, schema drift and freshness checked in it.",
    )


def reconcile_job(pipeline: Pipeline, tables: list[TableAssets]) -> "UnresolvedAssetJobDefinition":
    keys = [k for a in tables if not a.table.partitioned for k in _keys(a)]
    return dg.define_asset_job(
        reconcile_job_name(pipeline.name),
        selection=dg.AssetSelection.checks_for_assets(*keys),
        tags=run_limit_tags(pipeline),
        description=(
            f"The checks of pipeline {pipeline.name}'s tables: rows, keys and every "
            "row's values compared between MySQL and the warehouse (reads every row; "
            "scheduled syncs leave it out)."
        ),
    )


def automation_sensor(pipeline: Pipeline, tables: list[TableAssets]) -> dg.SensorDefinition:
    return dg.AutomationConditionSensorDefinition(
        automation_sensor_name(pipeline.name),
        target=dg.AssetSelection.assets(*[k for a in tables for k in _keys(a)]),
        run_tags=run_limit_tags(pipeline),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description=f"Declarative automation for pipeline {pipeline.name}: a warehouse table is "
        "loaded when its Parquet files change. Its runs carry the pipeline's tag.",
    )


def schedule_for(
    job: "UnresolvedAssetJobDefinition", spec: ScheduleSpec, table: TableConfig | None = None
) -> dg.ScheduleDefinition:
    what = f"`{job.name}` ({job.description or ''})"
    if table is None or table.mode != "time":
        return dg.ScheduleDefinition(
            name=schedule_name(job.name), job=job, cron_schedule=spec.cron,
            execution_timezone=spec.timezone,
            default_status=_status(spec.default_status),
            description=f"Runs {what} at `{spec.cron}` ({spec.timezone}).",
        )  # fmt: skip
    pdef = partitions_def(table)
    assert isinstance(pdef, dg.TimeWindowPartitionsDefinition)

    @dg.schedule(
        job=job, cron_schedule=spec.cron, execution_timezone=spec.timezone,
        default_status=_status(spec.default_status), name=schedule_name(job.name),
        description=f"At `{spec.cron}` ({spec.timezone}): the latest complete window of "
        f"{table.qualified} ({what}), and every window read while rows could still commit "
        "into it (provisional) again.",
    )  # fmt: skip
    def _latest_window(
        context: dg.ScheduleEvaluationContext, watermarks: WatermarkResource
    ) -> dg.SkipReason | list[dg.RunRequest]:
        # Dagster 1.13 takes "now" from a loading context (no `current_time=` argument any more).
        with dg.partition_loading_context(effective_dt=context.scheduled_execution_time):
            key = pdef.get_last_partition_key()
            again = [
                dg.RunRequest(partition_key=g.partition, run_key=f"{g.partition}@{g.id}")
                for g in _provisional(watermarks, table)
                if g.partition != key and pdef.has_partition_key(g.partition or "")
            ]
        if key is None and not again:
            return dg.SkipReason("no complete partition yet")
        return again + ([dg.RunRequest(partition_key=key, run_key=key)] if key else [])

    return _latest_window


def _provisional(watermarks: WatermarkResource, table: TableConfig) -> list[Generation]:
    """The windows whose newest generation is provisional: read again (`Generation`)."""
    watermark = watermarks.get(table)
    return watermark.provisional_partitions() if watermark else []


def new_data_sensor(assets: TableAssets) -> dg.SensorDefinition:
    table = assets.table
    spec = table.new_data_sensor
    assert spec is not None

    @dg.sensor(
        name=new_data_sensor_name(table),
        asset_selection=sync_selection([assets]),
        minimum_interval_seconds=spec.interval_seconds,
        default_status=_sensor_status(spec.default_status),
        description=(
            f"Starts a run when the server's binlog is past {table.qualified}'s position (any "
            "transaction on the server counts)."
            if table.binlog
            else f"Starts a run when {table.qualified} has rows past the watermark."
        ),
    )
    def _sensor(
        connections: ConnectionsResource, watermarks: WatermarkResource
    ) -> dg.SkipReason | dg.RunRequest:
        watermark = watermarks.get(table)
        if table.binlog:
            return _binlog_new_data(connections, table, watermark)
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


def _binlog_new_data(
    connections: ConnectionsResource, table: TableConfig, watermark: Watermark | None
) -> dg.SkipReason | dg.RunRequest:
    """`capture: binlog`: a run when the server's binlog is past the table's position (any
    transaction on the server counts) or the table has no position yet (its initial copy)."""
    source = connections.source(table.source)
    try:
        probe = binlog_past_position(source, table, watermark)
    finally:
        source.close()
    if not probe.new:
        return dg.SkipReason(f"no new data: {probe}")
    key = f"binlog-after:{probe.table_position or 'the start'}"
    return dg.RunRequest(run_key=key, tags=_table_tags(table))


def id_range_sensor(assets: TableAssets) -> dg.SensorDefinition:
    table = assets.table
    spec = table.id_range
    assert spec is not None
    pdef = partitions_def(table)
    assert isinstance(pdef, dg.DynamicPartitionsDefinition)

    @dg.sensor(
        name=id_range_sensor_name(table),
        asset_selection=sync_selection([assets]),
        minimum_interval_seconds=spec.sensor_interval_seconds,
        default_status=_sensor_status(spec.sensor_default_status),
        description=f"Adds id-range partitions of {spec.size:,} ids as {table.qualified} grows.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext,
        connections: ConnectionsResource,
        watermarks: WatermarkResource,
    ) -> dg.SkipReason | dg.SensorResult:
        source = connections.source(table.source)
        try:
            top = max_primary_key(source, table)
        finally:
            source.close()
        seen = int(context.cursor) if context.cursor else -1
        # A full range read while an id in it could still commit: read again, once a reading.
        again = [
            dg.RunRequest(partition_key=g.partition, run_key=f"{g.partition}@{g.id}",
                          tags=_table_tags(table))
            for g in _provisional(watermarks, table)
            if g.partition and top is not None and int(g.partition.split("-")[1]) <= top + 1
        ]  # fmt: skip
        if (top is None or top <= seen) and not again:
            return dg.SkipReason(f"max id {top} is not past {seen}")
        if top is None or top <= seen:
            return dg.SensorResult(run_requests=again, cursor=context.cursor)
        assert pdef.name is not None  # `partitions_def` names every dynamic partitions def
        existing = set(context.instance.get_dynamic_partitions(pdef.name))
        wanted = id_range_keys(top, spec.size)
        new = [k for k in wanted if k not in existing]
        # The range that held the last max id may have filled up since: run it again too.
        grown = (
            id_range_key((max(seen, 0) // spec.size) * spec.size, spec.size) if seen >= 0 else None
        )
        to_run = list(dict.fromkeys(([grown] if grown else []) + new))
        again = [r for r in again if r.partition_key not in to_run]
        return dg.SensorResult(
            run_requests=again
            + [
                dg.RunRequest(partition_key=k, run_key=f"{k}@{top}", tags=_table_tags(table))
                for k in to_run
            ],
            dynamic_partitions_requests=[pdef.build_add_request(new)] if new else [],
            cursor=str(top),
        )

    return _sensor


def automation_for(pipeline: Pipeline, tables: list[TableAssets]) -> tuple[list, list, list]:
    """(jobs, schedules, sensors) for one pipeline."""
    jobs: list = []
    schedules: list = []
    sensors: list = [automation_sensor(pipeline, tables)]
    if job := pipeline_job(pipeline, tables):
        jobs += [job, reconcile_job(pipeline, tables)]
        if pipeline.spec.schedule:
            schedules.append(schedule_for(job, pipeline.spec.schedule))
    for assets in tables:
        table = assets.table
        if table.partitioned or table.schedule:
            job = table_job(pipeline, assets)
            jobs.append(job)
            if table.schedule:
                schedules.append(schedule_for(job, table.schedule, table))
        if table.new_data_sensor:
            sensors.append(new_data_sensor(assets))
        if table.mode == "id_range":
            sensors.append(id_range_sensor(assets))
    return jobs, schedules, sensors
