"""What the binlog checks and the snapshot need to know of a server: its flavour and version,
its GLOBAL variables, the account the session runs as, and how long it keeps its binlog."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pymysql

Connection = pymysql.connections.Connection
Cursor = pymysql.cursors.Cursor
# ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR
ACCESS_DENIED = (1227, 1045, 1142)


class BinlogPreflightError(Exception):
    """The server or the user cannot give binlog change capture what it needs; the message
    names the fix."""


@dataclass(frozen=True)
class Server:
    """What the server is: `@@version` (`10.11.19-MariaDB-0+deb12u1-log`, `8.0.36`) and
    `@@version_comment` (`MySQL Community Server - GPL`, `mariadb.org binary distribution`)."""

    flavour: Literal["mariadb", "mysql"]
    version: tuple[int, int, int]
    version_text: str

    @property
    def is_mariadb(self) -> bool:
        return self.flavour == "mariadb"

    def __str__(self) -> str:
        name = "MariaDB" if self.is_mariadb else "MySQL"
        return f"{name} {'.'.join(map(str, self.version))}"


def one_row(cur: Cursor, sql: str, args: tuple[object, ...] = ()) -> tuple[Any, ...]:
    cur.execute(sql, args)
    row = cur.fetchone()
    if row is None:
        raise BinlogPreflightError(f"{sql} returned no row")
    return row


def current_account(conn: Connection) -> str:
    """`'user'@'host'` as the server matched this session (what a GRANT must name)."""
    with conn.cursor() as cur:
        user, _, host = str(one_row(cur, "SELECT CURRENT_USER()")[0]).rpartition("@")
    return f"'{user}'@'{host}'"


def detect_server(conn: Connection) -> Server:
    with conn.cursor() as cur:
        version, comment = (
            str(v or "") for v in one_row(cur, "SELECT @@version, @@version_comment")
        )
    return parse_server(version, comment)


def parse_server(version: str, comment: str) -> Server:
    numbers = re.match(r"^(\d+)\.(\d+)\.(\d+)", version)
    if not numbers:
        raise BinlogPreflightError(f"cannot read the server version from @@version = {version!r}")
    mariadb = "mariadb" in f"{version} {comment}".lower()
    major, minor, patch = (int(n) for n in numbers.groups())
    return Server("mariadb" if mariadb else "mysql", (major, minor, patch), version)


def global_variables(conn: Connection, names: tuple[str, ...]) -> dict[str, str]:
    """The GLOBAL values of `names` the server has (a missing name is a variable this version
    does not have)."""
    marks = ", ".join(["%s"] * len(names))
    with conn.cursor() as cur:
        cur.execute(f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({marks})", names)
        return {str(name).lower(): str(value) for name, value in cur.fetchall()}


def retention_text(variables: Mapping[str, str]) -> str:
    """How long the server keeps its binlog: `binlog_expire_logs_seconds` (MariaDB >= 10.6,
    MySQL 8), else `expire_logs_days`; 0 is 'until purged by hand'."""
    seconds = float(variables.get("binlog_expire_logs_seconds", "0") or 0)
    if not seconds:
        seconds = float(variables.get("expire_logs_days", "0") or 0) * 86400
    if not seconds:
        return "binlog_expire_logs_seconds = 0: binlog files are kept until purged by hand"
    return f"binlog_expire_logs_seconds = {seconds:.0f} ({seconds / 86400:.1f} days)"
