"""Maintenance as op jobs (not fake assets): s3clean per pipeline, with an optional schedule."""

from datetime import UTC, datetime

import dagster as dg
from pydantic import Field

from mysql_redshift_assets.config.loader import Pipeline
from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.defs.automation import max_runtime_tags
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.maintenance.s3clean import (
    classify,
    execute_clean,
    parse_duration,
    plan_clean,
)
from mysql_redshift_assets.naming import s3clean_job_name, s3clean_op_name, s3clean_schedule_name


class S3CleanConfig(dg.Config):
    tables: list[str] = Field(default=[], description="<schema>.<table> names; empty = all tables.")
    older_than: str | None = Field(None, description="Only files older than this: 30m, 12h, 7d.")
    pattern: str | None = Field(None, description="Only file names (or keys) matching this glob.")
    dry_run: bool = Field(True, description="Report only; delete nothing.")
    force: bool = Field(False, description="Also delete files not yet loaded into the warehouse.")


def build_s3clean_job(pipeline: Pipeline) -> dg.JobDefinition:
    tables = {t.qualified: t for t in table_configs(pipeline)}

    @dg.op(
        name=s3clean_op_name(pipeline.name), description="Delete loaded/superseded/orphan files."
    )
    def _s3clean(
        context: dg.OpExecutionContext,
        config: S3CleanConfig,
        connections: ConnectionsResource,
        watermarks: WatermarkResource,
    ) -> None:
        unknown = [t for t in config.tables if t not in tables]
        if unknown:
            raise dg.Failure(f"{pipeline.path}: unknown table(s) {', '.join(unknown)}")
        older = parse_duration(config.older_than) if config.older_than else None
        totals = {"files": 0, "bytes": 0, "kept_not_loaded": 0}
        for name in config.tables or list(tables):
            table = tables[name]
            store = connections.store(table.store)
            warehouse = connections.warehouse(table.target)
            wm_store = watermarks.store_for(table)
            watermark = wm_store.load(table)
            try:
                loaded = warehouse.loaded_files(table, watermark)
            finally:
                warehouse.close()
            files = classify(store, table, watermark, loaded)
            plan = plan_clean(
                files,
                now=datetime.now(UTC),
                older_than=older,
                pattern=config.pattern,
                force=config.force,
            )
            verb = "would delete" if config.dry_run else "deleting"
            context.log.info(f"{name}: {verb} {len(plan.delete)} file(s), {plan.bytes:,} bytes; "
                             f"{len(plan.kept_unloaded)} kept (not loaded yet)")  # fmt: skip
            if not config.dry_run:
                execute_clean(store, wm_store, table, plan)
            totals["files"] += len(plan.delete)
            totals["bytes"] += plan.bytes
            totals["kept_not_loaded"] += len(plan.kept_unloaded)
        context.log.info(f"s3clean {'dry run' if config.dry_run else 'done'}: {totals}")

    @dg.job(
        name=s3clean_job_name(pipeline.name),
        description=f"s3clean for pipeline {pipeline.name} (dry run by default).",
        tags=max_runtime_tags(pipeline),
    )
    def _job() -> None:
        _s3clean()

    return _job


def build_s3clean_schedule(
    pipeline: Pipeline, job: dg.JobDefinition
) -> dg.ScheduleDefinition | None:
    spec = pipeline.spec.s3clean
    if spec is None:
        return None
    return dg.ScheduleDefinition(
        name=s3clean_schedule_name(pipeline.name),
        job=job,
        cron_schedule=spec.cron,
        execution_timezone=spec.timezone,
        run_config={
            "ops": {
                s3clean_op_name(pipeline.name): {
                    "config": {
                        "older_than": spec.older_than,
                        "pattern": spec.pattern,
                        "dry_run": spec.dry_run,
                    }
                }
            }
        },  # fmt: skip
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
