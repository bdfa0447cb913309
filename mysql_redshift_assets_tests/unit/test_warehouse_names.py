"""Warehouse names of non-Latin tables, and collisions that break only their pipelines (issue 22,
defect 4).

Two tables named `订单` and `客户` both became `__`: the collision stopped every pipeline of the
folder. Now they keep their names; a real collision breaks the pipelines that hold it, no other;
and a table whose watermark was written under the old names keeps them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import dagster as dg
import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config, table_configs
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.config_errors import error_asset_key
from mysql_redshift_assets.naming import ledger_entry_name, target_table, watermark_key
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import LocalStore
from mysql_redshift_assets_tests.unit.test_names import _folder
from mysql_redshift_assets_tests.unit.test_watermark import make_table

# -- names --------------------------------------------------------------------------------------


def test_two_chinese_tables_are_two_warehouse_tables_and_nothing_breaks(tmp_path: Path) -> None:
    root = _folder(
        tmp_path / "p",
        {"healthy": {"shop.orders": {}}, "cn": {"db.订单": {}, "db.客户": {}}},
    )
    project = load_project(root)  # no collision: this raised for the whole folder
    assert not project.broken and set(project.pipelines) == {"healthy", "cn"}
    names = {target_table(t) for t in table_configs(project.pipeline("cn"))}
    assert names == {("public", "订单"), ("public", "客户")}
    defs = build_definitions(project)
    dg.Definitions.validate_loadable(defs)
    assert len(defs.resolve_asset_graph().get_all_asset_keys()) == 6


# -- the recorded names -------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_a_new_watermark_records_the_tables_names(store: LocalStore) -> None:
    table = make_table("订单")
    WatermarkStore(store).save(table, Watermark(table=table.qualified, mode=table.mode))
    saved = json.loads(store.get_bytes(watermark_key(table)) or b"")
    assert saved["warehouse_names"] == {"public": "public", "订单": "订单"}
    watermark = WatermarkStore(store).load(table)
    assert target_table(table, watermark) == ("public", "订单")
    assert ledger_entry_name(table, watermark) == "public.订单"


def test_a_watermark_written_before_the_names_were_recorded_keeps_the_old_names(
    store: LocalStore,
) -> None:
    """Such a table was created, loaded and ledgered as `__`: it stays there."""
    table = make_table("订单")
    old = {"table": table.qualified, "mode": "incremental", "columns": {"金额": "__"}}
    store.put_bytes(json.dumps(old).encode(), watermark_key(table))
    watermark = WatermarkStore(store).load(table)
    assert watermark is not None
    assert target_table(table, watermark) == ("public", "__")
    assert ledger_entry_name(table, watermark) == "public.__"
    assert target_table(table) == ("public", "订单")  # a new table would get its name
    WatermarkStore(store).save(table, watermark)  # written back: recorded from now on
    saved = json.loads(store.get_bytes(watermark_key(table)) or b"")
    assert saved["warehouse_names"] == {"public": "public", "订单": "__"}
    assert saved["columns"] == {"金额": "__"}
    assert target_table(table, WatermarkStore(store).load(table)) == ("public", "__")


def test_a_renamed_target_follows_the_yaml_and_the_old_record_stays(store: LocalStore) -> None:
    table = make_table("订单")
    watermarks = WatermarkStore(store)
    store.put_bytes(json.dumps({"table": table.qualified, "mode": "incremental"}).encode(),
                    watermark_key(table))  # fmt: skip
    old = watermarks.load(table)
    assert old is not None
    watermarks.save(table, old)  # recorded: 订单 -> __
    renamed = dataclasses.replace(table, target_table="orders_cn")
    watermark = watermarks.load(renamed)
    assert watermark is not None
    watermarks.save(renamed, watermark)
    assert target_table(renamed, watermarks.load(renamed)) == ("public", "orders_cn")
    assert target_table(table, watermarks.load(table)) == ("public", "__")


def test_a_recorded_name_the_target_would_cut_is_not_used(store: LocalStore) -> None:
    table = dataclasses.replace(make_table("x" * 80), target_kind="postgres")
    watermark = Watermark(table=table.qualified, mode=table.mode)
    watermark.warehouse_names = {"x" * 80: "x" * 80}  # recorded on a 127-byte target
    name = target_table(table, watermark)[1]
    assert len(name) == 63 and name.startswith("x" * 54)


# -- collisions break their pipelines only ------------------------------------------------------


def test_a_collision_in_one_file_breaks_that_pipeline_only(tmp_path: Path) -> None:
    root = _folder(
        tmp_path / "p",
        {"healthy": {"shop.items": {}}, "clash": {"db.Orders": {}, "db.orders": {}}},
    )
    with pytest.raises(ConfigError, match="db.Orders"):
        load_project(root)
    project = load_project(root, keep_going=True)
    assert set(project.pipelines) == {"healthy"} and set(project.broken) == {"clash"}
    message = project.broken["clash"]
    assert "table db.Orders" in message and "table db.orders" in message
    assert str(root / "clash.yml") in message and "target_table" in message  # the fix
    assert table_config(project.pipeline("healthy"), "shop.items")
    with pytest.raises(ConfigError, match="pipeline 'clash' has errors"):
        project.pipeline("clash")


def test_a_collision_across_files_breaks_both_and_no_third(tmp_path: Path) -> None:
    root = _folder(
        tmp_path / "p",
        {"left": {"shop.items": {}}, "right": {"shop.items": {}}, "third": {"shop.other": {}}},
    )
    project = load_project(root, keep_going=True)
    assert set(project.pipelines) == {"third"} and set(project.broken) == {"left", "right"}
    for name in ("left", "right"):
        message = project.broken[name]
        assert str(root / "left.yml") in message and str(root / "right.yml") in message
        assert "warehouse table" in message and "target_table" in message
    defs = build_definitions(project)
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"third/shop/other", "public/other"} <= keys
    assert {error_asset_key("left"), error_asset_key("right")} <= {
        dg.AssetKey.from_user_string(k) for k in keys
    }
    assert not any(k.startswith(("left/", "right/")) for k in keys)


def test_a_broken_file_and_a_collision_are_both_listed(tmp_path: Path) -> None:
    root = _folder(tmp_path / "p", {"clash": {"db.a-b": {}, "db.a_b": {}}, "ok": {"db.c": {}}})
    (root / "bad.yml").write_text("source: [\n")
    project = load_project(root, keep_going=True)
    assert set(project.broken) == {"bad", "clash"} and set(project.pipelines) == {"ok"}
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert "not valid YAML" in str(err.value) and "db.a-b" in str(err.value)
