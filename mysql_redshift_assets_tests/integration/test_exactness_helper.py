"""The row-by-row comparison every exactness test ends with can fail: it sees a lost row, an
extra row, a doubled row and a changed value, on DuckDB and on the PostgreSQL stand-in."""

from __future__ import annotations

import pytest

from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb
COLUMNS, KEY = ["id", "amount", "at"], ["id"]


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_the_comparison_sees_every_kind_of_difference(
    mysql, mysql_db, make_project, target, request
):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,4), at DATETIME(6), "
            "KEY (at, id))"
        )
        cur.execute(
            "INSERT INTO t VALUES (1, 1.2345, '2024-01-01 00:00:00.000001'), "
            "(2, NULL, '2024-01-02 00:00:00'), (3, 0.0049, '2024-01-03 00:00:00')"
        )
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    sync = Sync.of(
        make_project, mysql_db, "t", {"cursor": "at"}, target=target, target_schema=schema
    )
    sync.run()
    assert_same_rows(mysql, sync, COLUMNS, KEY)

    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET amount = 1.2346 WHERE id = 1")  # not extracted yet
    with pytest.raises(AssertionError, match="changed"):
        assert_same_rows(mysql, sync, COLUMNS, KEY)
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id = 1")
        cur.execute("INSERT INTO t VALUES (4, 1, '2024-01-04 00:00:00')")
    with pytest.raises(AssertionError, match=r"missing keys \[\(4,\)\]; extra keys \[\(1,\)\]"):
        assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_the_first_sync_of_an_empty_table_loads_nothing_and_fails_nothing(
    mysql, mysql_db, make_project, target, request
):
    """No file yet (an empty table, or rows held back by an open transaction): the load has no
    target to lock and must not fail; the next sync loads what came since."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,4), at DATETIME(6))")
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    sync = Sync.of(
        make_project, mysql_db, "t", {"cursor": "at"}, target=target, target_schema=schema
    )
    extracted, loaded = sync.run("r1")
    assert extracted.rows == 0 and loaded.rows_loaded == 0 and loaded.files_loaded == []
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1, 1.5, '2024-01-01 00:00:00')")
    sync.run("r2")
    assert_same_rows(mysql, sync, COLUMNS, KEY)
