"""Helpers of the binlog stream tests: a replication account on the private MariaDB."""

from __future__ import annotations

from typing import Any

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
