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


def test_shipped_pipelines_load_without_secrets_or_servers(monkeypatch):
    # settlement.yml needs DB_US_DW_RO_PASSWORD and a Redshift host: neither is read to load.
    for var in ("DB_US_DW_RO_PASSWORD", "REDSHIFT_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    defs = build_definitions(load_project(REPO_PIPELINES))
    graph = defs.resolve_asset_graph()
    keys = {"/".join(k.path) for k in graph.get_all_asset_keys()}
    assert "demo/shop/orders/parquet" in keys and "demo/shop/orders/redshift" in keys
    assert "settlement/settlement/settle_orders/redshift" in keys
    node = graph.get(dg.AssetKey(["demo", "shop", "orders", "redshift"]))
    assert node.group_name == "demo"
    assert node.parent_keys == {dg.AssetKey(["demo", "shop", "orders", "parquet"])}
    assert node.automation_condition is not None
    parquet = graph.get(dg.AssetKey(["settlement", "settlement", "settle_orders", "parquet"]))
    assert parquet.kinds == {"mysql", "parquet", "s3"}
    assert graph.get(
        dg.AssetKey(["settlement", "settlement", "settle_orders", "redshift"])
    ).kinds == {"redshift"}
    assert defs.resolve_job_def("sync_demo") is not None


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
