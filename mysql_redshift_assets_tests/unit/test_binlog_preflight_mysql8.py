"""The MySQL-8-only paths of the binlog preflight and snapshot (MySQL cannot run here), against a
fake of the query results shaped as the MySQL 8 manual documents them:
- `SHOW REPLICAS` "requires the REPLICATION SLAVE privilege" (8.0.22+; `SHOW SLAVE HOSTS`
  before): https://dev.mysql.com/doc/refman/8.0/en/show-replicas.html
- `SHOW BINARY LOG STATUS` (8.2+; `SHOW MASTER STATUS` before) "requires the REPLICATION CLIENT
  privilege" and returns File, Position, Binlog_Do_DB, Binlog_Ignore_DB, Executed_Gtid_Set:
  https://dev.mysql.com/doc/refman/8.4/en/show-binary-log-status.html
- `log_replica_updates` replaces `log_slave_updates` from 8.0.26; `binlog_row_metadata` exists
  from 8.0.1; `GTID_SUBSET(set1, set2)` is 1 when set1 is contained in set2.
- Access denied for a statement is error 1227 (ER_SPECIFIC_ACCESS_DENIED_ERROR).
Every MariaDB path is tested on a real server (integration/test_binlog_*.py)."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from mysql_redshift_assets.extract.binlog.positions import FilePosition, MysqlGtidSet
from mysql_redshift_assets.extract.binlog.preflight import (
    BinlogPreflightError,
    grant_statement,
    preflight,
)
from mysql_redshift_assets.extract.binlog.server import parse_server
from mysql_redshift_assets.extract.binlog.snapshot import SnapshotStart, open_snapshot
from mysql_redshift_assets.extract.binlog.stream import BinlogError, binlog_end

GTID_SET = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n8a94f357-aab4-11df-86ab-c80aa9429562:1-9"
DENIED = pymysql.err.OperationalError(
    1227, "Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s)"
)


class FakeMysql:
    """A connection whose statements answer from `answers` (SQL text -> rows, or an exception);
    every statement and its arguments is recorded in `executed`."""

    def __init__(self, version: str = "8.0.36", **overrides: Any) -> None:
        self.executed: list[tuple[str, Any]] = []
        self.rolled_back = False
        variables = {
            "log_bin": "ON",
            "binlog_format": "ROW",
            "binlog_row_image": "FULL",
            "binlog_row_metadata": "FULL",
            "log_replica_updates": "ON",
            "log_slave_updates": "ON",
            "binlog_expire_logs_seconds": "2592000",
        }
        variables.update({k: v for k, v in overrides.items() if isinstance(v, str)})
        variables = {k: v for k, v in variables.items() if overrides.get(k, "") is not None}
        self.answers: dict[str, Any] = {
            "SELECT @@version, @@version_comment": [(version, "MySQL Community Server - GPL")],
            "SHOW GLOBAL VARIABLES": list(variables.items()),
            "SELECT CURRENT_USER()": [("cdc@%",)],
            "SHOW BINARY LOGS": [("binlog.000041", 1024, "No"), ("binlog.000042", 2048, "No")],
            "SHOW REPLICAS": [],
            "SHOW SLAVE HOSTS": [],
            "SHOW REPLICA STATUS": [],
            "SHOW SLAVE STATUS": [],
            "SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, %s)": [(1,)],
            "SHOW MASTER STATUS": [("binlog.000042", 2048, "", "", GTID_SET)],
            "SHOW BINARY LOG STATUS": [("binlog.000042", 2048, "", "", GTID_SET)],
        }

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def rollback(self) -> None:
        self.rolled_back = True

    def statements(self) -> list[str]:
        return [sql for sql, _ in self.executed]


class FakeCursor:
    def __init__(self, conn: FakeMysql) -> None:
        self.conn, self.rows = conn, []

    def execute(self, sql: str, args: Any = None) -> int:
        self.conn.executed.append((sql, args))
        key = sql.split(" WHERE ")[0]
        answer = self.conn.answers.get(key, [])
        if isinstance(answer, Exception):
            raise answer
        self.rows = list(answer)
        if key == "SHOW GLOBAL VARIABLES":
            self.rows = [row for row in self.rows if row[0] in args]
        return len(self.rows)

    def fetchone(self) -> Any:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        return self.rows

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def run(conn: FakeMysql, **kwargs: Any) -> Any:
    return preflight(conn, **kwargs)


@pytest.mark.parametrize(
    ("version", "comment", "flavour", "numbers"),
    [
        ("8.0.36", "MySQL Community Server - GPL", "mysql", (8, 0, 36)),
        ("8.4.3-commercial", "MySQL Enterprise Server - Commercial", "mysql", (8, 4, 3)),
        ("8.0.35-27", "Percona Server (GPL), Release 27", "mysql", (8, 0, 35)),
        ("10.11.19-MariaDB-0+deb12u1-log", "Debian 12", "mariadb", (10, 11, 19)),
        ("10.6.16", "mariadb.org binary distribution", "mariadb", (10, 6, 16)),
    ],
)
def test_flavour_and_version(
    version: str, comment: str, flavour: str, numbers: tuple[int, ...]
) -> None:
    server = parse_server(version, comment)
    assert (server.flavour, server.version) == (flavour, numbers)


def test_the_grant_per_flavour_and_version() -> None:
    account = "'cdc'@'%'"
    mysql8, mariadb104 = parse_server("8.0.36", ""), parse_server("10.4.30-MariaDB", "")
    assert (
        grant_statement(mysql8, account)
        == "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'cdc'@'%'"
    )
    assert (
        grant_statement(mariadb104, account)
        == "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'cdc'@'%'"
    )
    assert "BINLOG MONITOR" in grant_statement(parse_server("10.11.2-MariaDB", ""), account)


def test_a_well_configured_mysql8_passes_with_its_probes() -> None:
    conn = FakeMysql()
    report = run(conn)
    assert report.server.flavour == "mysql"
    assert report.retention == "binlog_expire_logs_seconds = 2592000 (30.0 days)"
    assert report.binlog_files == ["binlog.000041", "binlog.000042"]
    assert {"SHOW BINARY LOGS", "SHOW REPLICAS", "SHOW REPLICA STATUS"} <= set(conn.statements())


def test_mysql_before_8_0_22_probes_with_the_old_statements() -> None:
    conn = FakeMysql("8.0.20")
    run(conn)
    assert {"SHOW SLAVE HOSTS", "SHOW SLAVE STATUS"} <= set(conn.statements())
    assert "SHOW REPLICAS" not in conn.statements()


@pytest.mark.parametrize(
    ("denied", "missing"),
    [
        (["SHOW REPLICAS"], "lacks REPLICATION SLAVE (to read the binlog)"),
        (["SHOW BINARY LOGS"], "lacks REPLICATION CLIENT (to list the binlog files"),
        (["SHOW BINARY LOGS", "SHOW REPLICAS"], "and REPLICATION SLAVE"),
    ],
)
def test_missing_grants_name_the_mysql_grant(denied: list[str], missing: str) -> None:
    conn = FakeMysql()
    for statement in denied:
        conn.answers[statement] = DENIED
    with pytest.raises(BinlogPreflightError) as caught:
        run(conn)
    assert missing in str(caught.value)
    assert "run GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'cdc'@'%'" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("version", "name"), [("8.0.36", "log_replica_updates"), ("8.0.22", "log_slave_updates")]
)
def test_a_mysql_replica_needs_log_replica_updates(version: str, name: str) -> None:
    conn = FakeMysql(version, log_replica_updates="OFF", log_slave_updates="OFF")
    conn.answers["SHOW REPLICA STATUS"] = conn.answers["SHOW SLAVE STATUS"] = [
        ("Waiting for source",)
    ]
    with pytest.raises(
        BinlogPreflightError, match=f"is a replica without {name}: .* Start it with {name}=ON"
    ):
        run(conn)
    conn.answers["SHOW REPLICA STATUS"] = conn.answers["SHOW SLAVE STATUS"] = []
    run(conn)  # the same settings on a primary pass


def test_mysql_before_8_0_1_cannot_name_columns() -> None:
    conn = FakeMysql("5.7.44", binlog_row_metadata=None, log_replica_updates=None)
    with pytest.raises(
        BinlogPreflightError, match=r"MySQL 5\.7\.44 cannot write column names .* MySQL 8\.0\.1"
    ):
        run(conn)
    assert run(conn, need_column_names=False).server.version == (5, 7, 44)


def test_a_purged_mysql_gtid_position_needs_a_resync() -> None:
    conn = FakeMysql()
    text = "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3"
    position = MysqlGtidSet.parse(text)
    run(conn, positions={"shop.orders": position})
    assert ("SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, %s)", (text,)) in conn.executed
    conn.answers["SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, %s)"] = [(0,)]
    with pytest.raises(BinlogPreflightError) as caught:
        run(conn, positions={"shop.orders": position})
    assert "has purged the binlog from the stored position of shop.orders" in str(caught.value)
    assert "Run `mysql-redshift resync` for shop.orders" in str(caught.value)


def test_a_mysql_file_position_is_checked_against_show_binary_logs() -> None:
    conn = FakeMysql()
    with pytest.raises(BinlogPreflightError, match="has purged"):
        run(conn, positions={"t": FilePosition.parse("binlog.000040:4")})
    (warning,) = run(conn, positions={"t": FilePosition.parse("binlog.000041:500")}).warnings
    assert "lies in the oldest retained binlog file (binlog.000041)" in warning
    assert run(conn, positions={"t": FilePosition.parse("binlog.000042:4")}).warnings == []
    conn.answers["SHOW BINARY LOGS"] = [("binlog.000042", 2048, "No")]
    # The file being written is never purged: no warning when it is the only one.
    assert run(conn, positions={"t": FilePosition.parse("binlog.000042:4")}).warnings == []
    with pytest.raises(BinlogPreflightError, match="past the newest binlog file"):
        run(conn, positions={"t": FilePosition.parse("binlog.000043:4")})


@pytest.mark.parametrize(
    ("version", "status"), [("8.0.36", "SHOW MASTER STATUS"), ("8.4.3", "SHOW BINARY LOG STATUS")]
)
def test_the_mysql_snapshot_holds_the_read_lock_only_around_the_position(
    version: str, status: str
) -> None:
    conn = FakeMysql(version)
    position, same = open_snapshot(conn)
    assert same is conn
    assert conn.statements()[1:] == [
        "SET SESSION lock_wait_timeout = %s",
        "FLUSH TABLES WITH READ LOCK",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
        status,
        "UNLOCK TABLES",
    ]
    gtids = MysqlGtidSet.parse(GTID_SET.replace("\n", ""))
    assert position == SnapshotStart(FilePosition("binlog.000042", 2048), gtids)
    assert position.position == gtids


def test_the_mysql_snapshot_without_reload_names_the_grant() -> None:
    conn = FakeMysql()
    conn.answers["FLUSH TABLES WITH READ LOCK"] = pymysql.err.OperationalError(
        1227, "Access denied"
    )
    with pytest.raises(BinlogPreflightError, match=r"run GRANT RELOAD ON \*\.\* TO 'cdc'@'%'"):
        open_snapshot(conn)
    assert conn.rolled_back
    assert "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY" not in conn.statements()


def test_the_mysql_snapshot_unlocks_when_the_position_cannot_be_read() -> None:
    conn = FakeMysql()
    conn.answers["SHOW MASTER STATUS"] = pymysql.err.OperationalError(1227, "Access denied")
    with pytest.raises(pymysql.err.OperationalError):
        open_snapshot(conn)
    assert conn.statements()[-1] == "UNLOCK TABLES" and conn.rolled_back


def test_a_file_position_of_another_log_needs_a_resync() -> None:
    """Files of two logs do not order (`FilePosition.at_or_after` refuses): the stored position
    is of another server or a renamed log, never 'purged' or 'fine'."""
    conn = FakeMysql()
    with pytest.raises(BinlogPreflightError) as caught:
        run(conn, positions={"t": FilePosition.parse("mysql-bin.000041:4")})
    assert "this is another server. The table needs `mysql-redshift resync` for t" in str(
        caught.value
    )
    assert "has purged" not in str(caught.value)


@pytest.mark.parametrize(
    ("version", "status"), [("8.0.36", "SHOW MASTER STATUS"), ("8.4.3", "SHOW BINARY LOG STATUS")]
)
def test_the_streams_binlog_end_names_the_preflights_grant(version: str, status: str) -> None:
    """The stream's end (`binlog_end`) reads the statement of the server's version, and a
    missing REPLICATION CLIENT is an error naming the exact GRANT the preflight names."""
    conn = FakeMysql(version)
    assert binlog_end(conn) == FilePosition("binlog.000042", 2048)
    assert conn.statements()[-1] == status
    conn.answers[status] = DENIED
    with pytest.raises(BinlogError) as caught:
        binlog_end(conn)
    grant = "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'cdc'@'%'"
    assert grant == grant_statement(parse_server(version, ""), "'cdc'@'%'")
    assert f"cannot read the binlog end ({status}) on MySQL {version}: run {grant}" in str(
        caught.value
    )
