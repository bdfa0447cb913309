"""No hangs: a host that accepts TCP and never answers fails within the configured timeout,
and the error names the connection and the step (issue 18).

The silent listener is a real socket on 127.0.0.1 that accepts connections and never writes:
a stuck proxy, a full bastion, a frozen server. The subprocess timeouts below only stop a
hang from blocking the suite; the assertions are on the errors.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.extract.source import MySQLSource, SourceError
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.ssh import TunnelPool
from mysql_redshift_assets_tests.conftest import MYSQL_HOST, MYSQL_PORT, TEST_PASSWORD, TEST_USER


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port whose server accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def _project(root: Path, port: int, **source: object) -> Path:
    root.mkdir()
    connections = {
        "sources": {
            "stuck_db": {"kind": "mysql", "host": "127.0.0.1", "port": port, "user": "etl",
                         "connect_timeout_seconds": 1, **source},
        },
        "stores": {"local": {"kind": "local", "path": str(root / "store")}},
        "targets": {"wh": {"kind": "duckdb", "path": str(root / "wh.duckdb")}},
    }  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = {"source": "stuck_db", "store": "local", "target": "wh",
                "tables": {"shop.orders": {"cursor": "updated_at"}}}  # fmt: skip
    (root / "shop.yml").write_text(yaml.safe_dump(pipeline))
    return root


def _cli(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYSQL_REDSHIFT_PIPELINES_DIR": str(root), "DAGSTER_HOME": str(home)}
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", *args],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_silent_mysql_fails_the_handshake_naming_source_and_step(silent_port: int) -> None:
    source = MySQLSource("stuck_db", host="127.0.0.1", port=silent_port, user="etl", password="",
                         connect_timeout=1)  # fmt: skip
    with pytest.raises(SourceError) as err:
        source.query_one("SELECT 1")
    message = str(err.value)
    assert f"source 'stuck_db': MySQL at 127.0.0.1:{silent_port} did not answer" in message
    assert "handshake" in message and "within 1 s (connect_timeout_seconds" in message


@pytest.mark.mariadb
def test_a_query_that_stays_silent_past_read_timeout_names_the_step(mariadb_server: None) -> None:
    source = MySQLSource("slow_db", host=MYSQL_HOST, port=MYSQL_PORT, user=TEST_USER,
                         password=TEST_PASSWORD, read_timeout=1)  # fmt: skip
    try:
        assert source.query_one("SELECT 1") is not None
        with pytest.raises(SourceError) as err:
            source.query_one("SELECT SLEEP(5)")
    finally:
        source.close()
    assert "source 'slow_db'" in str(err.value)
    assert "sent nothing for 1 s while running a query (read_timeout_seconds" in str(err.value)


@pytest.mark.mariadb
def test_mysql_sessions_have_the_configured_tcp_keepalive(
    mariadb_server: None, tmp_path: Path
) -> None:
    """Issue 24 item 2: a flow dropped while the source idles is seen in minutes, not 2 h."""
    root = _project(tmp_path / "pipelines", MYSQL_PORT, host=MYSQL_HOST, user=TEST_USER,
                    password=TEST_PASSWORD, keepalive_idle_seconds=41,
                    keepalive_interval_seconds=7, keepalive_count=3)  # fmt: skip
    source = open_source(load_project(root), "stuck_db")
    assert isinstance(source, MySQLSource)
    session = source.open_session()
    try:
        for conn in (source._connection(), session):
            sock = conn._sock
            assert sock is not None
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 41
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 7
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
    finally:
        session.close()
        source.close()


def test_status_and_sync_fail_on_a_silent_mysql(silent_port: int, tmp_path: Path) -> None:
    root = _project(tmp_path / "pipelines", silent_port)
    status = _cli(root, tmp_path / "home", "status")
    assert status.returncode == 1, status.stdout + status.stderr
    assert "FAIL" in status.stdout and "stuck_db" in status.stdout
    assert "did not answer the handshake (greeting, login) within 1 s" in status.stdout

    sync = _cli(root, tmp_path / "home", "sync", "-p", "shop")
    assert sync.returncode == 1, sync.stdout + sync.stderr
    assert "source 'stuck_db'" in sync.stderr and "handshake" in sync.stderr


def test_a_dagster_run_fails_on_a_silent_mysql(silent_port: int, tmp_path: Path) -> None:
    project = load_project(_project(tmp_path / "pipelines", silent_port))
    defs = build_definitions(project)
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={asset_key(table_configs(project.pipeline("shop"))[0], "parquet")},
        asset_check_selection=set(),
    )
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failures = [_chain(e.step_failure_data.error) for e in result.all_events
                if e.event_type_value == "STEP_FAILURE"]  # fmt: skip
    assert any("source 'stuck_db'" in m and "handshake" in m for m in failures), failures


def _chain(error: object) -> str:
    messages = []
    while error is not None:
        messages.append(str(getattr(error, "message", "")))
        error = getattr(error, "cause", None)
    return "\n".join(messages)


def test_a_silent_bastion_fails_the_ssh_handshake(silent_port: int, tmp_path: Path) -> None:
    root = _project(tmp_path / "pipelines", 3306, ssh="jump")
    connections = yaml.safe_load((root / "connections.yml").read_text())
    connections["ssh"] = {"jump": {"host": "127.0.0.1", "port": silent_port, "user": "etl",
                                   "connect_timeout_seconds": 1}}  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    source = open_source(load_project(root), "stuck_db", tunnels=TunnelPool())
    with pytest.raises(Exception) as err:
        source.query_one("SELECT 1")
    assert "jump" in str(err.value) and f"127.0.0.1:{silent_port}" in str(err.value)


@pytest.mark.s3
def test_a_silent_s3_endpoint_fails_within_the_timeouts(silent_port: int, tmp_path: Path) -> None:
    root = _project(tmp_path / "pipelines", 3306)
    connections = yaml.safe_load((root / "connections.yml").read_text())
    connections["stores"]["stuck_s3"] = {
        "kind": "s3", "bucket": "b", "region": "us-east-1",
        "endpoint_url": f"http://127.0.0.1:{silent_port}", "aws_access_key_id": "x",
        "aws_secret_access_key": "y", "connect_timeout_seconds": 1, "read_timeout_seconds": 1,
    }  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    store = open_store(load_project(root), "stuck_s3")
    with pytest.raises(OSError) as err:
        store.check()
    assert "S3 store s3://b: no answer to HeadBucket within 1 s (connect) / 1 s (read)" in str(
        err.value
    )


def test_status_fails_on_a_silent_postgres_target(silent_port: int, tmp_path: Path) -> None:
    """The warehouse's connect is bounded too (10 s, the driver's own timeout)."""
    root = _project(tmp_path / "pipelines", 3306)
    connections = yaml.safe_load((root / "connections.yml").read_text())
    connections["targets"]["wh"] = {"kind": "postgres", "host": "127.0.0.1",
                                    "port": silent_port, "database": "d", "user": "u"}  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    status = _cli(root, tmp_path / "home", "status")
    assert status.returncode == 1
    target = next(line for line in status.stdout.splitlines() if " target " in line)
    assert target.split()[:3] == ["FAIL", "target", "wh"] and "timeout" in target, status.stdout
