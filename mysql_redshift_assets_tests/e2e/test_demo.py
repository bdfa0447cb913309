"""`make demo`'s program on a fresh folder: no server, equal counts, twice (incremental)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

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
    assert "demo/shop/orders/parquet: 175 rows extracted" in second
    rows = re.findall(r"source\s+([\d,]+)\s+warehouse \S+\s+([\d,]+)\s+(\w+)", second)
    assert rows and all(a == b and ok == "equal" for a, b, ok in rows)
    assert (tmp_path / ".local" / "demo" / "warehouse.duckdb").exists()
