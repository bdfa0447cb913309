"""SSH bastions through REAL OpenSSH servers (sshd on 127.0.0.1, own keys, own config).

MariaDB is reached through one bastion, PostgreSQL (the warehouse, kind `postgres`) through a
second; tunnels are shared per run, reopened once after the bastion drops, and every way a
bastion can be misconfigured is one error naming the connection, the bastion and the fix.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets.config.connections import SshSpec
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.ssh import TunnelError, TunnelPool
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.conftest import free_port, pg_query, unavailable
from mysql_redshift_assets_tests.sshd import SshServer, keygen

DB_BASTION, DW_BASTION = "db_bastion", "dw_bastion"


# -- fixtures and helpers ---------------------------------------------------------------------
@pytest.fixture
def bastion(tmp_path: Path) -> Iterator[SshServer]:
    server = SshServer.start(tmp_path / "sshd_db")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bastion_dw(tmp_path: Path) -> Iterator[SshServer]:
    server = SshServer.start(tmp_path / "sshd_dw")
    try:
        yield server
    finally:
        server.stop()


def with_ssh(project: Project, ssh: dict[str, dict[str, Any]], **uses: str) -> Project:
    """Rewrite connections.yml with `ssh:` entries; `sources__mysql=name` sets sources.mysql.ssh."""
    path = project.connections_path
    data = yaml.safe_load(path.read_text())
    data["ssh"] = ssh
    for ref, bastion in uses.items():
        group, name = ref.split("__")
        data[group][name]["ssh"] = bastion
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_project(project.root)


def wait_for(condition, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def make_orders(mysql, name: str = "orders", rows: int = 120) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {name} (id INT PRIMARY KEY, amount DECIMAL(10,2), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            f"INSERT INTO {name} VALUES (%s, %s, '2024-03-01 10:00:00')",
            [(i, f"{i}.50") for i in range(1, rows + 1)],
        )


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


# -- the whole path through two bastions ------------------------------------------------------
@pytest.mark.mariadb
@pytest.mark.postgres
def test_extract_and_load_through_two_bastions_sharing_one_tunnel_each(
    mysql, mysql_db, make_project, pg_schema, bastion, bastion_dw
):
    make_orders(mysql)
    base = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}},
        store="local", target="postgres", target_schema=pg_schema, file_rows=50,
    )  # fmt: skip
    project = with_ssh(
        base,
        {DB_BASTION: bastion.ssh_entry(), DW_BASTION: bastion_dw.ssh_entry()},
        sources__mysql=DB_BASTION,
        targets__postgres=DW_BASTION,
    )
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.orders")
    store = open_store(project, "local")
    watermarks = WatermarkStore(store)
    with TunnelPool() as pool:
        source = open_source(project, "mysql", tunnels=pool)
        assert pool.stats() == {}  # lazy: opening a client does not open its tunnel
        result = extract_table(source, store, watermarks, table, run_id="run-1")
        assert result.rows == 120 and len(result.files) == 3
        # A second client for the same source shares the tunnel (one SSH login, one tunnel).
        other = open_source(project, "mysql", tunnels=pool)
        assert other.query_one(f"SELECT COUNT(*) FROM {mysql_db}.orders")[0] in (b"120", "120", 120)
        source.close()
        other.close()

        warehouse = open_warehouse(project, "postgres", tunnels=pool)
        loaded, _ = load_table(warehouse, store, watermarks, table, run_id="run-1")
        warehouse.close()
        assert loaded.rows_loaded == 120 and loaded.table_rows == 120
        assert pg_query(f'SELECT SUM(amount) FROM "{pg_schema}"."orders"')[0][0] == Decimal("7320")

        stats = pool.stats()
        assert set(stats) == {f"{DB_BASTION}->127.0.0.1:3306", f"{DW_BASTION}->127.0.0.1:5432"}
        assert all(s["opens"] == 1 and s["reopens"] == 0 and s["alive"] for s in stats.values())
        local_ports = [s["endpoint"][1] for s in stats.values()]
    # Each database was reached through its own bastion, and each bastion saw one login.
    assert bastion.accepted_logins() == 1 and bastion_dw.accepted_logins() == 1
    assert "target 127.0.0.1 port 3306" in bastion.log_text()
    assert "port 5432" not in bastion.log_text()
    assert "target 127.0.0.1 port 5432" in bastion_dw.log_text()
    # close_all() closed the SSH connections and the local ports.
    wait_for(lambda: not bastion.sessions() and not bastion_dw.sessions(), "sessions to end")
    assert all(refused(port) for port in local_ports)


@pytest.mark.mariadb
@pytest.mark.postgres
def test_dagster_run_opens_one_tunnel_per_bastion_and_closes_it(
    mysql, mysql_db, make_project, pg_schema, bastion, bastion_dw
):
    make_orders(mysql, "orders")
    make_orders(mysql, "refunds", rows=30)
    base = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}, f"{mysql_db}.refunds": {"append_only": True}},
        store="local", target="postgres", target_schema=pg_schema,
    )  # fmt: skip
    project = with_ssh(
        base,
        {DB_BASTION: bastion.ssh_entry(), DW_BASTION: bastion_dw.ssh_entry()},
        sources__mysql=DB_BASTION,
        targets__postgres=DW_BASTION,
    )
    job = build_definitions(project).resolve_job_def("sync_testpipe")
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(instance=instance)
    assert result.success
    counts = {
        "/".join(e.materialization.asset_key.path): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert counts[f"{pg_schema}/orders"]["table_rows"].value == 120
    assert counts[f"{pg_schema}/refunds"]["table_rows"].value == 30
    # Four assets, two tables: one SSH login per bastion for the whole run ...
    assert bastion.accepted_logins() == 1 and bastion_dw.accepted_logins() == 1
    # ... and the resource's teardown closed both at the end of the run.
    wait_for(lambda: not bastion.sessions() and not bastion_dw.sessions(), "sessions to end")
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("tunnel to 127.0.0.1:3306 open on" in m for m in messages)
    assert sum("tunnel closed" in m for m in messages) == 2


# -- a bastion that drops mid-run -------------------------------------------------------------
@pytest.mark.mariadb
def test_tunnel_killed_mid_run_is_reopened_once(mysql, mysql_db, make_project, bastion, caplog):
    caplog.set_level(logging.INFO, logger="mysql_redshift_assets")
    make_orders(mysql, "orders")
    make_orders(mysql, "refunds", rows=30)
    base = make_project(
        {
            f"{mysql_db}.orders": {"cursor": "updated_at"},
            f"{mysql_db}.refunds": {"append_only": True},
        },
        store="local",
    )
    project = with_ssh(base, {DB_BASTION: bastion.ssh_entry()}, sources__mysql=DB_BASTION)
    key = f"{DB_BASTION}->127.0.0.1:3306"
    store = open_store(project, "local")
    pipeline = project.pipeline("testpipe")
    with TunnelPool() as pool:
        source = open_source(project, "mysql", tunnels=pool)
        first = extract_table(
            source, store, WatermarkStore(store), table_config(pipeline, f"{mysql_db}.orders"),
            run_id="run-1",
        )  # fmt: skip
        assert first.rows == 120
        before = pool.stats()[key]["endpoint"]

        # The bastion goes away (listener and live sessions killed), then comes back.
        bastion.stop(drop_sessions=True)
        wait_for(lambda: not pool.stats()[key]["alive"], "the client to notice the drop")
        bastion.start_again()

        # The same source object's next query reconnects through the reopened tunnel ...
        assert source.query_one(f"SELECT COUNT(*) FROM {mysql_db}.refunds")[0] in (b"30", "30", 30)
        # ... and the next table of the run extracts through it.
        second = extract_table(
            source, store, WatermarkStore(store), table_config(pipeline, f"{mysql_db}.refunds"),
            run_id="run-1",
        )  # fmt: skip
        assert second.rows == 30
        stats = pool.stats()[key]
        assert (stats["opens"], stats["reopens"], stats["alive"]) == (2, 1, True)
        assert stats["endpoint"] != before and refused(before[1])
        assert "dropped; reopening it once" in caplog.text
        assert bastion.accepted_logins() == 2

        # Down for good: the one reopen attempt fails with a clear error, no endless retry.
        source.close()
        bastion.stop(drop_sessions=True)
        wait_for(lambda: not pool.stats()[key]["alive"], "the client to notice the drop")
        with pytest.raises(TunnelError) as err:
            source.query_one("SELECT 1")
        message = str(err.value)
        assert "tunnel to 127.0.0.1:3306 dropped and reopening it failed" in message
        assert f"sources.mysql via SSH bastion '{DB_BASTION}'" in message
        assert f"cannot reach the bastion at 127.0.0.1:{bastion.port}" in message


# -- every misconfiguration: one clear error --------------------------------------------------
def _failing_project(make_project, bastion: SshServer, tmp_path: Path, case: str) -> Project:
    base = make_project(
        {"shop.orders": {"append_only": True}}, store="local"
    )  # nothing here needs MariaDB
    entry = bastion.ssh_entry()
    if case == "wrong_key":
        entry["private_key"] = str(keygen(tmp_path / "stranger_key"))
    elif case == "unknown_host_key":
        (tmp_path / "empty_known_hosts").write_text("")
        entry["known_hosts"] = str(tmp_path / "empty_known_hosts")
    elif case == "changed_host_key":
        impostor = keygen(tmp_path / "impostor_host_key").with_suffix(".pub").read_text().split()
        (tmp_path / "old_known_hosts").write_text(
            f"[127.0.0.1]:{bastion.port} {impostor[0]} {impostor[1]}\n"
        )
        entry["known_hosts"] = str(tmp_path / "old_known_hosts")
    elif case == "no_known_hosts_file":
        entry["known_hosts"] = str(tmp_path / "nowhere" / "known_hosts")
    elif case == "key_readable_by_others":
        loose = tmp_path / "loose_key"
        shutil.copy(bastion.user_key, loose)
        loose.chmod(0o644)
        entry["private_key"] = str(loose)
    elif case == "unreachable":
        entry["port"] = free_port()  # nothing listens there
        entry["connect_timeout_seconds"] = 5
    else:
        raise AssertionError(case)
    return with_ssh(base, {DB_BASTION: entry}, sources__mysql=DB_BASTION)


CASES = {
    "wrong_key": [
        "the bastion rejected the key",
        "add the public key to ~{user}/.ssh/authorized_keys on the bastion",
    ],
    "unknown_host_key": [
        "the bastion's host key (ssh-ed25519 SHA256:",
        "is not in known_hosts",
        "ssh-keyscan -p {port} 127.0.0.1 >> ",
    ],
    "changed_host_key": ["HOST KEY MISMATCH", "ssh-keygen -R '[127.0.0.1]:{port}' -f "],
    "no_known_hosts_file": ["cannot be checked: there is no file", "ssh-keyscan -p {port}"],
    "key_readable_by_others": ["accessible to other users (mode 0644)", "Fix: chmod 600 {key}"],
    "unreachable": ["cannot reach the bastion at 127.0.0.1:{bad_port} (Connection refused)"],
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_bastion_problem_is_one_clear_error(case, make_project, bastion, tmp_path):
    project = _failing_project(make_project, bastion, tmp_path, case)
    ssh = project.connections.ssh[DB_BASTION]
    source = open_source(project, "mysql", tunnels=TunnelPool())
    with pytest.raises(TunnelError) as err:
        source.query_one("SELECT 1")
    message = str(err.value)
    assert message.startswith(f"{project.connections_path}: sources.mysql via SSH bastion ")
    assert f"'{DB_BASTION}' ({bastion.user}@127.0.0.1:{ssh.port})" in message
    for expected in CASES[case]:
        assert (
            expected.format(
                user=bastion.user, port=bastion.port, key=ssh.private_key, bad_port=ssh.port
            )
            in message
        ), message
    if case == "key_readable_by_others":  # refused before connecting: only sshd's start probe
        assert bastion.log_text().count("Connection from") == 1
    if case != "unreachable":
        assert bastion.accepted_logins() == 0
    assert err.value.__cause__ is None  # no paramiko exception chained under it


@pytest.mark.postgres
def test_a_warehouse_bastion_problem_names_the_target(make_project, bastion, tmp_path):
    base = make_project({"shop.orders": {"append_only": True}}, store="local", target="postgres")
    entry = bastion.ssh_entry(private_key=str(keygen(tmp_path / "stranger_key")))
    project = with_ssh(base, {DW_BASTION: entry}, targets__postgres=DW_BASTION)
    warehouse = open_warehouse(project, "postgres", tunnels=TunnelPool())
    with pytest.raises(
        TunnelError, match=r"targets\.postgres via SSH bastion 'dw_bastion'.*rejected"
    ):
        warehouse.fetchall("SELECT 1")


def test_missing_variable_in_a_bastion_entry_names_connection_and_variable(
    make_project, bastion, monkeypatch
):
    monkeypatch.delenv("MRA_TEST_NO_SUCH_USER", raising=False)
    base = make_project({"shop.orders": {"append_only": True}}, store="local")
    project = with_ssh(
        base, {DB_BASTION: bastion.ssh_entry(user="${MRA_TEST_NO_SUCH_USER}")},
        sources__mysql=DB_BASTION,
    )  # fmt: skip
    with pytest.raises(ConfigError) as err:
        open_source(project, "mysql")  # at open, not at the first query, not at load
    assert str(err.value) == (
        f"{project.connections_path}: ssh.{DB_BASTION} (used by sources.mysql).user: "
        "environment variable MRA_TEST_NO_SUCH_USER is not set"
    )


# -- host key opt-out, encrypted keys, ssh-agent ----------------------------------------------
def _through(pool: TunnelPool, spec: SshSpec, bastion: SshServer) -> bytes:
    """Forward to the bastion's own sshd port and read its banner: proves the tunnel carries."""
    host, port = pool.local_endpoint("b", spec, "127.0.0.1", bastion.port, connection="test")
    with socket.create_connection((host, port), timeout=5) as s:
        return s.recv(7)


def test_verify_host_key_false_connects_and_warns(bastion, tmp_path, caplog):
    spec = SshSpec(**bastion.ssh_entry(known_hosts=str(tmp_path / "none"), verify_host_key=False))
    with TunnelPool() as pool, caplog.at_level(logging.WARNING, logger="mysql_redshift_assets"):
        assert _through(pool, spec, bastion) == b"SSH-2.0"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("host key NOT verified (verify_host_key: false)" in r.getMessage() for r in warnings)
    assert any(f"SSH bastion 'b' ({bastion.user}@127.0.0.1:" in r.getMessage() for r in warnings)


def test_an_encrypted_key_needs_its_passphrase(bastion, tmp_path):
    key = keygen(tmp_path / "locked_key", passphrase="correct horse battery")
    (bastion.folder / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    spec = SshSpec(**bastion.ssh_entry(private_key=str(key)))
    with pytest.raises(TunnelError, match="is encrypted and no passphrase is configured"):
        TunnelPool().local_endpoint("b", spec, "127.0.0.1", 22, connection="test")
    wrong = SshSpec(**bastion.ssh_entry(private_key=str(key)), private_key_passphrase="nope-123")
    with pytest.raises(TunnelError, match="cannot load private key") as err:
        TunnelPool().local_endpoint("b", wrong, "127.0.0.1", 22, connection="test")
    assert "nope-123" not in str(err.value)
    right = SshSpec(
        **bastion.ssh_entry(private_key=str(key)), private_key_passphrase="correct horse battery"
    )
    with TunnelPool() as pool:
        assert _through(pool, right, bastion) == b"SSH-2.0"


def test_without_private_key_the_ssh_agent_is_used(bastion, tmp_path, monkeypatch):
    if not shutil.which("ssh-agent") or not shutil.which("ssh-add"):
        unavailable("ssh-agent", FileNotFoundError("ssh-agent"))
    spec = SshSpec(**bastion.ssh_entry(private_key=None))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(TunnelError, match="no private_key is configured and SSH_AUTH_SOCK is not"):
        TunnelPool().local_endpoint("b", spec, "127.0.0.1", 22, connection="test")
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for(sock.exists, "ssh-agent's socket")
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(bastion.user_key)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        with TunnelPool() as pool:
            assert _through(pool, spec, bastion) == b"SSH-2.0"
    finally:
        agent.terminate()
        agent.wait(timeout=10)


def test_hashed_known_hosts_with_only_the_rsa_key_is_honoured(bastion, tmp_path):
    # The bastion offers ed25519 and rsa host keys; known_hosts holds only the rsa one, with a
    # hashed host name (ssh-keygen -H). As OpenSSH does, the client asks for the known type.
    rsa = keygen(bastion.folder / "host_rsa", kind="rsa")
    bastion.stop()
    with bastion.config.open("a") as config:
        config.write(f"HostKey {rsa}\n")
    bastion.start_again()
    kind, blob = rsa.with_suffix(".pub").read_text().split()[:2]
    known = tmp_path / "known_hosts_rsa"
    known.write_text(f"[127.0.0.1]:{bastion.port} {kind} {blob}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True)
    assert "127.0.0.1" not in known.read_text()
    spec = SshSpec(**bastion.ssh_entry(known_hosts=str(known)))
    with TunnelPool() as pool:
        assert _through(pool, spec, bastion) == b"SSH-2.0"
