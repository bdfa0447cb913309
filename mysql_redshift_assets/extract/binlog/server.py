"""What the binlog preflight, snapshot and stream share about a server: its flavour and version,
its GLOBAL variables, the account the session runs as, how long it keeps its binlog, its binlog
end (`SHOW MASTER STATUS`), the GRANT the stream needs, the fix of each row-event setting, and
the errors of binlog capture (one base, `BinlogCaptureError`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pymysql

from mysql_redshift_assets.extract.binlog.positions import (
    BinlogPosition,
    FilePosition,
    MariaDbGtidPos,
    MysqlGtidSet,
)

Connection = pymysql.connections.Connection
Cursor = pymysql.cursors.Cursor
# ER_SPECIFIC_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR,
# ER_DBACCESS_DENIED_ERROR
ACCESS_DENIED = (1227, 1045, 1142, 1044)


class BinlogCaptureError(Exception):
    """Binlog change capture cannot go on as configured; the message names the fix."""


class BinlogPreflightError(BinlogCaptureError):
    """The server or the user cannot give binlog change capture what it needs (found before
    reading: the preflight, the snapshot)."""


class BinlogError(BinlogCaptureError, RuntimeError):
    """The binlog cannot be read exactly as configured (found while reading: the stream)."""


# The fix of each row-event setting, for the preflight (reading the variable) and the stream
# (meeting an event written under another value).
ROW_IMAGE_FIX = (
    "set `binlog_row_image=FULL` on the server: run SET GLOBAL binlog_row_image = 'FULL' and "
    "set it in the server's configuration"
)
ROW_METADATA_FIX = (
    "set `binlog_row_metadata=FULL` on the server (MariaDB 10.5+, MySQL 8.0.1+): run "
    "SET GLOBAL binlog_row_metadata = 'FULL' and set it in the server's configuration"
)
# What a purged position needs, for the preflight (a stored position) and the stream (its start).
KEEP_LONGER = (
    "keep the binlog longer (binlog_expire_logs_seconds) than the longest gap between two runs"
)
LOG_BIN_OFF = "the binary log is off (start the server with log_bin and binlog_format=ROW)"


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


def grant_statement(server: Server, account: str) -> str:
    """The GRANT the stream needs, for this server's flavour and version."""
    if server.is_mariadb and server.version >= (10, 5, 2):
        return f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO {account}"
    return f"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {account}"


def status_statement(server: Server) -> str:
    """The binlog's own position: `SHOW BINARY LOG STATUS` from MySQL 8.2 (8.4 removed
    `SHOW MASTER STATUS`), `SHOW MASTER STATUS` before and on MariaDB. Its row: File, Position,
    Binlog_Do_DB, Binlog_Ignore_DB, and on MySQL Executed_Gtid_Set."""
    if not server.is_mariadb and server.version >= (8, 2, 0):
        return "SHOW BINARY LOG STATUS"
    return "SHOW MASTER STATUS"


def binlog_end(conn: Connection, server: Server | None = None) -> FilePosition:
    """The binlog's end now (`status_statement`: BINLOG MONITOR on MariaDB 10.5+, REPLICATION
    CLIENT on MySQL). A missing privilege is an error naming `grant_statement`."""
    server = server or detect_server(conn)
    statement = status_statement(server)
    with conn.cursor() as cur:
        try:
            cur.execute(statement)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in ACCESS_DENIED:
                raise BinlogError(
                    f"cannot read the binlog end ({statement}) on {server}: run "
                    f"{grant_statement(server, current_account(conn))}: {exc}"
                ) from exc
            raise
        row = cur.fetchone()
    if not row:
        raise BinlogError(f"{statement} returned nothing on {server}: {LOG_BIN_OFF}")
    return FilePosition(str(row[0]), int(row[1]))


def server_position(
    conn: Connection, like: BinlogPosition, server: Server | None = None
) -> BinlogPosition:
    """Where the server's binlog is now, in the kind of `like` (a stored position): MariaDB's
    `@@GLOBAL.gtid_binlog_pos` (the last GTID of each domain written to the binlog), MySQL's
    `@@GLOBAL.gtid_executed`, else the binlog end (`binlog_end`). Every transaction the server
    writes moves it, whichever table it changes."""
    if isinstance(like, FilePosition):
        return binlog_end(conn, server)
    variable = "gtid_binlog_pos" if isinstance(like, MariaDbGtidPos) else "gtid_executed"
    with conn.cursor() as cur:
        text = str(one_row(cur, f"SELECT @@GLOBAL.{variable}")[0] or "")
    if isinstance(like, MariaDbGtidPos):
        return MariaDbGtidPos.parse(text)
    return MysqlGtidSet.parse(text)
