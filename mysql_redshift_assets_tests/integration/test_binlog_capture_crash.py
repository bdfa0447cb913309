"""`capture: binlog` after a crash: a sync SIGKILLed right after it recorded its first change
file (`_binlog_crash_child.py`), and a run whose binlog dump connection is KILLed mid-read.
The next run resumes from the recorded position: each row change lands in exactly one recorded
file (no file key twice, no change twice, none lost), and the warehouse equals MySQL row by
row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.sync import binlog
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb

CHILD = Path(__file__).with_name("_binlog_crash_child.py")
COLUMNS, KEY = ["id", "amount", "note", "pad"], ["id"]
TABLE = "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,4), note VARCHAR(40), pad LONGBLOB)"


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _sync(make_project, mysql, mysql_db, rows: int) -> Sync:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t (id, amount, note) VALUES (%s, %s, %s)",
            [(i, f"{i}.5", f"zoë {i}") for i in range(1, rows + 1)],
        )
    mysql.commit()
    sync = Sync.of(
        make_project, mysql_db, "t", {"capture": "binlog"}, target="duckdb", chunk_rows=7,
        file_rows=10,
    )  # fmt: skip
    copied, _ = sync.run("copy")
    assert copied.rows == rows
    return sync


def _watermark(sync: Sync) -> Watermark:
    watermark = WatermarkStore(open_store(sync.project, sync.table.store)).load(sync.table)
    assert watermark is not None
    return watermark


def _changes(watermark: Watermark) -> list:
    """The change files recorded (each with the binlog position after its last transaction)."""
    return [f for f in watermark.files if f.binlog_to is not None]


def _one_change_a_row(session, ids: range) -> int:
    """Single-row transactions: an update, then every fifth row deleted and re-inserted;
    the number of row changes (one file row each)."""
    changes = 0
    with session.cursor() as cur:
        for i in ids:
            cur.execute("UPDATE t SET amount = amount + 1, note = 'tz' WHERE id = %s", (i,))
            changes += 1
            if i % 5 == 0:
                cur.execute("DELETE FROM t WHERE id = %s", (i,))
                cur.execute("INSERT INTO t (id, amount, note) VALUES (%s, 0.0001, 'again')", (i,))
                changes += 2
            session.commit()
    return changes


def test_a_sync_killed_after_its_first_change_file_resumes_exactly(
    mysql, mysql_db, mysql_sessions, make_project
):
    sync = _sync(make_project, mysql, mysql_db, 60)
    changes = _one_change_a_row(mysql_sessions("+05:30"), range(1, 51))  # 60: six files
    env = {
        **os.environ, "MYSQL_REDSHIFT_PIPELINES_DIR": str(sync.project.root),
        "MRA_TEST_MYSQL_PASSWORD": TEST_PASSWORD, "MRA_CRASH_TABLE": sync.table.qualified,
        "MRA_CRASH_AT": "1", "MRA_CRASH_RUN_ID": "crashed",
    }  # fmt: skip
    child = subprocess.run(
        [sys.executable, str(CHILD)], env=env, capture_output=True, text=True, timeout=120
    )
    assert child.returncode == -9, child.stdout + child.stderr
    crashed = _watermark(sync)
    (first,) = _changes(crashed)
    assert first.run_id == "crashed" and 10 <= first.rows <= 12  # closed between transactions
    assert crashed.binlog_position == first.binlog_to  # resumes after the file's transactions

    changes += _one_change_a_row(mysql_sessions("-08:00"), range(51, 56))  # after the crash
    resumed, _ = sync.run("resumed")
    assert resumed.files and resumed.rows == changes - first.rows
    watermark = _watermark(sync)
    keys = [f.key for f in watermark.files]
    assert len(keys) == len(set(keys))  # no file key twice
    assert _changes(watermark)[0] == first
    assert sum(f.rows for f in _changes(watermark)) == changes  # each change in one file
    stored = {str(p.relative_to(_store_root(sync))) for p in _store_root(sync).rglob("*.parquet")}
    assert stored == set(keys)  # no file left over by the killed run
    assert_same_rows(mysql, sync, COLUMNS, KEY)


def _store_root(sync: Sync) -> Path:
    return Path(sync.project.connections.stores[sync.table.store].path)


def test_a_stream_connection_killed_mid_read_fails_the_run_and_the_next_is_exact(
    mysql, mysql_db, mysql_sessions, make_project, monkeypatch, private_mariadb
):
    """12 MB of binlog: the server is still sending when its dump thread is KILLed."""
    sync = _sync(make_project, mysql, mysql_db, 10)
    writer = mysql_sessions("+05:30")
    with writer.cursor() as cur:
        for i in range(101, 401):  # 300 single-row transactions of 40 kB each
            cur.execute("INSERT INTO t VALUES (%s, 1.5, 'big', REPEAT('x', 40000))", (i,))
            writer.commit()
        cur.execute("UPDATE t SET note = 'small' WHERE id <= 10")
    writer.commit()
    real_read, killed = binlog.read_transactions, []

    def read_transactions(*args, **kwargs):
        for transaction in real_read(*args, **kwargs):
            yield transaction
            if not killed:
                killed.append(_kill_the_dump_thread(private_mariadb))

    monkeypatch.setattr(binlog, "read_transactions", read_transactions)
    with pytest.raises(Exception, match="the binlog connection dropped during the read"):
        sync.extract("killed")
    assert killed
    failed = _watermark(sync)
    assert sum(f.rows for f in _changes(failed)) < 310  # the read stopped part way
    monkeypatch.setattr(binlog, "read_transactions", real_read)

    resumed, _ = sync.run("resumed")
    watermark = _watermark(sync)
    keys = [f.key for f in watermark.files]
    assert len(keys) == len(set(keys))
    assert sum(f.rows for f in _changes(watermark)) == 310  # 300 inserts, 10 updates: each once
    assert_same_rows(mysql, sync, COLUMNS, KEY)


def _kill_the_dump_thread(server) -> int:
    with server.root() as root, root.cursor() as cur:
        cur.execute(
            "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'"
        )
        (dump,) = cur.fetchall()
        cur.execute(f"KILL {dump[0]}")
    return int(dump[0])
