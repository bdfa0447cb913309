"""Binlog preflight against real MariaDB 10.11 servers: the shared one (binlog off) and private
ones of this module (binlog on; a second one replicating from the first), where `SET GLOBAL`,
`PURGE BINARY LOGS` and the accounts made here touch no other test. Each check's test fails if
the check is removed: a server or user that lacks the thing passes nothing else."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
import pytest

from mysql_redshift_assets.extract.binlog.positions import FilePosition, MariaDbGtidPos
from mysql_redshift_assets.extract.binlog.preflight import (
    BinlogPreflightError,
    PreflightReport,
    preflight,
)
from mysql_redshift_assets_tests.conftest import unavailable
from mysql_redshift_assets_tests.private_mariadb import MysqlServer, start_private_mariadb

pytestmark = pytest.mark.mariadb
PASSWORD = "binlog-preflight-test-only"


@pytest.fixture(scope="module")
def primary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MysqlServer]:
    try:
        with start_private_mariadb(tmp_path_factory.mktemp("binlog-primary")) as server:
            yield server
    except (OSError, RuntimeError) as exc:
        unavailable("a private MariaDB (mariadb-install-db, mariadbd)", exc)


def _root_execute(server: MysqlServer, *statements: str) -> None:
    with server.root() as root, root.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


@contextmanager
def account(server: MysqlServer, *grants: str) -> Iterator[pymysql.connections.Connection]:
    """A fresh account on `server` with `grants` (`GRANT ... TO {account}`), connected over TCP."""
    name = f"bp_{uuid.uuid4().hex[:8]}"
    who = f"'{name}'@'127.0.0.1'"
    _root_execute(server, f"CREATE USER {who} IDENTIFIED BY '{PASSWORD}'")
    _root_execute(server, *(g.format(account=who) for g in grants))
    conn = pymysql.connect(
        host=server.host, port=server.port, user=name, password=PASSWORD, autocommit=True
    )
    try:
        yield conn
    finally:
        conn.close()
        _root_execute(server, f"DROP USER {who}")


STREAM_GRANT = "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO {account}"


@contextmanager
def global_setting(server: MysqlServer, name: str, value: str) -> Iterator[None]:
    with server.root() as root, root.cursor() as cur:
        cur.execute(f"SELECT @@GLOBAL.{name}")
        before = cur.fetchone()[0]
        cur.execute(f"SET GLOBAL {name} = %s", (value,))
    try:
        yield
    finally:
        with server.root() as root, root.cursor() as cur:
            cur.execute(f"SET GLOBAL {name} = %s", (before,))


def test_a_well_configured_mariadb_passes_and_reports_its_retention(primary: MysqlServer) -> None:
    _root_execute(primary, "SET GLOBAL binlog_expire_logs_seconds = 604800")
    try:
        with account(primary, STREAM_GRANT) as conn:
            report = preflight(conn)
    finally:
        _root_execute(primary, "SET GLOBAL binlog_expire_logs_seconds = 0")
    assert isinstance(report, PreflightReport)
    assert report.server.flavour == "mariadb"
    assert report.server.version[:2] == (10, 11)
    assert report.retention == "binlog_expire_logs_seconds = 604800 (7.0 days)"
    assert report.binlog_files and report.warnings == []


def test_binlog_off_names_log_bin(mariadb_server: None) -> None:
    from mysql_redshift_assets_tests.conftest import mysql_connect

    with mysql_connect() as conn, pytest.raises(BinlogPreflightError) as caught:
        preflight(conn)
    assert "the binary log is off" in str(caught.value)
    assert "log_bin" in str(caught.value) and "MariaDB 10.11" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("binlog_format", "MIXED", "binlog_format is MIXED"),
        ("binlog_format", "STATEMENT", "SET GLOBAL binlog_format = 'ROW'"),
        ("binlog_row_image", "MINIMAL", "SET GLOBAL binlog_row_image = 'FULL'"),
        ("binlog_row_image", "NOBLOB", "binlog_row_image is NOBLOB"),
        ("binlog_row_metadata", "MINIMAL", "SET GLOBAL binlog_row_metadata = 'FULL'"),
        ("binlog_row_metadata", "NO_LOG", "binlog_row_metadata is NO_LOG"),
    ],
)
def test_each_binlog_setting_fails_with_its_fix(
    primary: MysqlServer, name: str, value: str, message: str
) -> None:
    with account(primary, STREAM_GRANT) as conn, global_setting(primary, name, value):
        with pytest.raises(BinlogPreflightError) as caught:
            preflight(conn)
    assert message in str(caught.value)


def test_row_metadata_is_only_required_where_column_names_are_needed(primary: MysqlServer) -> None:
    with (
        account(primary, STREAM_GRANT) as conn,
        global_setting(primary, "binlog_row_metadata", "MINIMAL"),
    ):
        report = preflight(conn, need_column_names=False)
    assert report.server.flavour == "mariadb"


@pytest.mark.parametrize(
    ("grants", "missing"),
    [
        ((), ["BINLOG MONITOR", "REPLICATION SLAVE"]),
        (("GRANT REPLICATION SLAVE ON *.* TO {account}",), ["BINLOG MONITOR"]),
        (("GRANT BINLOG MONITOR ON *.* TO {account}",), ["REPLICATION SLAVE"]),
        # REPLICATION CLIENT is BINLOG MONITOR's alias on 10.5+: still no REPLICATION SLAVE.
        (("GRANT REPLICATION CLIENT ON *.* TO {account}",), ["REPLICATION SLAVE"]),
        # Table privileges do not stand in for the global ones.
        (("GRANT ALL ON `mysql`.* TO {account}",), ["BINLOG MONITOR", "REPLICATION SLAVE"]),
    ],
)
def test_missing_grants_name_the_exact_grant(
    primary: MysqlServer, grants: tuple[str, ...], missing: list[str]
) -> None:
    with account(primary, *grants) as conn, pytest.raises(BinlogPreflightError) as caught:
        preflight(conn)
    message = str(caught.value)
    user = conn.user.decode() if isinstance(conn.user, bytes) else conn.user
    assert f"run GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1'" in message
    for privilege in missing:
        assert f"lacks {privilege}" in message or f"and {privilege}" in message
    for privilege in {"BINLOG MONITOR", "REPLICATION SLAVE"} - set(missing):
        assert f"lacks {privilege}" not in message and f"and {privilege}" not in message


@pytest.mark.parametrize(
    "grants",
    [
        (STREAM_GRANT,),
        ("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO {account}",),
        ("GRANT ALL PRIVILEGES ON *.* TO {account}",),
    ],
)
def test_grants_that_suffice_pass(primary: MysqlServer, grants: tuple[str, ...]) -> None:
    with account(primary, *grants) as conn:
        assert preflight(conn).warnings == []


def test_grants_through_a_default_role_pass(primary: MysqlServer) -> None:
    role = f"bp_role_{uuid.uuid4().hex[:8]}"
    _root_execute(
        primary, f"CREATE ROLE {role}", f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO {role}"
    )
    try:
        grants = (f"GRANT {role} TO {{account}}", f"SET DEFAULT ROLE {role} FOR {{account}}")
        with account(primary, *grants) as conn:
            assert preflight(conn).warnings == []
    finally:
        _root_execute(primary, f"DROP ROLE {role}")


def _binlog_position(server: MysqlServer) -> tuple[FilePosition, MariaDbGtidPos]:
    with server.root() as root, root.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        file, offset = cur.fetchone()[:2]
        cur.execute("SELECT @@gtid_binlog_pos")
        return FilePosition(file, int(offset)), MariaDbGtidPos.parse(str(cur.fetchone()[0]))


def test_a_purged_position_needs_a_resync_and_an_old_one_warns(primary: MysqlServer) -> None:
    db = f"bp_{uuid.uuid4().hex[:8]}"
    _root_execute(primary, f"CREATE DATABASE {db}", f"CREATE TABLE {db}.t (id INT PRIMARY KEY)")
    _root_execute(primary, f"INSERT INTO {db}.t VALUES (1)")
    gone_file, gone_gtid = _binlog_position(primary)
    _root_execute(primary, f"INSERT INTO {db}.t VALUES (2)", "FLUSH BINARY LOGS")
    _root_execute(primary, f"INSERT INTO {db}.t VALUES (3)")
    old_file, old_gtid = _binlog_position(primary)
    _root_execute(primary, f"INSERT INTO {db}.t VALUES (4)", "FLUSH BINARY LOGS")
    _root_execute(primary, f"INSERT INTO {db}.t VALUES (5)")
    new_file, new_gtid = _binlog_position(primary)
    with primary.root() as root, root.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        files = [row[0] for row in cur.fetchall()]
        cur.execute("PURGE BINARY LOGS TO %s", (files[-2],))
        cur.execute(f"DROP DATABASE {db}")
    with account(primary, STREAM_GRANT) as conn:
        for gone in (gone_file, gone_gtid):
            with pytest.raises(BinlogPreflightError) as caught:
                preflight(conn, positions={f"{db}.t": gone})
            assert "has purged the binlog from the stored position" in str(caught.value)
            assert f"Run `mysql-redshift resync` for {db}.t" in str(caught.value)
        for old in (old_file, old_gtid):
            (warning,) = preflight(conn, positions={f"{db}.t": old}).warnings
            assert (
                f"{old.format()}) lies in the oldest retained binlog file ({files[-2]})" in warning
            )
        assert preflight(conn, positions={"a": new_file, "b": new_gtid}).warnings == []
        # Down to the file being written, which the server never purges: no warning.
        _root_execute(primary, f"PURGE BINARY LOGS TO '{files[-1]}'")
        assert preflight(conn, positions={"a": new_file, "b": new_gtid}).warnings == []
        with pytest.raises(BinlogPreflightError, match="has purged"):
            preflight(conn, positions={f"{db}.t": old_gtid})


def test_a_replica_without_log_slave_updates_fails(
    primary: MysqlServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A second MariaDB replicating from `primary` (log_slave_updates is OFF by default, and not
    dynamic): the changes it applies are not in its own binlog."""
    with account(primary, "GRANT REPLICATION SLAVE ON *.* TO {account}") as source_user:
        user = (
            source_user.user.decode() if isinstance(source_user.user, bytes) else source_user.user
        )
        with start_private_mariadb(tmp_path_factory.mktemp("binlog-replica")) as replica:
            with replica.root() as root, root.cursor() as cur:
                cur.execute(
                    "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, "
                    "MASTER_USER = %s, MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos",
                    (primary.port, user, PASSWORD),
                )
                cur.execute("START SLAVE")
            _wait_running(replica)
            with account(replica, STREAM_GRANT) as conn:
                with pytest.raises(BinlogPreflightError) as caught:
                    preflight(conn)
                assert "is a replica without log_slave_updates" in str(caught.value)
                assert "Start it with log_slave_updates=ON" in str(caught.value)
                # The caller may also say it reads a replica; the primary itself passes.
            with replica.root() as root, root.cursor() as cur:
                cur.execute("STOP SLAVE")
    with account(primary, STREAM_GRANT) as conn:
        with pytest.raises(BinlogPreflightError, match="replica without log_slave_updates"):
            preflight(conn, replica=True)
        assert preflight(conn).warnings == []


def _wait_running(server: MysqlServer) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with server.root() as root, root.cursor() as cur:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Slaves_running'")
            if int(cur.fetchone()[1]) > 0:
                return
        time.sleep(0.2)
    raise AssertionError("the replica did not start replicating in 30 s")
