"""Redshift limits the PostgreSQL stand-in enforces too, run for real on MariaDB + PostgreSQL.

- COPY's 4 MB row limit (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-source.html):
  a row over it is refused before any write, naming the file, the row and a fix that exists;
  the fix (shrink the values in MySQL, resync) then loads the table exactly.
- The ledger's `table_name` holds 127 + 1 + 127 + len("#deletes") = 263 bytes; a ledger created
  with the older VARCHAR(256) is widened and loads go on.
- A VARCHAR column Redshift will not ALTER in place (here: one with a DEFAULT, read from the
  catalog as Redshift's is, `unit/test_redshift_limits.py`) is widened by the rebuild, and the
  rows stay exact.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql
import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.load.redshift_limits import refused_in_place
from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.naming import LEDGER_TABLE
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.store.parquet import read_footer
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets.targets import REDSHIFT_MAX_COPY_ROW
from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, pg_query
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb

COLUMNS, KEY = ["id", "a", "b", "updated_at"], ["id"]
MB = 1024 * 1024


def _sync(make_project: Any, mysql_db: str, request: Any, target: str) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, "t", {"cursor": "updated_at"}, target=target,
        target_schema=schema, late_commit_window_seconds=0,
    )  # fmt: skip


def _resync(sync: Sync) -> None:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        resync_table(source, store, warehouse, sync.table, run_id="resync-1")
    finally:
        warehouse.close()
        source.close()


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_row_over_copys_4_mb_limit_is_refused_before_any_write(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any, target: str
) -> None:
    # Each value is under every column limit (16 MB VARBYTE); row 2 is 5 MB together.
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, a LONGBLOB, b LONGBLOB, "
                    "updated_at DATETIME(6) NOT NULL)")  # fmt: skip
        cur.execute("INSERT INTO t VALUES (1, 'x', NULL, '2024-01-01')")
        cur.execute("INSERT INTO t VALUES (2, %s, %s, '2024-01-02')",
                    (b"a" * (2 * MB + MB // 2), b"b" * (2 * MB + MB // 2)))  # fmt: skip
        cur.execute("INSERT INTO t VALUES (3, %s, NULL, '2024-01-03')", (b"c" * (3 * MB),))
    sync = _sync(make_project, mysql_db, request, target)
    extracted = sync.extract("ext-1")
    (record,) = extracted.files
    if target == "duckdb":  # DuckDB takes any row
        sync.load("run-1")
        assert_same_rows(mysql, sync, COLUMNS, KEY)
    else:
        with pytest.raises(LoadError) as err:
            sync.load("run-1")
    store = open_store(sync.project, sync.table.store)
    footer = read_footer(*reversed(store.arrow_location(record.key)))
    # Exact per row: 5 MiB of values plus 16 bytes for each fixed-width value (id, updated_at,
    # and the order column), not the sum of the columns' maxima (3 MiB + 2.5 MiB).
    assert (footer.max_row_bytes, footer.max_row_index) == (5 * MB + 3 * 16, 1)
    if target == "duckdb":
        return
    assert str(err.value) == (
        f"{record.key}: row 1 (0-based) of {mysql_db}.t is {5 * MB + 48:,} bytes, over the "
        f"{REDSHIFT_MAX_COPY_ROW:,}-byte row limit of Redshift's COPY "
        "(https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-source.html); "
        "nothing was loaded. Its widest columns: a (longest value 3,145,728 bytes), "
        "b (longest value 2,621,440 bytes). Shrink or move such values in MySQL, or leave "
        "columns out with the table's `exclude_columns: [...]` in "
        f"{sync.table.config_file}; then run "
        f"`mysql-redshift resync -p testpipe -t {mysql_db}.t` to re-extract the table"
    )
    ledger = pg_query(f'SELECT COUNT(*) FROM "{sync.table.target_schema}"."{LEDGER_TABLE}"')
    assert ledger == [(0,)]
    # The fix the message names: shrink the values in MySQL, then resync.
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET b = %s, updated_at = '2024-02-01' WHERE id = 2", (b"b" * MB,))
    _resync(sync)
    assert_same_rows(mysql, sync, COLUMNS, KEY)


def test_an_older_ledger_is_widened_and_loads_go_on(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10), b BLOB, "
                    "updated_at DATETIME(6) NOT NULL)")  # fmt: skip
        cur.execute("INSERT INTO t VALUES (1, 'one', NULL, '2024-01-01')")
    sync = _sync(make_project, mysql_db, request, "postgres")
    schema = sync.table.target_schema
    ledger = f'"{schema}"."{LEDGER_TABLE}"'
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB,
                         autocommit=True) as admin:  # fmt: skip
        # The ledger as the loader created it before: table_name VARCHAR(256).
        admin.execute(f'CREATE SCHEMA "{schema}"')
        admin.execute(
            f'CREATE TABLE {ledger} ("file_key" VARCHAR(1024) NOT NULL PRIMARY KEY, '
            '"table_name" VARCHAR(256) NOT NULL, "row_count" BIGINT NOT NULL, '
            '"run_id" VARCHAR(128) NOT NULL, "loaded_at" TIMESTAMP NOT NULL)'
        )
        admin.execute(f"INSERT INTO {ledger} VALUES ('old/file', 'other.t', 1, 'r', now())")
    sync.run("run-1")
    width = pg_query(
        "SELECT character_maximum_length FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{LEDGER_TABLE}' "
        "AND column_name = 'table_name'"
    )
    assert width == [(263,)]
    # A 127-byte schema and table and the deletes suffix fit now.
    longest = f"{'s' * 127}.{'t' * 127}#deletes"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB) as conn:
        conn.execute(f"INSERT INTO {ledger} VALUES ('long/file', %s, 0, 'r', now())", (longest,))
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (2, 'two', 'bb', '2024-01-02')")
    sync.run("run-2")
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    assert pg_query(f"SELECT COUNT(*) FROM {ledger} WHERE table_name = 'other.t'") == [(1,)]
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None and len(watermark.files) == 2


class RedshiftAlterRules(PostgresWarehouse):
    """The stand-in refusing in-place widenings as Redshift does, from PostgreSQL's catalog (it
    has no encodings): a column with a DEFAULT."""

    def in_place_refusals(self, schema: str, table: str) -> dict[str, str]:
        rows = self.fetchall(
            "SELECT column_name, column_default, NULL FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        )
        return refused_in_place(rows)


def test_a_varchar_with_a_default_is_widened_by_the_rebuild_and_stays_exact(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any
) -> None:
    columns = ["id", "label", "updated_at"]
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, label VARCHAR(10) DEFAULT 'x', "
                    "updated_at DATETIME(6) NOT NULL) DEFAULT CHARSET=utf8mb4")  # fmt: skip
        cur.execute("INSERT INTO t VALUES (1, 'short', '2024-01-01'), (2, NULL, '2024-01-01')")
    sync = _sync(make_project, mysql_db, request, "postgres")
    sync.run("run-1")
    schema = sync.table.target_schema
    target = f'"{schema}"."t"'
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB,
                         autocommit=True) as admin:  # fmt: skip
        # As the loader adds a column MySQL added with a DEFAULT (load/evolve.py).
        admin.execute(f"ALTER TABLE {target} ALTER COLUMN \"label\" SET DEFAULT 'x'")
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE t MODIFY label VARCHAR(40) DEFAULT 'x'")
        cur.execute("INSERT INTO t VALUES (3, %s, '2024-01-02')", ("é" * 40,))
    sync.extract("ext-2")
    base = open_warehouse(sync.project, sync.table.target)
    assert isinstance(base, PostgresWarehouse)
    warehouse = RedshiftAlterRules(base.name, base._connect)
    store = open_store(sync.project, sync.table.store)
    try:
        load_table(warehouse, store, WatermarkStore(store), sync.table, run_id="run-2")
    finally:
        warehouse.close()
    assert_same_rows(mysql, sync, columns, KEY)
    # Rebuilt, not altered: the new table has the files' width and no DEFAULT.
    assert pg_query(
        "SELECT character_maximum_length, column_default FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = 't' AND column_name = 'label'"
    ) == [(160, None)]
