"""`mysql-redshift ddl`: the DDL a first load would run, then the ALTERs against an existing table."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pymysql
import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, pg_query
from mysql_redshift_assets_tests.exactness import Sync

pytestmark = pytest.mark.mariadb

TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10) CHARACTER SET latin1, oid INT, "
    "`Order Total` DECIMAL(12,2), updated_at DATETIME(6) NOT NULL)"
)


def _ddl(root: Any, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code = main(["--pipelines-dir", str(root), "ddl", "-p", "testpipe", *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_ddl_prints_the_create_then_the_pending_alters(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, pg_schema: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.execute("INSERT INTO t VALUES (1, 'ééé', 1, 1.50, '2024-01-01')")
    sync = Sync.of(make_project, mysql_db, "t", {"cursor": "updated_at", "sortkey": ["updated_at"]},
                   target="postgres", target_schema=pg_schema, late_commit_window_seconds=0)  # fmt: skip
    root = sync.project.root
    target = f'"{pg_schema}"."t"'
    out = _ddl(root, capsys)
    assert out.splitlines() == [
        f"-- {mysql_db}.t -> {target} (to be created)",
        "-- renamed: oid -> col_oid",
        "-- renamed: Order Total -> order_total",
        f'CREATE TABLE IF NOT EXISTS {target} ("id" INTEGER NOT NULL, "name" VARCHAR(30), '
        '"col_oid" INTEGER, "order_total" NUMERIC(12,2), "updated_at" TIMESTAMP);',
    ]
    assert not pg_query(
        "SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg_schema,)
    )  # ran nothing

    sync.run()
    assert "-- nothing to change" in _ddl(root, capsys, "-t", f"{mysql_db}.t")
    # A target created by an older plan (latin1 sized in latin1 bytes), and a new MySQL column.
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB) as conn:
        conn.execute(f'ALTER TABLE {target} ALTER COLUMN "name" TYPE VARCHAR(10)')
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE t ADD COLUMN note TEXT")
    out = _ddl(root, capsys)
    assert out.splitlines()[1:] == [
        "-- renamed: oid -> col_oid",
        "-- renamed: Order Total -> order_total",
        f'ALTER TABLE {target} ADD COLUMN "note" VARCHAR(65535);',
        f'ALTER TABLE {target} ALTER COLUMN "name" TYPE VARCHAR(30);',
    ]
    assert main(["--pipelines-dir", str(root), "--json", "ddl", "-p", "testpipe"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["exists"] is True and len(data[0]["statements"]) == 2
