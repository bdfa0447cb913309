"""Helpers of the binlog stream tests: a replication account on the private MariaDB, and the
changes of a read applied to an in-memory copy of a table (newest change of a key wins,
deletes delete)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mysql_redshift_assets.extract.binlog.stream import Transaction
from mysql_redshift_assets_tests.private_mariadb import MysqlServer

# A throwaway account of the private test server only.
BINLOG_USER = "mra_binlog"
BINLOG_PASSWORD = "mra-binlog-test-only-not-a-secret"
# The minimal grants for a binlog read on MariaDB 10.11 (test_binlog_stream.py shows each is needed).
MINIMAL_GRANTS = "REPLICATION SLAVE, BINLOG MONITOR"


def binlog_account(server: MysqlServer, grants: str, user: str = BINLOG_USER) -> dict[str, Any]:
    """(Re)create `user` with exactly `grants` ON *.*; its pymysql connection arguments."""
    with server.root() as root, root.cursor() as cur:
        for host in ("localhost", "127.0.0.1"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (BINLOG_PASSWORD,))
            if grants:
                cur.execute(f"GRANT {grants} ON *.* TO '{user}'@'{host}'")
    return {"host": server.host, "port": server.port, "user": user, "password": BINLOG_PASSWORD}


def applied(
    rows: dict[Any, dict[str, Any]],
    transactions: Iterable[Transaction],
    table: tuple[str, str],
    key: str = "id",
) -> dict[Any, dict[str, Any]]:
    """`rows` (key -> row) with the changes of `table` applied in the order given."""
    copy = dict(rows)
    for transaction in transactions:
        for change in transaction.changes:
            if change.table != table:
                continue
            if change.before is not None:
                copy.pop(change.before[key], None)
            if change.after is not None:
                copy[change.after[key]] = dict(change.after)
    return copy
