"""Non-Latin table and column names keep their names in the warehouse (issue 22, defect 4).

`订单` and `客户` both became `__`, so the two tables were refused as one. Now each gets a
warehouse table of its own name, rows equal to MySQL's on DuckDB and PostgreSQL; a table loaded
under the old names (its watermark written before the names were recorded) stays where it is.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mysql_redshift_assets import identifiers, naming
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.identifiers import IDENTIFIER_LIMITS, normalize_identifier, quote_ident
from mysql_redshift_assets.naming import target_table, watermark_key
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
TARGETS = ["duckdb", "postgres"]
ORDERS = ["id", "金额", "备注"]
CUSTOMERS = ["id", "名字", "城市"]


def _pipeline(request: pytest.FixtureRequest, target: str) -> dict[str, Any]:
    keys: dict[str, Any] = {"target": target, "store": "local", "upper_bound_lag_seconds": 0}
    if target == "postgres":
        keys["target_schema"] = request.getfixturevalue("pg_schema")
    return keys


def _create(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE `订单` (id INT PRIMARY KEY, `金额` DECIMAL(10,2), `备注` TEXT)")
        cur.execute("CREATE TABLE `客户` (id INT PRIMARY KEY, `名字` VARCHAR(20), `城市` TEXT)")
        cur.executemany(
            "INSERT INTO `订单` VALUES (%s, %s, %s)",
            [(i, f"{i}.25", f"单 {i}") for i in range(1, 31)],
        )
        cur.executemany(
            "INSERT INTO `客户` VALUES (%s, %s, %s)", [(i, f"客 {i}", "北京") for i in range(1, 21)]
        )


def _change(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute("UPDATE `订单` SET `金额` = 9.99, `备注` = '改' WHERE id <= 5")
        cur.execute("DELETE FROM `订单` WHERE id = 30")
        cur.execute("INSERT INTO `订单` VALUES (31, 31.5, '新')")
        cur.execute("UPDATE `客户` SET `城市` = '上海' WHERE id > 15")
        cur.execute("INSERT INTO `客户` VALUES (21, '客 21', '广州')")


@pytest.mark.parametrize("target", TARGETS)
def test_two_chinese_tables_sync_into_two_tables(mysql, mysql_db, make_project, request, target):
    _create(mysql)
    tables = {f"{mysql_db}.订单": {"mode": "full"}, f"{mysql_db}.客户": {"mode": "full"}}
    project = make_project(tables, **_pipeline(request, target))  # refused before: both `__`
    pipeline = project.pipeline("testpipe")
    orders = Sync(project, table_config(pipeline, f"{mysql_db}.订单"))
    customers = Sync(project, table_config(pipeline, f"{mysql_db}.客户"))
    for run in ("first", "second"):
        if run == "second":
            _change(mysql)
        orders.run(run)
        customers.run(run)
        assert_same_rows(mysql, orders, ORDERS, ["id"])
        assert_same_rows(mysql, customers, CUSTOMERS, ["id"])
    watermarks = WatermarkStore(open_store(project, orders.table.store))
    schema = orders.table.target_schema
    warehouse = open_warehouse(project, orders.table.target)
    try:
        for sync, name, columns in ((orders, "订单", ORDERS), (customers, "客户", CUSTOMERS)):
            watermark = watermarks.load(sync.table)
            assert watermark is not None and watermark.warehouse_names[name] == name
            assert target_table(sync.table, watermark) == (schema, name)
            assert warehouse.table_columns(schema, name) == columns  # 金额 stays 金额
            assert watermark.columns == {c: c for c in columns}
        assert not warehouse.table_columns(schema, "__")
    finally:
        warehouse.close()


OLD_COLUMNS = ["id", "金额", "说明文字"]  # `__` and `____` under the old names: apart


@pytest.mark.parametrize("target", TARGETS)
def test_a_table_loaded_under_the_old_names_stays_there(
    mysql, mysql_db, make_project, request, target
):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE `订单` (id INT PRIMARY KEY, `金额` DECIMAL(10,2), `说明文字` TEXT)"
        )
        cur.executemany(
            "INSERT INTO `订单` VALUES (%s, %s, %s)",
            [(i, f"{i}.25", f"单 {i}") for i in range(1, 31)],
        )
    spec = {"append_only": True}
    sync = Sync.of(make_project, mysql_db, "订单", spec, **_pipeline(request, target))
    from mysql_redshift_assets.identifiers import ascii_identifier  # (collects on old code)

    # The code before: every non-ASCII character `_`, and no names recorded in the watermark.
    with pytest.MonkeyPatch.context() as before:
        before.setattr(naming, "normalize_identifier", ascii_identifier)
        before.setattr(identifiers, "normalize_identifier", ascii_identifier)
        sync.run("old")
    store = open_store(sync.project, sync.table.store)
    key = watermark_key(sync.table)
    old = json.loads(store.get_bytes(key) or b"")
    del old["warehouse_names"]
    store.put_bytes(json.dumps(old).encode(), key)
    assert old["columns"] == {"id": "id", "金额": "__", "说明文字": "____"}

    with mysql.cursor() as cur:
        cur.execute("INSERT INTO `订单` VALUES (31, 31.5, '新'), (32, 32.5, '新')")
        cur.execute("DELETE FROM `订单` WHERE id = 7")
    sync.run("new")
    assert_same_rows(mysql, sync, OLD_COLUMNS, ["id"])
    watermark = WatermarkStore(store).load(sync.table)
    assert watermark is not None
    schema = sync.table.target_schema
    assert target_table(sync.table, watermark) == (schema, "__")
    assert watermark.warehouse_names["订单"] == "__"
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        assert warehouse.row_count(schema, "__") == 31  # 30 + 2 - 1, in the old table
        assert not warehouse.table_columns(schema, "订单")  # nothing moved
        loaded = warehouse.loaded_files(sync.table, watermark)
        assert {f.key for f in watermark.files} == loaded  # one ledger, under `schema.__`
        assert warehouse.loaded_keys(schema, f"{schema}.订单") == set()
    finally:
        warehouse.close()


# Names a normalisation can give: kept letters of several scripts, marks, symbols, emoji, a
# hashed stem, and names cut to the limit at a character boundary.
ODD = ["订单", "Größe €", "Заказы", "café", "é", "σς", "😀x", "\u212a", "a\u200bb", "订" * 60]


@pytest.mark.parametrize("target", TARGETS)
def test_the_targets_take_every_normalised_name_quoted(make_project, request, target):
    project = make_project({"db.t": {"append_only": True}}, **_pipeline(request, target))
    limit = IDENTIFIER_LIMITS[target]
    names = [normalize_identifier(n, limit) for n in ODD]
    assert len(set(names)) == len(names)
    table = table_config(project.pipeline("testpipe"), "db.t")
    schema = table.target_schema
    warehouse = open_warehouse(project, table.target)
    try:
        prefix = warehouse.catalog_prefix()
        warehouse.execute(f"CREATE SCHEMA IF NOT EXISTS {prefix}{quote_ident(schema)}")
        for name in names:
            body = ", ".join(f"{quote_ident(c)} INT" for c in names)
            warehouse.execute(f"CREATE TABLE {warehouse.ref(schema, name)} ({body})")
            # Read back exactly: neither cut (PostgreSQL's 63 bytes) nor folded.
            assert warehouse.table_columns(schema, name) == names
        warehouse.commit()
    finally:
        warehouse.close()
