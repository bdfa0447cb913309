"""What the late-commit and time-zone tests share: a Sync on either warehouse, a wait until the
server's older transactions (other tests' too: INNODB_TRX is server-wide) have ended, and an
account without the PROCESS privilege."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql
import pytest
import yaml

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD, MysqlServer
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

TARGETS = ["duckdb", "postgres"]


def sync_on(
    request: pytest.FixtureRequest,
    make_project: Any,
    mysql_db: str,
    name: str,
    spec: dict[str, Any],
    target: str,
    **pipeline: Any,
) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, name, spec, target=target, target_schema=schema, **pipeline
    )


def server_now(conn: pymysql.Connection) -> str:
    with conn.cursor() as cur:
        cur.execute("SELECT UTC_TIMESTAMP(6)")
        return str(cur.fetchone()[0])


def wait_for_older_transactions(
    conn: pymysql.Connection, since: str, timeout: float = 60.0
) -> None:
    """Until no transaction that started before `since` (UTC) is open on `conn`'s server: the
    run after that may read past `since` (other tests' transactions count too)."""
    deadline = time.monotonic() + timeout
    with conn.cursor() as cur:
        while True:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                "WHERE trx_started <= %s - INTERVAL 1 SECOND AND (trx_rows_modified > 0 "
                "OR (trx_query IS NOT NULL AND trx_autocommit_non_locking = 0))",
                (since,),
            )
            if cur.fetchone()[0] == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.2)


@contextmanager
def account_without_process(server: MysqlServer, mysql_db: str) -> Iterator[str]:
    """A MySQL account with every right on `mysql_db` and no PROCESS; dropped at the end."""
    user = f"mra_noproc_{uuid.uuid4().hex[:8]}"
    root = server.root()
    hosts = ("localhost", "127.0.0.1")
    try:
        with root.cursor() as cur:
            for host in hosts:
                cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (TEST_PASSWORD,))
                cur.execute(f"GRANT ALL ON `{mysql_db}`.* TO '{user}'@'{host}'")
        yield user
    finally:
        with root.cursor() as cur:
            for host in hosts:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        root.close()


def as_user(sync: Sync, user: str) -> Sync:
    """The same pipeline, its source connecting as `user`."""
    path = sync.project.connections_path
    connections = yaml.safe_load(path.read_text())
    connections["sources"]["mysql"]["user"] = user
    path.write_text(yaml.safe_dump(connections))
    project = load_project(sync.project.root)
    return Sync(project, table_config(project.pipeline("testpipe"), sync.table.qualified))


def settle_and_compare(
    mysql: pymysql.Connection, sync: Sync, columns: list[str], key: list[str]
) -> None:
    """After the test's transactions ended: runs until every transaction older than them has
    ended too (other tests' writers share the server), then MySQL == the warehouse. A lost row
    never comes back, so waiting out a stranger's transaction cannot hide one."""
    since = server_now(mysql)
    for attempt in range(3):
        wait_for_older_transactions(mysql, since)
        sync.run(f"settle-{attempt}")
        try:
            assert_same_rows(mysql, sync, columns, key)
            return
        except AssertionError:
            if attempt == 2:
                raise
