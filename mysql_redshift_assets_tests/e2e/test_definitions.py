"""The code location: loads from YAML alone, names assets in one way, connects to nothing."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.component import MysqlRedshiftComponent
from mysql_redshift_assets.project import load_project

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


def test_dg_check_defs_loads_the_repository_code_location():
    """`dg check defs`, as CI runs it: the dg project (pyproject.toml) and its one component."""
    repo = REPO_PIPELINES.parent
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_the_component_reads_a_pipelines_folder_beside_its_defs_yaml(tmp_path):
    """What a user's own dg project gets from `defs.yaml`: their folder, their key prefixes."""
    shutil.copytree(REPO_PIPELINES, tmp_path / "pipelines")
    shutil.copy(REPO_EXAMPLES / "settlement.yml", tmp_path / "pipelines")
    example = yaml.safe_load((REPO_EXAMPLES / "connections.yml").read_text())
    connections = yaml.safe_load((tmp_path / "pipelines" / "connections.yml").read_text())
    for group in ("sources", "stores", "targets"):
        connections[group] |= example[group]
    (tmp_path / "pipelines" / "connections.yml").write_text(yaml.safe_dump(connections))
    component = MysqlRedshiftComponent(
        pipelines_dir="pipelines", key_prefix=["mysql"], pipeline_key_prefixes={"demo": ["shop"]}
    )
    defs = component.build_defs(SimpleNamespace(path=tmp_path))  # a ComponentLoadContext's path
    keys = {"/".join(k.path) for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"shop/demo/shop/orders", "shop/demo/orders"} <= keys  # the pipeline's own prefix
    assert "mysql/settlement/settle_orders" in keys  # the default prefix
    dg.Definitions.validate_loadable(defs)
