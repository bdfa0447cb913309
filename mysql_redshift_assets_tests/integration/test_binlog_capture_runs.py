"""`capture: binlog` across runs: one binlog stream per source per Dagster run (the CLI's
`sync -p`), a pipeline mixing binlog and cursor tables, a sync SIGKILLed while it writes change
files, and the stream's connection killed mid-read; each ends in a row-by-row comparison of
MySQL and the warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.sync import binlog
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.test_ssh_tunnel import with_ssh
from mysql_redshift_assets_tests.sshd import SshServer

pytestmark = pytest.mark.mariadb

CHILD = Path(__file__).with_name("_binlog_crash_child.py")
COLUMNS, KEY = ["id", "amount", "note", "updated_at"], ["id"]
TABLE = (
    "CREATE TABLE {name} (id INT PRIMARY KEY, amount DECIMAL(12,4), note TEXT, "
    "updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))"
)


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # an ephemeral instance a test


def _table(mysql, name: str, rows: int, note: str = "zoë 😀") -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE.format(name=name))
        cur.executemany(
            f"INSERT INTO {name} (id, amount, note) VALUES (%s, %s, %s)",
            [(i, f"{i}.5", f"{note} {i}") for i in range(1, rows + 1)],
        )
    mysql.commit()


def _change(session, name: str, base: int) -> None:
    with session.cursor() as cur:
        cur.execute(f"UPDATE {name} SET amount = amount + 1 WHERE id <= 5")
        cur.execute(f"DELETE FROM {name} WHERE id IN (6, 7)")
        cur.execute(f"UPDATE {name} SET id = {base} WHERE id = 8")  # a key change
        cur.execute(f"INSERT INTO {name} (id, amount, note) VALUES ({base + 1}, 0.0001, 'new')")
    session.commit()


def _pipeline(request: Any, target: str) -> dict[str, Any]:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return {"target": target, "target_schema": schema, "store": "local", "file_rows": 20,
            "upper_bound_lag_seconds": 0, "chunk_rows": 7}  # fmt: skip


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_one_stream_for_every_binlog_table_of_a_run(
    mysql, mysql_db, mysql_sessions, make_project, request, monkeypatch, target
):
    names = ["a", "b", "c", "m"]  # three binlog tables and a cursor table, one source
    for name in names:
        _table(mysql, name, 30)
    specs = {f"{mysql_db}.{n}": {"capture": "binlog"} for n in names[:3]}
    specs[f"{mysql_db}.m"] = {"cursor": "updated_at"}
    project = make_project(specs, **_pipeline(request, target))
    syncs = [Sync(project, table_config(project.pipeline("testpipe"), t)) for t in specs]
    streams: list[set[tuple[str, str]]] = []
    real_read = binlog.read_transactions

    def read_transactions(connection, start, tables, *args, **kwargs):
        streams.append(set(tables))
        return real_read(connection, start, tables, *args, **kwargs)

    monkeypatch.setattr(binlog, "read_transactions", read_transactions)
    cli = ["--pipelines-dir", str(project.root), "sync", "-p", "testpipe"]

    assert main(cli) == 0  # the initial copies: no stream
    assert streams == []
    for sync in syncs:
        assert_same_rows(mysql, sync, COLUMNS, KEY)
    # binlog tables: writers in any zone; the cursor table's DATETIME: written in its zone (UTC)
    app, other, utc = mysql_sessions("+05:30"), mysql_sessions("-08:00"), mysql_sessions()
    writers = [app, other, app, utc]
    for i, name in enumerate(names):
        _change(writers[i], name, 100 + i)
    assert main(cli) == 0  # the changes: one stream for the three binlog tables
    assert streams == [{(mysql_db, n) for n in names[:3]}]
    for sync in syncs:
        assert_same_rows(mysql, sync, COLUMNS, KEY)
    for i, name in enumerate(names):
        _change([other, app, utc, utc][i], name, 200 + i)
    assert main(cli) == 0
    assert len(streams) == 2
    for sync in syncs:
        assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.fixture
def bastion(tmp_path: Path) -> Iterator[SshServer]:
    server = SshServer.start(tmp_path / "sshd_db")
    try:
        yield server
    finally:
        server.stop()


def test_the_stream_goes_through_the_sources_ssh_bastion(
    mysql, mysql_db, mysql_sessions, make_project, monkeypatch, bastion, private_mariadb
):
    _table(mysql, "t", 30)
    base = make_project({f"{mysql_db}.t": {"capture": "binlog"}}, **_pipeline(None, "duckdb"))
    project = with_ssh(base, {"db_bastion": bastion.ssh_entry()}, sources__mysql="db_bastion")
    sync = Sync(project, table_config(project.pipeline("testpipe"), f"{mysql_db}.t"))
    ports: list[int] = []
    real_read = binlog.read_transactions

    def read_transactions(connection, *args, **kwargs):
        ports.append(connection["port"])
        return real_read(connection, *args, **kwargs)

    monkeypatch.setattr(binlog, "read_transactions", read_transactions)
    sync.run("copy")
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    _change(mysql_sessions("+05:30"), "t", 100)
    streamed, _ = sync.run("changes")
    assert streamed.rows > 0 and len(ports) == 1
    assert ports[0] != private_mariadb.port  # the tunnel's local end, not the server
    assert f"target 127.0.0.1 port {private_mariadb.port}" in bastion.log_text()
    assert_same_rows(mysql, sync, COLUMNS, KEY)
