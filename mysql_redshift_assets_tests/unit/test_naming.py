"""Derived names: today's names unchanged, and every Dagster name valid whatever the YAML says."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from mysql_redshift_assets import naming
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.project import load_project

REPO_PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
VALID = re.compile(r"^[A-Za-z0-9_]+$")


@pytest.fixture(scope="module")
def events() -> TableConfig:
    return table_config(load_project(REPO_PIPELINES).pipeline("demo"), "shop.events")


def test_names_are_the_ones_users_have_runs_and_cursors_under(events):
    assert naming.asset_path(events, "parquet") == ["demo", "shop", "events"]
    assert naming.asset_path(events, "redshift") == ["demo", "events"]
    assert naming.group_name(events) == "demo"
    assert naming.assets_op_name("demo", "daily") == "demo__daily_tables"
    assert naming.pipeline_job_name("demo") == "sync_demo"
    assert naming.table_job_name(events) == "sync_demo__shop__events"
    assert naming.schedule_name("sync_demo__shop__events") == "sync_demo__shop__events_schedule"
    assert naming.new_data_sensor_name(events) == "demo__shop__events__new_data"
    assert naming.id_range_sensor_name(events) == "demo__shop__events__id_ranges"
    assert naming.dynamic_partitions_name(events) == "demo__shop__events__id_range"
    assert naming.s3clean_job_name("demo") == "s3clean_demo"
    assert naming.s3clean_op_name("demo") == "s3clean_demo_files"
    assert naming.s3clean_schedule_name("demo") == "s3clean_demo_schedule"


def test_the_names_built_outside_naming_before_are_unchanged(events):
    """The op qualifiers and pool (once in defs/build.py), the delete passes' ledger name (once
    in load/deletes.py) and the side table (once in load/alter.py): the same strings."""
    assert naming.op_qualifiers(events, several_sources=False) == ("daily_2026-11-01_UTC",)
    assert naming.op_qualifiers(events, several_sources=True) == ("demo", "daily_2026-11-01_UTC")
    by_id = replace(events, mode="id_range", partitions=None)
    assert naming.op_qualifiers(by_id, several_sources=False) == ("shop__events__id_range",)
    plain = replace(events, mode="incremental", partitions=None)
    assert naming.op_qualifiers(plain, several_sources=False) == ()
    assert naming.source_pool_name("demo") == "mysql-demo"
    assert naming.deletes_ledger_name(events) == "demo.events#deletes"
    assert naming.side_table_name("orders") == "orders__mra_new"
    assert naming.side_table_name("x" * 60) == "x" * 48 + "__mra_new"


def test_odd_pipeline_and_table_names_give_valid_dagster_names(events):
    odd = replace(events, pipeline="eu-west.v2", source_table="order-items")
    names = [
        naming.group_name(odd),
        naming.assets_op_name(odd.pipeline, odd.source),
        naming.pipeline_job_name(odd.pipeline),
        naming.table_job_name(odd),
        naming.schedule_name(naming.table_job_name(odd)),
        naming.new_data_sensor_name(odd),
        naming.id_range_sensor_name(odd),
        naming.s3clean_job_name(odd.pipeline),
        naming.s3clean_op_name(odd.pipeline),
        naming.s3clean_schedule_name(odd.pipeline),
    ]
    assert all(VALID.match(n) for n in names), names
    assert naming.table_job_name(odd) == "sync_eu_west_v2__shop__order_items"
    # Stored partitions are kept under the name they were added with: only dots are replaced.
    assert naming.dynamic_partitions_name(odd) == "eu-west_v2__shop__order-items__id_range"


def test_a_pipeline_file_named_with_a_dash_loads(tmp_path):
    root = tmp_path / "pipelines"
    shutil.copytree(REPO_PIPELINES, root)
    text = (root / "demo.yml").read_text() + '\ns3clean:\n  cron: "0 3 * * *"\n'
    # The demo's tables in a second pipeline must load into a schema of their own.
    text = text.replace("target_schema: demo", "target_schema: eu_west")
    (root / "eu-west.yml").write_text(text)
    defs = build_definitions(load_project(root))
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("sync_eu_west") is not None
    assert defs.resolve_job_def("s3clean_eu_west") is not None
    assert {s.name for s in defs.schedules or []} >= {"s3clean_eu_west_schedule"}
