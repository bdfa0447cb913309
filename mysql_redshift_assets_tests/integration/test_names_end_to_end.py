"""Odd and long names from MySQL to DuckDB and the PostgreSQL stand-in, row by row (issue 15, 3)."""

from __future__ import annotations

import dagster as dg
import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.naming import pipeline_job_name
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]

LONG = "a_column_name_of_sixty_four_characters_which_postgres_cuts_at_63"
assert len(LONG) == 64
COLUMNS = ["id", "unit price €", "Größe", "order.no", LONG, "updated_at"]


def _odd_table(mysql, name: str = "order items") -> None:
    with mysql.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{name}` (id INT PRIMARY KEY, `unit price €` DECIMAL(10,2), "
            f"`Größe` VARCHAR(20), `order.no` INT, `{LONG}` VARCHAR(20), "
            "updated_at DATETIME(6) NOT NULL)"
        )
        cur.executemany(
            f"INSERT INTO `{name}` VALUES (%s, %s, %s, %s, %s, '2024-05-01 10:00:00')",
            [(i, f"{i}.50", f"größe {i}", i * 10, f"long {i}") for i in range(1, 41)],
        )


def _change(mysql, name: str = "order items") -> None:
    with mysql.cursor() as cur:
        cur.execute(
            f"UPDATE `{name}` SET `{LONG}` = 'changed', updated_at = '2024-05-02 00:00:00' "
            "WHERE id <= 5"
        )
        cur.execute(
            f"INSERT INTO `{name}` VALUES (41, 1.25, 'neu', 410, 'new', '2024-05-02 00:00:00')"
        )


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_odd_and_long_names_load_twice_and_equal_mysql(
    mysql, mysql_db, make_project, request, target
):
    _odd_table(mysql)
    pipeline = {"target": target}
    if target == "postgres":
        pipeline["target_schema"] = request.getfixturevalue("pg_schema")
    sync = Sync.of(make_project, mysql_db, "order items", {"cursor": "updated_at"}, **pipeline)
    sync.run("first")
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
    # The second load is the one that failed: PostgreSQL had cut the 64-byte column to 63.
    _change(mysql)
    sync.run("second")
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
    store = open_store(sync.project, sync.table.store)
    names = WatermarkStore(store).load(sync.table).columns  # the recorded, stable mapping
    limit = 63 if target == "postgres" else 127
    assert all(len(n.encode()) <= limit for n in names.values())
    assert (names[LONG] == LONG) == (target == "duckdb")
    # `€` is kept (issue 22, defect 4: it was `_`); ASCII letters lowercased, only they.
    assert names["unit price €"] == "unit_price_€" and names["order.no"] == "order_no"
    assert names["Größe"] == "größe"


def test_odd_table_names_run_through_dagster_beside_a_plain_table(mysql, mysql_db, make_project):
    """A table named with a space and one with non-Latin letters no longer stop the pipeline."""
    _odd_table(mysql)
    _odd_table(mysql, "заказы")
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE plain (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO plain VALUES (1, 1), (2, 2)")
    tables = {
        f"{mysql_db}.order items": {"cursor": "updated_at"},
        f"{mysql_db}.заказы": {"cursor": "updated_at", "target_table": "orders_ru"},
        f"{mysql_db}.plain": {"append_only": True},
    }
    project = make_project(tables, store="local", upper_bound_lag_seconds=0)
    defs = build_definitions(project)
    result = defs.resolve_job_def(pipeline_job_name("testpipe")).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    assert result.success
    pipeline = project.pipeline("testpipe")
    for name, columns in (("order items", COLUMNS), ("заказы", COLUMNS), ("plain", ["id", "v"])):
        sync = Sync(project, table_config(pipeline, f"{mysql_db}.{name}"))
        assert_same_rows(mysql, sync, columns, ["id"])
