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
