"""A resync run queues behind its pipeline's running sync (issue 25, item 4).

The resync job carries the pipeline tag, so the run queue's tag limit (the deploy configs':
`mysql_redshift/pipeline`, one run per value) holds it while a sync of the same pipeline runs,
and a sync while a resync runs. Checked with Dagster's own counter
(`TagConcurrencyLimitsCounter`, what the queued run coordinator consults) over the limits read
from each deploy config.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import DagsterRun
from dagster._utils.tags import TagConcurrencyLimitsCounter

from mysql_redshift_assets_tests.unit.test_deploy_config import _project

REPO = Path(__file__).parents[2]


def _limits(config: str) -> list[dict[str, object]]:
    return yaml.safe_load((REPO / config).read_text())["concurrency"]["runs"][
        "tag_concurrency_limits"
    ]


@pytest.mark.parametrize("config", ["deploy/local/dagster.yaml", "deploy/ecs/dagster.yaml"])
def test_a_resync_queues_behind_its_pipelines_running_sync(tmp_path, config):
    from mysql_redshift_assets.defs.build import build_definitions

    defs = build_definitions(_project(tmp_path / "p"))
    resync, sync = defs.resolve_job_def("resync_shop"), defs.resolve_job_def("sync_shop")
    assert resync.tags["mysql_redshift/pipeline"] == "shop"
    assert resync.tags["dagster/max_runtime"] == "86400"

    def run(job, **tags):  # a run of `job`, its tags as the job gives them (or overridden)
        return DagsterRun(job_name=job.name, tags={**job.tags, **tags})

    limits = _limits(config)
    running_sync = TagConcurrencyLimitsCounter(limits, [run(sync)])
    assert running_sync.is_blocked(run(resync))  # waits for the sync to end
    running_resync = TagConcurrencyLimitsCounter(limits, [run(resync)])
    assert running_resync.is_blocked(run(sync))  # and a sync for the resync
    other = TagConcurrencyLimitsCounter(limits, [run(sync, **{"mysql_redshift/pipeline": "other"})])
    assert not other.is_blocked(run(resync))  # another pipeline's sync does not hold it
