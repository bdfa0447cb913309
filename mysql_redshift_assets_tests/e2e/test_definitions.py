"""The code location: loads from YAML alone, names assets in one way, connects to nothing."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import dagster as dg
import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import load_project
from mysql_redshift_assets.defs.build import build_definitions

REPO_PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
REPO_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_shipped_pipelines_load_without_secrets_or_servers(monkeypatch):
    defs = build_definitions(load_project(REPO_PIPELINES))
    graph = defs.resolve_asset_graph()
    keys = {"/".join(k.path) for k in graph.get_all_asset_keys()}
    # The table's name last in every key: the lineage graph labels nodes with it.
    assert "demo/shop/orders" in keys and "demo/orders" in keys
    node = graph.get(dg.AssetKey(["demo", "orders"]))
    assert node.group_name == "demo" and node.kinds == {"duckdb"}
    assert node.parent_keys == {dg.AssetKey(["demo", "shop", "orders"])}
    assert node.automation_condition is not None
    assert graph.get(dg.AssetKey(["demo", "shop", "orders"])).kinds == {
        "sqlite",
        "parquet",
        "file",
    }
    assert defs.resolve_job_def("sync_demo") is not None
    dg.Definitions.validate_loadable(defs)  # every job, schedule and sensor resolves
    # The production example lives in examples/, out of the demo's code location.
    assert not any(k.startswith("settlement") for k in keys)
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["sync_demo_schedule"].default_status == dg.DefaultScheduleStatus.STOPPED
    assert all(s.description for s in defs.schedules)
    assert all(s.description for s in defs.sensors)


def test_the_production_example_loads_without_secrets_or_servers(monkeypatch):
    # settlement.yml needs DB_US_DW_RO_PASSWORD and a Redshift host: neither is read to load.
    for var in ("DB_US_DW_RO_PASSWORD", "REDSHIFT_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    defs = build_definitions(load_project(REPO_EXAMPLES))
    graph = defs.resolve_asset_graph()
    parquet = graph.get(dg.AssetKey(["settlement", "settlement", "settle_orders"]))
    assert parquet.kinds == {"mysql", "parquet", "s3"}
    assert graph.get(dg.AssetKey(["settlement", "settle_orders"])).kinds == {"redshift"}
    dg.Definitions.validate_loadable(defs)
    assert {s.name for s in defs.sensors} >= {
        "settlement__settlement__settle_orders__new_data",
        "settlement__settlement__billing_lines__id_ranges",
    }
    events = graph.get(dg.AssetKey(["settlement", "parcel_events"]))
    assert isinstance(events.partitions_def, dg.DailyPartitionsDefinition)
    assert events.backfill_policy == dg.BackfillPolicy.single_run()


def test_a_partition_start_in_the_future_is_one_clear_error(tmp_path):
    root = tmp_path / "pipelines"
    shutil.copytree(REPO_EXAMPLES, root)
    text = (
        (root / "settlement.yml").read_text().replace('start: "2025-01-01"', 'start: "2999-01-01"')
    )
    (root / "settlement.yml").write_text(text)
    with pytest.raises(ConfigError) as err:
        build_definitions(load_project(root))
    message = str(err.value)
    assert (
        "settlement.yml" in message and "parcel_events" in message and "partitions.start" in message
    )


def test_import_reads_no_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MYSQL_REDSHIFT_PIPELINES_DIR", str(tmp_path / "nowhere"))
    sys.modules.pop("mysql_redshift_assets.definitions", None)
    module = importlib.import_module("mysql_redshift_assets.definitions")  # must not raise
    with pytest.raises(ConfigError, match="nowhere"):
        build_definitions(load_project())
    assert callable(module.defs)


def test_broken_yaml_is_one_clear_error(tmp_path):
    root = tmp_path / "pipelines"
    shutil.copytree(REPO_PIPELINES, root)
    (root / "demo.yml").write_text("source: demo\ntables: [\n")
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert str(root / "demo.yml") in str(err.value) and "line" in str(err.value)
