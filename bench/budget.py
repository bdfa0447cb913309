"""`make bench`, budget case: what a sync that finds nothing new costs, per table count.

  python -m bench.budget [--tables 1,50,200] [--repeat 2] [--json-output FILE]

N tiny tables (`mra_test_bench_budget.t0000` ..., 3 rows each, incremental on a cursor) in one
pipeline, local store, DuckDB. Each N gets a fresh pipelines folder and Dagster home, one
untimed sync that extracts and loads everything, then `--repeat` timed no-op syncs two ways:

- **cli**: `python -m mysql_redshift_assets sync -p budget` (Dagster in process);
- **job**: `dagster job execute -j sync_budget` on the code location, the way the UI's run
  launcher runs a job: its own process, the multiprocess executor, a process per step.

Figures: wall seconds (process start to exit) and CPU seconds of the process and every process
it waited for (`os.wait4`), plus the MariaDB server's CPU over the same interval. The budget:
a no-op sync of 50 tables costs at most 3x the CPU of a 1-table one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import table as bench_table
from bench.run import PASSWORD_ENV, ROOT, child_env, process_cpu, server_pid

DATABASE = "mra_test_bench_budget"
PIPELINE = "budget"
BUDGET_RATIO = 3.0


def build(count: int) -> None:
    """Tables t0000 .. t<count-1>, 3 rows each; existing ones are kept."""
    with bench_table.connect(None) as con, con.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
        cur.execute(f"USE `{DATABASE}`")
        cur.execute("SHOW TABLES")
        have = {r[0] for r in cur.fetchall()}
        for i in range(count):
            name = f"t{i:04d}"
            if name in have:
                continue
            cur.execute(
                f"CREATE TABLE `{name}` (id INT PRIMARY KEY, v VARCHAR(20) NOT NULL, "
                "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
            )
            cur.execute(
                f"INSERT INTO `{name}` VALUES (1, 'a', '2024-01-01'), (2, 'b', '2024-01-02'), "
                "(3, 'c', '2024-01-03')"
            )
        con.commit()


def write_folder(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    connections = {
        "sources": {
            "mysql": {
                "kind": "mysql",
                "host": bench_table.HOST,
                "port": bench_table.PORT,
                "user": bench_table.USER,
                "password": "${" + PASSWORD_ENV + "}",
            }
        },
        "stores": {"store": {"kind": "local", "path": str(folder / "store")}},
        "targets": {"duckdb": {"kind": "duckdb", "path": str(folder / "wh.duckdb")}},
    }
    (folder / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = {
        "source": "mysql",
        "store": "store",
        "target": "duckdb",
        "target_schema": "budget",
        "upper_bound_lag_seconds": 0,
        "late_commit_window_seconds": 0,
        "tables": {f"{DATABASE}.t{i:04d}": {"cursor": "updated_at"} for i in range(count)},
    }
    (folder / f"{PIPELINE}.yml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return folder


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of `cmd` (with its children), and MariaDB's CPU meanwhile."""
    server = server_pid()
    server_before = process_cpu(server)
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=env["BUDGET_CWD"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{output.decode()[-3000:]}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "mysql_cpu_s": round(process_cpu(server) - server_before, 2),
    }


def commands(folder: Path) -> dict[str, list[str]]:
    dagster = str(Path(sys.executable).parent / "dagster")
    return {
        "cli": [sys.executable, "-m", "mysql_redshift_assets", "sync", "-p", PIPELINE],
        "job": [dagster, "job", "execute", "-m", "mysql_redshift_assets.definitions",
                "-j", f"sync_{PIPELINE}"],
    }  # fmt: skip


def measure(count: int, repeat: int, work: Path) -> dict[str, Any]:
    folder = write_folder(work / f"n{count}", count)
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **child_env(),
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(folder),
        "DAGSTER_HOME": str(home),
        "BUDGET_CWD": str(folder),
    }
    cmds = commands(folder)
    timed(cmds["cli"], env)  # the first sync: everything extracted and loaded
    figures: dict[str, Any] = {"tables": count}
    for name, cmd in cmds.items():
        runs = [timed(cmd, env) for _ in range(repeat)]
        figures[name] = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
        print(f"  {count:>4} tables, {name}: {figures[name]}", flush=True)
    return figures


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    by_n = {r["tables"]: r for r in results}
    verdict: dict[str, Any] = {}
    if 1 in by_n and 50 in by_n:
        for way in ("cli", "job"):
            ratio = by_n[50][way]["cpu_s"] / max(by_n[1][way]["cpu_s"], 0.01)
            verdict[way] = {"cpu_50_over_1": round(ratio, 2), "met": ratio <= BUDGET_RATIO}
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.budget")
    parser.add_argument("--tables", default="1,50,200", help="table counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=2, help="timed no-op syncs per way")
    parser.add_argument("--json-output")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.tables.split(",")]
    build(max(counts))
    print(f"budget case: no-op syncs of {counts} tables ({DATABASE}), median of {args.repeat}")
    work = Path(tempfile.mkdtemp(prefix="mra-budget-"))
    try:
        results = [measure(n, args.repeat, work) for n in counts]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    verdict = summary(results)
    for way, v in verdict.items():
        print(f"{way}: 50 tables cost {v['cpu_50_over_1']}x the CPU of 1 "
              f"(budget {BUDGET_RATIO:g}x): {'met' if v['met'] else 'NOT met'}")  # fmt: skip
    if args.json_output:
        Path(args.json_output).write_text(
            json.dumps({"runs": results, "budget": verdict}, indent=1)
        )
    return 0 if all(v["met"] for v in verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
