"""`check_target_<pipeline>`: the live self-test as an op job (`maintenance/check_target.py`)."""

import dagster as dg

from mysql_redshift_assets.config.loader import Pipeline
from mysql_redshift_assets.defs.automation import max_runtime_tags
from mysql_redshift_assets.defs.resources import ConnectionsResource
from mysql_redshift_assets.maintenance.check_target import check_target
from mysql_redshift_assets.naming import check_target_job_name, check_target_op_name


def build_check_target_job(pipeline: Pipeline) -> dg.JobDefinition:
    @dg.op(
        name=check_target_op_name(pipeline.name),
        description="Load a canary of every type into the target, compare, remove it.",
    )
    def _check(context: dg.OpExecutionContext, connections: ConnectionsResource) -> None:
        project = connections.project()
        checks = check_target(project, project.pipeline(pipeline.name))
        for c in checks:
            context.log.info(c.line)
        failed = [c.line for c in checks if c.status == "FAIL"]
        if failed:
            raise dg.Failure("check-target: " + " | ".join(failed))

    @dg.job(
        name=check_target_job_name(pipeline.name),
        description=f"Live self-test of pipeline {pipeline.name}'s warehouse and store.",
        tags=max_runtime_tags(pipeline),
    )
    def _job() -> None:
        _check()

    return _job
