"""MariaDB -> moto S3 -> DuckDB and -> PostgreSQL: the whole path once, counts and checksums."""

from __future__ import annotations

import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_rows_and_checksums_agree_source_parquet_warehouse(
    mysql, mysql_db, make_project, target, request
):
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "wh"
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(15,4), "
            "note VARCHAR(20), updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, '2024-01-01 00:00:00')",
            [(i, f"{i}.0001", "né 🚀" if i % 3 else None) for i in range(1, 251)],
        )
    project = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}},
        target=target,
        target_schema=schema,
        chunk_rows=40,
        file_rows=100,
    )
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.orders")
    store = open_store(project, "s3")
    watermarks = WatermarkStore(store)
    source = open_source(project, "mysql")
    result = extract_table(source, store, watermarks, table, run_id="run-1")
    assert result.rows == 250 and [f.rows for f in result.files] == [100, 100, 50]

    warehouse = open_warehouse(project, target)
    loaded, _ = load_table(warehouse, store, watermarks, table, run_id="run-1")
    assert loaded.rows_loaded == 250 and loaded.table_rows == 250
    again, _ = load_table(warehouse, store, watermarks, table, run_id="run-2")
    assert again.rows_loaded == 0 and again.already_loaded == 3 and again.table_rows == 250
    total = warehouse.fetchall(
        f'SELECT SUM("id"), SUM("amount"), COUNT("note") FROM {warehouse.ref(schema, "orders")}'
    )[0]
    assert (int(total[0]), str(total[1]), total[2]) == (31375, "31375.0250", 167)
    warehouse.close()
    source.close()
