"""`json: super` with `capture: binlog` on a private MariaDB with the binlog on: MariaDB's JSON
(LONGTEXT, sent as text in the row images) parsed in the merge, equal to MySQL's as documents,
row by row, on DuckDB and the PostgreSQL stand-in."""

from __future__ import annotations

import pytest

from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.test_json_super import COLUMNS, KEY, _table, _typeof

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_binlog_capture_carries_documents_parsed_and_exact(
    mysql, mysql_db, mysql_server, make_project, request, target
) -> None:
    _table(mysql)
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    spec = {"capture": "binlog", "json": "super"}
    sync = Sync.of(make_project, mysql_db, "j", spec, target=target, target_schema=schema)
    sync.run("run-1")
    assert_same_rows(mysql, sync, COLUMNS, KEY, json_columns=["doc"])
    with mysql.cursor() as cur:
        cur.execute("UPDATE j SET doc = JSON_SET(doc, '$.z', 'zoë') WHERE id = 1")
        cur.execute("""UPDATE j SET doc = '[{"n": 1e-7}]' WHERE id = 5""")
        cur.execute("DELETE FROM j WHERE id = 3")
        cur.execute("""INSERT INTO j (id, doc) VALUES (12, '{"new": ["😀", {}]}')""")
    sync.run("run-2")
    assert_same_rows(mysql, sync, COLUMNS, KEY, json_columns=["doc"])
    kinds = _typeof(sync)
    assert kinds[:2] == ["jsonb" if target == "postgres" else "json", "object"], kinds
