"""`make demo`'s program on a fresh folder: no server, equal counts, twice (incremental)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

REPO_PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
pytestmark = pytest.mark.slow


def _run_demo(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets.demo"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return done.stdout


def test_demo_runs_end_to_end_twice_with_equal_counts(tmp_path):
    root = tmp_path / "pipelines"
    shutil.copytree(REPO_PIPELINES, root)
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(root),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    first = _run_demo(env)
    assert "2,000 rows extracted" in first
    rows = re.findall(r"source\s+([\d,]+)\s+warehouse \S+\s+([\d,]+)\s+(\w+)", first)
    assert len(rows) == 4 and all(a == b and ok == "equal" for a, b, ok in rows)
    assert "over 3 daily partitions" in first
    second = _run_demo(env)
    # 150 new orders + 25 updated ones: extracted once, merged, not doubled.
    assert "demo/shop/orders: 175 rows extracted" in second
    rows = re.findall(r"source\s+([\d,]+)\s+warehouse \S+\s+([\d,]+)\s+(\w+)", second)
    assert rows and all(a == b and ok == "equal" for a, b, ok in rows)
    assert (tmp_path / ".local" / "demo" / "warehouse.duckdb").exists()


def _events_of_day(folder: Path, day: str) -> tuple[list[tuple], list[tuple]]:
    """The demo's events of one day in the SQLite source and in DuckDB, row by row."""
    end = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    con = sqlite3.connect(folder / "source" / "shop.sqlite")
    try:
        source = con.execute(
            "SELECT id, kind, order_id, created_at FROM events "
            "WHERE created_at >= ? AND created_at < ? ORDER BY id",
            (day, end),
        ).fetchall()
    finally:
        con.close()
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as wh:
        rows = wh.execute(
            'SELECT id, kind, order_id, created_at FROM "warehouse"."demo"."events" '
            "WHERE created_at >= ? AND created_at < ? ORDER BY id",
            (day, end),
        ).fetchall()
    want = [(i, k, o, datetime.fromisoformat(t)) for i, k, o, t in source]
    return want, [tuple(r) for r in rows]


def test_sync_runs_the_demo_pipeline_with_its_partitioned_table(tmp_path):
    """`make demo` then `mysql-redshift sync -p demo`: the partitioned events table runs its
    latest complete day as a partitioned run ("Cannot access partition_key ..." before)."""
    root = tmp_path / "pipelines"
    shutil.copytree(REPO_PIPELINES, root)
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(root),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    _run_demo(env)
    done = subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", "sync", "-p", "demo"],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert "demo/events: " in done.stdout and yesterday in done.stdout
    assert done.stdout.count("succeeded") == 2  # the plain tables' run, the events' run
    want, got = _events_of_day(tmp_path / ".local" / "demo", yesterday)
    assert want and got == want
