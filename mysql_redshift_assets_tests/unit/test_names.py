"""Names that collide, names Dagster would refuse, names a warehouse would cut: issue 15, item 3."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets import naming
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.identifiers import (
    IDENTIFIER_LIMITS,
    IdentifierError,
    identifier_limit,
    normalize_columns,
    normalize_identifier,
    shorten,
)
from mysql_redshift_assets.project import load_project

CONNECTIONS = {
    "sources": {"db": {"kind": "mysql", "host": "127.0.0.1", "user": "etl"}},
    "stores": {"files": {"kind": "local", "path": "store"}},
    "targets": {
        "wh": {"kind": "duckdb", "path": "wh.duckdb"},
        "pg": {"kind": "postgres", "database": "dw", "user": "etl"},
        "rs": {
            "kind": "redshift",
            "host": "h",
            "region": "us-east-1",
            "database": "dw",
            "user": "etl",
        },
    },
}
ODD = ["order items", "заказы", "товары", "order.items", "a-b", "Größe €", "x" * 64]


def _folder(root: Path, pipelines: dict[str, dict[str, Any]]) -> Path:
    root.mkdir()
    (root / "connections.yml").write_text(yaml.safe_dump(CONNECTIONS))
    for name, tables in pipelines.items():
        target = tables.pop("_target", "wh")
        # These tables only need names: declare the incremental contract (no cursor column).
        tables = {t: {"append_only": True, **spec} for t, spec in tables.items()}
        spec = {"source": "db", "store": "files", "target": target, "tables": tables}
        (root / f"{name}.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))
    return root


# -- identifier limits ------------------------------------------------------------------------


def test_each_target_has_its_limit() -> None:
    assert IDENTIFIER_LIMITS == {"redshift": 127, "postgres": 63, "duckdb": 127}
    assert identifier_limit("postgres") == 63 and identifier_limit("redshift") == 127


def test_a_long_name_is_shortened_deterministically_to_the_limit() -> None:
    name = "x" * 64
    short = normalize_identifier(name, 63)
    assert len(short.encode()) == 63
    assert short == normalize_identifier(name, 63) == shorten(name, 63)  # stable
    assert re.fullmatch(r"x{54}_[0-9a-f]{8}", short)
    assert normalize_identifier("x" * 63, 63) == "x" * 63  # what fits is untouched
    assert normalize_identifier(name, 127) == name
    # Two names sharing the kept prefix still differ.
    assert normalize_identifier("x" * 60 + "_one", 63) != normalize_identifier(
        "x" * 60 + "_two", 63
    )


def test_recorded_names_are_kept_and_new_ones_shortened() -> None:
    names = normalize_columns(
        ["Id", "x" * 70], table="t", limit=63, recorded={"Id": "identifier_as_loaded"}
    )
    assert names["Id"] == "identifier_as_loaded"
    assert len(names["x" * 70]) == 63


def test_two_names_that_shorten_to_one_are_an_error_naming_both(monkeypatch) -> None:
    import mysql_redshift_assets.identifiers as identifiers

    monkeypatch.setattr(identifiers, "short_hash", lambda text, chars=8: "0" * chars)
    first, second = "a" * 60 + "_first", "a" * 60 + "_second"
    with pytest.raises(IdentifierError) as err:
        normalize_columns(["id", first, second], table="shop.t", limit=63)
    assert repr(first) in str(err.value) and repr(second) in str(err.value)


def test_table_names_respect_the_target(tmp_path: Path) -> None:
    long = "t" * 64
    root = _folder(
        tmp_path / "p",
        {
            "onpg": {"_target": "pg", f"shop.{long}": {}},
            "onrs": {"_target": "rs", f"shop.{long}": {}},
        },
    )
    project = load_project(root)
    on_pg = table_config(project.pipeline("onpg"), f"shop.{long}")
    on_rs = table_config(project.pipeline("onrs"), f"shop.{long}")
    assert len(naming.target_table(on_pg)[1]) == 63
    assert naming.target_table(on_rs)[1] == long


# -- collisions, refused when the definitions load --------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "kind"),
    [
        ("Orders", "orders", "warehouse table"),
        ("a-b", "a_b", "warehouse table"),
        ("Orders", "ORDERS", "warehouse table"),
    ],
)
def test_two_tables_into_one_warehouse_table_are_refused(tmp_path, first, second, kind) -> None:
    root = _folder(tmp_path / "p", {"shop": {f"shop.{first}": {}, f"shop.{second}": {}}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert f"shop.{first}" in message and f"shop.{second}" in message
    assert str(root / "shop.yml") in message and kind in message
    assert "target_table" in message  # the fix


def test_one_table_in_two_pipelines_with_one_target_and_schema_is_refused(tmp_path) -> None:
    root = _folder(tmp_path / "p", {"billing": {"shop.orders": {}}, "shop": {"shop.orders": {}}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert str(root / "billing.yml") in message and str(root / "shop.yml") in message
    assert message.count("shop.orders") >= 2


def test_a_target_table_apart_resolves_the_collision(tmp_path) -> None:
    root = _folder(
        tmp_path / "p",
        {"shop": {"shop.Orders": {"target_table": "orders_upper"}, "shop.orders": {}}},
    )
    load_project(root)  # no error


def test_tables_that_only_dagster_would_merge_are_refused_naming_both(tmp_path) -> None:
    # Apart in the warehouse, but `a-b` and `a_b` make one job name.
    tables = {"shop.a-b": {"target_table": "dashed"}, "shop.a_b": {}}
    root = _folder(tmp_path / "p", {"shop": tables})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert "shop.a-b" in str(err.value) and "shop.a_b" in str(err.value)
    assert "Dagster job name" in str(err.value)


def test_the_cli_refuses_a_collision_before_anything_is_written(tmp_path, capsys) -> None:
    from mysql_redshift_assets.cli import main

    root = _folder(tmp_path / "p", {"shop": {"shop.Orders": {}, "shop.orders": {}}})
    code = main(["--pipelines-dir", str(root), "sync", "-p", "shop"])
    err = capsys.readouterr().err
    assert code == 2 and "shop.Orders" in err and "shop.orders" in err and "Traceback" not in err
    assert not (root / "store").exists() and not (root / "wh.duckdb").exists()


# -- odd names: valid asset keys and Dagster names --------------------------------------------


def test_odd_table_names_give_valid_definitions(tmp_path) -> None:
    tables = {f"shop.{n}": {"target_table": f"t{i}"} for i, n in enumerate(ODD)}
    project = load_project(_folder(tmp_path / "p", {"shop": tables}))
    defs = build_definitions(project)
    dg.Definitions.validate_loadable(defs)
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "shop/shop/order.items" in keys and "shop/shop/a-b" in keys
    assert "public/t0" in keys  # the warehouse asset: keyed like the table it fills
    assert len(keys) == 2 * len(ODD)
    paths = [
        naming.asset_path(table_config(project.pipeline("shop"), t), "parquet") for t in tables
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", c) for p in paths for c in p), paths
    # Two all-Cyrillic names of one length stay apart (a hash of the name, not just `_`s).
    assert paths[1] != paths[2]


def test_plain_names_keep_the_keys_users_have_runs_under(tmp_path) -> None:
    project = load_project(_folder(tmp_path / "p", {"shop": {"shop.order-items": {}}}))
    table = table_config(project.pipeline("shop"), "shop.order-items")
    assert naming.asset_path(table, "parquet") == ["shop", "shop", "order-items"]
    assert naming.asset_path(table, "redshift") == ["public", "order_items"]
    assert naming.assets_op_name("shop") == "shop_tables"


def test_a_table_name_holding_a_dot_splits_at_the_first_dot(tmp_path) -> None:
    project = load_project(_folder(tmp_path / "p", {"shop": {"shop.order.items": {}}}))
    table = table_config(project.pipeline("shop"), "shop.order.items")
    assert (table.source_schema, table.source_table) == ("shop", "order.items")
    assert naming.target_table(table) == ("public", "order_items")
