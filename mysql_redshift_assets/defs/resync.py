"""The resync job (one per pipeline): `maintenance.resync.resync_table` for one table (a
partitioned one whole: every window it has extracted, swapped in together).

Launched with run config `{"ops": {"resync_<pipeline>_table": {"config": {"table": "db.t"}}}}`,
the same work as `mysql-redshift resync -p <pipeline> -t <table>`. Its runs carry the pipeline
tag (`automation.run_limit_tags`), so the instance's one-run-a-pipeline limit orders a resync
with the pipeline's syncs; it holds a slot of the source's pool while it runs
(`extract/slots.py`).
"""

import dagster as dg
from pydantic import Field

from mysql_redshift_assets.config.loader import Pipeline
from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.defs.assets import pool_width
from mysql_redshift_assets.defs.automation import run_limit_tags
from mysql_redshift_assets.defs.resources import ConnectionsResource
from mysql_redshift_assets.extract.slots import SourceSlots
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.naming import resync_job_name, resync_op_name, source_pool_name


class ResyncConfig(dg.Config):
    table: str = Field(description="<schema>.<table>: the table to re-extract and swap in.")


def build_resync_job(pipeline: Pipeline) -> dg.JobDefinition:
    tables = {t.qualified: t for t in table_configs(pipeline)}

    @dg.op(
        name=resync_op_name(pipeline.name),
        description="Re-extract one table into a new generation and swap it into the warehouse.",
    )
    def _resync(
        context: dg.OpExecutionContext, config: ResyncConfig, connections: ConnectionsResource
    ) -> None:
        table = tables.get(config.table)
        if table is None:
            known = ", ".join(sorted(tables))
            raise dg.Failure(f"{pipeline.path}: unknown table {config.table!r} (known: {known})")
        store = connections.store(table.store)  # the run's, shared: not closed here
        pool = source_pool_name(table.source)
        slots = SourceSlots(pool, pool_width(context.instance, pool))
        with (
            connections.source(table.source) as source,
            connections.warehouse(table.target) as warehouse,
            slots.hold(source, table.qualified),  # a slot of the source's pool, as syncs take
        ):
            result = resync_table(source, store, warehouse, table, run_id=context.run_id)
        for warning in result.warnings:
            context.log.warning(warning)
        what = f"{len(result.windows)} window(s)" if result.windows else "the table"
        context.log.info(
            f"{table.qualified}: {what} in generation(s) {', '.join(result.generations)}, "
            f"{result.rows_extracted:,} rows "
            f"extracted, {result.load.rows_loaded:,} swapped in; warehouse holds "
            f"{result.load.table_rows:,} rows"
        )

    @dg.job(
        name=resync_job_name(pipeline.name),
        description=f"Resync one table of pipeline {pipeline.name}: re-extract, swap in.",
        # The pipeline tag: under the instance's tag limit (1) a resync queues behind the
        # pipeline's running sync, and the next sync behind it.
        tags=run_limit_tags(pipeline),
    )
    def _job() -> None:
        _resync()

    return _job
