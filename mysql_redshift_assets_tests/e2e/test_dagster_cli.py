"""`dagster asset materialize` on the command line, as users run it, against real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = [pytest.mark.mariadb, pytest.mark.s3, pytest.mark.slow]
DAGSTER = Path(sys.executable).parent / "dagster"


def _materialize(select: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "mysql_redshift_assets.definitions", "--select", select],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_materialize_parquet_then_warehouse_from_the_cli(mysql, mysql_db, make_project, tmp_path):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), "
            "updated_at DATETIME NOT NULL)"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, '2024-05-01 10:00:00')",
            [(i, f"{i}.50") for i in range(1, 1001)],
        )
    project = make_project({f"{mysql_db}.orders": {"cursor": "updated_at"}}, file_rows=300)
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    base = f"testpipe/{mysql_db}/orders"
    first = _materialize(base, env)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _materialize("public/orders", env)
    assert second.returncode == 0, second.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        count, total = con.execute(
            'SELECT COUNT(*), SUM(amount) FROM "wh"."public"."orders"'
        ).fetchone()
        # One ledger row per file, and one for the delete pass after the load (0 deleted).
        files, passes = con.execute(
            "SELECT COUNT(*) FILTER (WHERE \"table_name\" NOT LIKE '%#deletes'), "
            "COUNT(*) FILTER (WHERE \"table_name\" LIKE '%#deletes') "
            'FROM "wh"."public"."mysql_redshift_loads"'
        ).fetchone()
    assert (count, str(total), files, passes) == (1000, "501000.00", 4, 1)
    # The password reached the run only through the environment, never its output.
    assert "mra-test-only" not in first.stdout + first.stderr + second.stdout + second.stderr
