"""Secrets never leave: a full pipeline through two SSH bastions with recognisable secrets.

Every secret is a canary (`S3cr3t-canary-<random>`) reaching the config only through an
environment variable, as in production: the MariaDB password of a user created for this test,
the passphrase of the bastion key, a fake AWS secret for the S3 store (moto accepts any), a
PostgreSQL password. None may appear in Python logs (DEBUG, every library), the Dagster event log
and materialization metadata, the stored run, exception texts of the failure cases, the CLI's
output, or repr()/str() of config models and clients.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pymysql
import pytest
import yaml

from mysql_redshift_assets.config.env import resolve_env
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.resources import ConnectionsResource
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.extract.source import SourceError
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.ssh import TunnelError, TunnelPool
from mysql_redshift_assets_tests.conftest import (
    MARIADB_SOCKET,
    PG_DB,
    PG_HOST,
    PG_PORT,
    PG_USER,
    unavailable,
)
from mysql_redshift_assets_tests.sshd import SshServer, keygen

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres, pytest.mark.s3]

PIPELINE = "secretpipe"


def _canary() -> str:
    return f"S3cr3t-canary-{uuid.uuid4().hex}"


@dataclass
class Setup:
    project: Project
    secrets: dict[str, str]  # env var -> canary value
    table: str
    env: dict[str, str]

    def assert_clean(self, text: str, where: str) -> None:
        for var, value in self.secrets.items():
            assert value not in text, f"the secret of {var} leaked into {where}"


@pytest.fixture
def bastions(tmp_path: Path) -> Iterator[tuple[SshServer, SshServer]]:
    db = SshServer.start(tmp_path / "sshd_db")
    try:
        dw = SshServer.start(tmp_path / "sshd_dw")
        try:
            yield db, dw
        finally:
            dw.stop()
    finally:
        db.stop()


@pytest.fixture
def setup(
    mysql, mysql_db, pg_server, pg_schema, s3_endpoint, s3_bucket, bastions, tmp_path, monkeypatch
) -> Iterator[Setup]:
    db_bastion, dw_bastion = bastions
    secrets = {
        "MRA_CANARY_MYSQL_PASSWORD": _canary(),
        "MRA_CANARY_SSH_PASSPHRASE": _canary(),
        "MRA_CANARY_AWS_SECRET": _canary(),
        "MRA_CANARY_PG_PASSWORD": _canary(),
    }
    for var, value in secrets.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("MRA_CANARY_AWS_KEY_ID", "AKIAMRATESTCANARY")

    # The db bastion's key is encrypted with the canary passphrase.
    key = keygen(tmp_path / "db_key", passphrase=secrets["MRA_CANARY_SSH_PASSPHRASE"])
    (db_bastion.folder / "authorized_keys").write_text(key.with_suffix(".pub").read_text())

    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(40), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, '2024-06-01 08:00:00')",
            [(i, f"row {i}") for i in range(1, 201)],
        )
    user = f"mra_canary_{uuid.uuid4().hex[:8]}"
    try:
        root = pymysql.connect(unix_socket=MARIADB_SOCKET, user="root", autocommit=True)
    except pymysql.err.MySQLError as exc:
        unavailable(f"MariaDB root socket {MARIADB_SOCKET} (to create the canary user)", exc)
    grant_db = mysql_db.replace("_", "\\_")
    with root.cursor() as cur:
        for host in ("127.0.0.1", "localhost"):
            cur.execute(
                f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s",
                (secrets["MRA_CANARY_MYSQL_PASSWORD"],),
            )
            cur.execute(f"GRANT SELECT, SHOW VIEW ON `{grant_db}`.* TO '{user}'@'{host}'")

    root_dir = tmp_path / "pipelines"
    root_dir.mkdir()
    connections = {
        "ssh": {
            "db_bastion": db_bastion.ssh_entry(
                private_key=str(key), private_key_passphrase="${MRA_CANARY_SSH_PASSPHRASE}"
            ),
            "dw_bastion": dw_bastion.ssh_entry(),
        },
        "sources": {
            "mysql": {
                "kind": "mysql", "host": "127.0.0.1", "port": 3306, "user": user,
                "password": "${MRA_CANARY_MYSQL_PASSWORD}", "ssh": "db_bastion",
            }
        },
        "stores": {
            "s3": {
                "kind": "s3", "bucket": s3_bucket, "prefix": "backup", "region": "us-east-1",
                "endpoint_url": s3_endpoint, "aws_access_key_id": "${MRA_CANARY_AWS_KEY_ID}",
                "aws_secret_access_key": "${MRA_CANARY_AWS_SECRET}",
            }
        },
        "targets": {
            "postgres": {
                "kind": "postgres", "host": PG_HOST, "port": PG_PORT, "database": PG_DB,
                "user": PG_USER, "password": "${MRA_CANARY_PG_PASSWORD}", "ssh": "dw_bastion",
            }
        },
    }  # fmt: skip
    (root_dir / "connections.yml").write_text(yaml.safe_dump(connections, sort_keys=False))
    table = f"{mysql_db}.orders"
    pipeline = {
        "source": "mysql", "store": "s3", "target": "postgres", "target_schema": pg_schema,
        "file_rows": 80, "tables": {table: {"cursor": "updated_at"}},
    }  # fmt: skip
    (root_dir / f"{PIPELINE}.yml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(root_dir),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    try:
        yield Setup(load_project(root_dir), secrets, table, env)
    finally:
        with root.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        root.close()


def _event_log_text(instance: dg.DagsterInstance, run_id: str) -> str:
    parts = [dg.serialize_value(entry) for entry in instance.all_logs(run_id)]
    parts.append(dg.serialize_value(instance.get_run_by_id(run_id)))
    return "\n".join(parts)


def _log_text(caplog: pytest.LogCaptureFixture) -> str:
    lines = [caplog.text]
    for record in caplog.records:
        lines.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            lines += traceback.format_exception(record.exc_info[1])
    return "\n".join(lines)


def _exception_text(exc: BaseException) -> str:
    return "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])


def test_full_pipeline_leaks_no_secret(setup: Setup, caplog):
    caplog.set_level(logging.DEBUG)  # every library, every level: paramiko, boto, dagster, ours
    instance = dg.DagsterInstance.ephemeral()
    job = build_definitions(setup.project).resolve_job_def(f"sync_{PIPELINE}")
    result = job.execute_in_process(instance=instance)
    assert result.success
    metadata = {
        "/".join(e.materialization.asset_key.path): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    base = f"{PIPELINE}/{setup.table.replace('.', '/')}"
    assert metadata[base]["rows"].value == 200
    target = asset_key(table_config(setup.project.pipeline(PIPELINE), setup.table), "redshift")
    assert metadata["/".join(target.path)]["table_rows"].value == 200

    events = _event_log_text(instance, result.run_id)
    assert "tunnel to 127.0.0.1:3306 open on" in events  # it did go through the bastions
    assert "tunnel to 127.0.0.1:5432 open on" in events
    setup.assert_clean(events, "the Dagster event log / run record")
    setup.assert_clean(dg.serialize_value(metadata), "materialization metadata")
    logs = _log_text(caplog)
    assert "Authentication (publickey) successful" in logs  # paramiko's DEBUG was captured
    setup.assert_clean(logs, "Python logs")


def test_failures_leak_no_secret(setup: Setup, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    project = setup.project
    texts: list[str] = []

    # A wrong MySQL password (itself a secret): the source's error, and a failed Dagster run.
    wrong_password = _canary()
    setup.secrets["MRA_CANARY_WRONG_PASSWORD"] = wrong_password
    monkeypatch.setenv("MRA_CANARY_MYSQL_PASSWORD", wrong_password)
    with TunnelPool() as pool:
        with pytest.raises(SourceError, match="Access denied") as err:
            open_source(project, "mysql", tunnels=pool).query_one("SELECT 1")
        texts.append(_exception_text(err.value))
    instance = dg.DagsterInstance.ephemeral()
    job = build_definitions(project).resolve_job_def(f"sync_{PIPELINE}")
    failed = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not failed.success
    events = _event_log_text(instance, failed.run_id)
    assert "Access denied" in events
    texts.append(events)
    monkeypatch.setenv("MRA_CANARY_MYSQL_PASSWORD", setup.secrets["MRA_CANARY_MYSQL_PASSWORD"])

    # A wrong key passphrase (a secret too).
    wrong_passphrase = _canary()
    setup.secrets["MRA_CANARY_WRONG_PASSPHRASE"] = wrong_passphrase
    monkeypatch.setenv("MRA_CANARY_SSH_PASSPHRASE", wrong_passphrase)
    with pytest.raises(TunnelError, match="cannot load private key") as err:
        open_source(project, "mysql", tunnels=TunnelPool()).query_one("SELECT 1")
    texts.append(_exception_text(err.value))
    monkeypatch.setenv("MRA_CANARY_SSH_PASSPHRASE", setup.secrets["MRA_CANARY_SSH_PASSPHRASE"])

    # A missing variable: names the connection and the variable, shows no other value.
    monkeypatch.delenv("MRA_CANARY_PG_PASSWORD")
    with pytest.raises(ConfigError, match="targets.postgres.password: environment variable MRA_CANARY_PG_PASSWORD is not set") as err:  # fmt: skip
        open_warehouse(project, "postgres")
    texts.append(_exception_text(err.value))

    for i, text in enumerate(texts):
        setup.assert_clean(text, f"failure text #{i}")
    setup.assert_clean(_log_text(caplog), "Python logs of the failures")


def test_config_and_clients_do_not_show_secrets(setup: Setup):
    project = setup.project
    path = project.connections_path
    objects: list[object] = [project.connections]
    for group in ("sources", "stores", "targets", "ssh"):
        for name, spec in getattr(project.connections, group).items():
            resolved = resolve_env(spec, where=f"{path}: {group}.{name}")
            objects += [spec, resolved]
            if group != "ssh" and hasattr(resolved, "password"):
                # the resolved model does hold the real value, only behind get_secret_value()
                assert resolved.password.get_secret_value() in setup.secrets.values()
    resource = ConnectionsResource(pipelines_dir=str(project.root))
    with TunnelPool() as pool:
        source = open_source(project, "mysql", tunnels=pool)
        source.query_one("SELECT 1")
        warehouse = open_warehouse(project, "postgres", tunnels=pool)
        warehouse.fetchall("SELECT 1")
        objects += [source, open_store(project, "s3"), warehouse, pool, resource]
        for obj in objects:
            setup.assert_clean(repr(obj), f"repr({type(obj).__name__})")
            setup.assert_clean(str(obj), f"str({type(obj).__name__})")
        source.close()
        warehouse.close()


@pytest.mark.slow
def test_cli_output_shows_no_secret(setup: Setup):
    def cli(*args: str, code: int = 0) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "mysql_redshift_assets", *args],
            env=setup.env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        out = done.stdout + done.stderr
        assert done.returncode == code, f"{args}: exit {done.returncode}\n{out[-3000:]}"
        return out

    outputs = [cli("status", "-p", PIPELINE), cli("--json", "status", "-p", PIPELINE)]
    assert outputs[0].count("ok  ") == 3
    outputs.append(cli("sync", "-p", PIPELINE, "-t", setup.table))
    outputs.append(cli("validate", "-p", PIPELINE, "-t", setup.table))
    wrong = _canary()
    setup.secrets["MRA_CANARY_WRONG_PASSWORD"] = wrong
    setup.env["MRA_CANARY_MYSQL_PASSWORD"] = wrong
    failing = cli("status", "-p", PIPELINE, code=1)
    assert "FAIL source" in failing and "Access denied" in failing
    outputs.append(failing)
    for i, out in enumerate(outputs):
        setup.assert_clean(out, f"CLI output #{i}")
