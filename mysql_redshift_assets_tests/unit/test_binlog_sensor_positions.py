"""The new-data comparison of a `capture: binlog` table (`sync/probe.py` `compare_positions`)
for each kind of stored position, against a fake of the server's answers: MySQL 8 cannot run
here. MySQL's `@@GLOBAL.gtid_executed` is "the set of GTIDs of all transactions executed on the
server and GTIDs set by SET gtid_purged"
(https://dev.mysql.com/doc/refman/8.0/en/replication-options-gtids.html#sysvar_gtid_executed);
`SHOW BINARY LOG STATUS` (8.2+) gives File and Position
(https://dev.mysql.com/doc/refman/8.4/en/show-binary-log-status.html). MariaDB's GTID path
runs on a real server in integration/test_binlog_sensor.py."""

from __future__ import annotations

from typing import Any

import pytest

from mysql_redshift_assets.extract.binlog.positions import (
    FilePosition,
    MariaDbGtidPos,
    MysqlGtidSet,
)
from mysql_redshift_assets.sync.probe import compare_positions

UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"


class _Server:
    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = {"SELECT @@version, @@version_comment": ("8.4.3", "MySQL")} | answers
        self.executed: list[str] = []

    def cursor(self) -> _Cursor:
        return _Cursor(self)


class _Cursor:
    def __init__(self, server: _Server) -> None:
        self.server, self.row = server, None

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, sql: str, args: Any = None) -> None:
        self.server.executed.append(sql)
        self.row = self.server.answers[sql]

    def fetchone(self) -> Any:
        return self.row


@pytest.mark.parametrize(
    ("stored", "executed", "new"),
    [
        (f"{UUID}:1-5", f"{UUID}:1-5", False),
        (f"{UUID}:1-5", f"{UUID}:1-6", True),  # one more transaction on the server
        (f"{UUID}:1-5", f"{UUID}:1-5,8a94f357-aab4-11df-86ab-c80aa9429562:1", True),
    ],
)
def test_a_mysql_gtid_set_is_compared_with_gtid_executed(stored, executed, new):
    server = _Server({"SELECT @@GLOBAL.gtid_executed": (executed,)})
    probe = compare_positions(server, MysqlGtidSet.parse(stored).to_json())
    assert probe.new is new
    assert probe.server_position == MysqlGtidSet.parse(executed).format()


@pytest.mark.parametrize(
    ("stored", "end", "new"),
    [
        (FilePosition("binlog.000042", 2048), ("binlog.000042", 2048), False),
        (FilePosition("binlog.000042", 2048), ("binlog.000042", 4096), True),
        (FilePosition("binlog.000042", 2048), ("binlog.000043", 4), True),  # rotated
        (FilePosition("binlog.000042", 2048), ("mysql-bin.000001", 4), True),  # another log
    ],
)
def test_a_file_position_is_compared_with_the_binlog_end(stored, end, new):
    server = _Server({"SHOW BINARY LOG STATUS": (*end, "", "", "")})
    probe = compare_positions(server, stored.to_json())
    assert probe.new is new and server.executed[-1] == "SHOW BINARY LOG STATUS"


def test_a_mariadb_position_behind_in_one_domain_is_new_data():
    server = _Server({"SELECT @@GLOBAL.gtid_binlog_pos": ("0-1-42,1-2-7",)})
    stored = MariaDbGtidPos.parse("0-1-42,1-2-6").to_json()
    assert compare_positions(server, stored).new is True
    stored = MariaDbGtidPos.parse("0-1-42,1-2-7").to_json()
    assert compare_positions(server, stored).new is False
