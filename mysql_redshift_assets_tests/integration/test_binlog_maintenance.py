"""What the operator sees of a `capture: binlog` table, on a private MariaDB with the binlog on:
the Parquet asset's metadata (the binlog positions read from and to), `status` (the server's
settings, grants and each table's position against the server's), `validate` (exact while the
server is at the table's position; a difference while it is past is `behind`), and
`watermark get / list / set`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.defs.metadata import parquet_metadata
from mysql_redshift_assets.extract.binlog.positions import position_from_json
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _cli(capsys, sync: Sync, *args: str) -> tuple[int, Any]:
    capsys.readouterr()
    code = main(["--pipelines-dir", str(sync.project.root), *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _text(capsys, sync: Sync, *args: str) -> str:
    capsys.readouterr()
    main(["--pipelines-dir", str(sync.project.root), *args])
    return capsys.readouterr().out


def _stored(sync: Sync) -> str:
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None and watermark.binlog_position is not None
    return position_from_json(watermark.binlog_position).format()


def _unlogged(private_mariadb, db: str, sql: str) -> None:
    """A change the binlog never sees (`sql_log_bin = 0`): MySQL and the warehouse differ while
    the server's binlog stays at the table's position."""
    with private_mariadb.root() as root, root.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute(f"USE `{db}`")
        cur.execute(sql)


def test_metadata_status_and_watermark_name_the_binlog_positions(
    mysql, mysql_db, make_project, capsys
):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20))")
        cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    sync = Sync.of(make_project, mysql_db, "t", {"capture": "binlog"})
    name = sync.table.qualified

    code, report = _cli(capsys, sync, "status", "-p", "testpipe")
    (binlog,) = [c for c in report[0]["checks"] if c["kind"] == "binlog"]
    assert code == 0 and binlog["ok"], binlog
    assert f"{name}: no binlog position yet" in binlog["detail"]
    assert "settings and grants ok" in binlog["detail"]
    assert "(no binlog position: the next run makes the initial copy)" in _text(
        capsys, sync, "watermark", "list", "-p", "testpipe"
    )

    copied, _ = sync.run("run-1")
    md = parquet_metadata(sync.table, open_store(sync.project, sync.table.store), [copied])
    assert md["binlog_after"].value == _stored(sync) == copied.binlog_after
    assert md["binlog_before"].value.startswith("(none: a copy")
    assert "watermark_before" not in md and "binlog" in md["change_capture"].value

    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET note = 'c' WHERE id = 1")
    _, report = _cli(capsys, sync, "status", "-p", "testpipe")
    (binlog,) = [c for c in report[0]["checks"] if c["kind"] == "binlog"]
    assert f"is past the table's position ({copied.binlog_after})" in binlog["detail"], binlog

    changed, _ = sync.run("run-2")
    md = parquet_metadata(sync.table, open_store(sync.project, sync.table.store), [changed])
    assert md["binlog_before"].value == copied.binlog_after
    assert md["binlog_after"].value == _stored(sync) != copied.binlog_after
    _, report = _cli(capsys, sync, "status", "-p", "testpipe")
    (binlog,) = [c for c in report[0]["checks"] if c["kind"] == "binlog"]
    assert f"is at the table's position ({_stored(sync)})" in binlog["detail"], binlog

    code, info = _cli(capsys, sync, "watermark", "get", "-p", "testpipe", "-t", name)
    assert code == 0 and position_from_json(info["binlog_position"]).format() == _stored(sync)
    assert f"resumes at:   binlog {_stored(sync)}" in _text(
        capsys, sync, "watermark", "get", "-p", "testpipe", "-t", name
    )
    code, rows = _cli(capsys, sync, "watermark", "list", "-p", "testpipe")
    assert code == 0 and rows[0]["binlog_position"] == info["binlog_position"]
    capsys.readouterr()
    assert main(["--pipelines-dir", str(sync.project.root), "watermark", "set", "-p",
                 "testpipe", "-t", name, "--id", "5"]) != 0  # fmt: skip
    assert "resync" in capsys.readouterr().err


@pytest.mark.parametrize("keyed", [True, False])
def test_validate_is_exact_at_the_servers_position_and_behind_past_it(
    mysql, mysql_db, make_project, capsys, private_mariadb, keyed
):
    key = "PRIMARY KEY" if keyed else ""
    with mysql.cursor() as cur:
        cur.execute(f"CREATE TABLE t (id INT {key}, note VARCHAR(20))")
        cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    sync = Sync.of(make_project, mysql_db, "t", {"capture": "binlog"})
    sync.run("run-1")
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET note = 'x' WHERE id = 2")
        cur.execute("DELETE FROM t WHERE id = 3")
    sync.run("run-2")
    code, tables = _cli(capsys, sync, "validate", "-p", "testpipe")
    assert code == 0 and tables[0]["verdict"] == "ok", tables
    assert "is at the table's position" in tables[0]["note"]

    _unlogged(private_mariadb, mysql_db, "UPDATE t SET note = 'behind its back' WHERE id = 1")
    code, tables = _cli(capsys, sync, "validate", "-p", "testpipe")
    assert code != 0 and tables[0]["verdict"] == "mismatch", tables

    with mysql.cursor() as cur:  # the server moves past the table's position
        cur.execute("INSERT INTO t VALUES (4, 'd')")
    code, tables = _cli(capsys, sync, "validate", "-p", "testpipe")
    assert tables[0]["verdict"] == "behind", tables
    assert "a difference may be a change after the table's position" in tables[0]["note"]
