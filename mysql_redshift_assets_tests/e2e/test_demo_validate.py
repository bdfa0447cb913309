"""`make demo` then `mysql-redshift validate -p demo`: every table, and each window of the
daily-partitioned events, reconciled; exit 0 (MISMATCH, source 0, for the events before)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
pytestmark = pytest.mark.slow


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_validate_succeeds_straight_after_the_demo(tmp_path):
    root = tmp_path / "pipelines"
    shutil.copytree(REPO_PIPELINES, root)
    (tmp_path / "home").mkdir()
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(root),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    demo = _run(env, "mysql_redshift_assets.demo")
    assert demo.returncode == 0, demo.stdout + demo.stderr[-3000:]

    done = _run(env, "mysql_redshift_assets", "validate", "-p", "demo")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "MISMATCH" not in done.stdout
    assert done.stdout.count("  window ") == 3  # the demo's three days, each on its own line

    as_json = _run(env, "mysql_redshift_assets", "--json", "validate", "-p", "demo")
    assert as_json.returncode == 0, as_json.stderr[-3000:]
    tables = {t["table"]: t for t in json.loads(as_json.stdout)}
    events = tables["shop.events"]
    assert events["verdict"] == "ok" and events["source_rows"] == events["warehouse_rows"] > 0
    assert [w["verdict"] for w in events["windows"]] == ["ok", "ok", "ok"]

    day = events["windows"][0]["partition"]
    one = _run(env, "mysql_redshift_assets", "validate", "-p", "demo", "--partition", day)
    assert one.returncode == 0, one.stdout + one.stderr[-3000:]
    assert f"window {day}" in one.stdout and "shop.orders" not in one.stdout
