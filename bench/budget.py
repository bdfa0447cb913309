"""`make bench`, budget case: what a sync that finds nothing new costs, per table count.

  python -m bench.budget [--tables 1,50,200] [--repeat 3] [--ways cli,job] [--json-output FILE]

N tiny tables (`mra_test_bench_budget.t0000` ..., 3 rows each, incremental on a cursor) in one
pipeline, local store, DuckDB. Each N gets a fresh pipelines folder and Dagster home and one
untimed sync that extracts and loads everything; then `--repeat` rounds, each a timed no-op
sync of every N each way (interleaved, so that a round's figures share the machine's load):

- **cli**: `python -m mysql_redshift_assets sync -p budget` (Dagster in process);
- **job**: `dagster job execute -j sync_budget` on the code location, the way the UI's run
  launcher runs a job: its own process, the multiprocess executor, a process per step.

Figures: wall seconds (process start to exit) and CPU seconds of the process and every process
it waited for (`os.wait4`), plus the MariaDB server's CPU over the same interval; medians of
the rounds. The target (issue 28): a no-op sync of 50 tables within 2x the wall of one table,
and each table adds at most 50 ms of wall ((wall(50) - wall(1)) / 49); ratios and the per-table
cost are taken within a round, then the median of the rounds.
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
WALL_RATIO = 2.0  # issue 28: 50 tables within 2x the wall of one
TABLE_MS = 50  # and at most 50 ms of wall a table moving no rows adds to the run


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


def prepare(count: int, work: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """A pipelines folder and Dagster home for `count` tables, after one untimed sync that
    extracts and loads everything."""
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
    return cmds, env


Rounds = list[dict[int, dict[str, dict[str, float]]]]  # round -> tables -> way -> figures


def measure(
    counts: list[int], ways: list[str], repeat: int, work: Path
) -> tuple[list[dict[str, Any]], Rounds]:
    """`repeat` rounds; each round runs every count and way once, so that the figures of one
    round share the machine's load (it is shared): ratios are taken within a round."""
    prepared = {n: prepare(n, work) for n in counts}
    rounds: Rounds = []
    for i in range(repeat):
        round_: dict[int, dict[str, dict[str, float]]] = {}
        for n in counts:
            cmds, env = prepared[n]
            round_[n] = {way: timed(cmds[way], env) for way in ways}
            print(f"  round {i + 1}, {n:>4} tables: {round_[n]}", flush=True)
        rounds.append(round_)
    results = []
    for n in counts:
        figures: dict[str, Any] = {"tables": n}
        for way in ways:
            runs = [r[n][way] for r in rounds]
            figures[way] = {k: round(statistics.median(x[k] for x in runs), 2) for k in runs[0]}
        results.append(figures)
    return results, rounds


def summary(rounds: Rounds, ways: list[str]) -> dict[str, Any]:
    """Per way: 50 over 1 table (wall and CPU) and the wall each table adds, each taken within
    a round and then the median of the rounds; the 200-table figure the same way."""
    verdict: dict[str, Any] = {}
    if not rounds or 1 not in rounds[0] or 50 not in rounds[0]:
        return verdict
    for way in ways:
        v: dict[str, Any] = {}
        for big in (n for n in (50, 200) if n in rounds[0]):
            walls = [(r[big][way]["wall_s"], r[1][way]["wall_s"]) for r in rounds]
            cpus = [(r[big][way]["cpu_s"], r[1][way]["cpu_s"]) for r in rounds]
            v[f"wall_{big}_over_1"] = round(statistics.median(b / a for b, a in walls), 2)
            v[f"cpu_{big}_over_1"] = round(statistics.median(b / a for b, a in cpus), 2)
            per = statistics.median((b - a) / (big - 1) for b, a in walls)
            v[f"wall_ms_per_table_{big}"] = round(per * 1000)
        v["met"] = v["wall_50_over_1"] <= WALL_RATIO and v["wall_ms_per_table_50"] <= TABLE_MS
        verdict[way] = v
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.budget")
    parser.add_argument("--tables", default="1,50,200", help="table counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of timed no-op syncs")
    parser.add_argument("--ways", default="cli,job", help="cli, job or both, comma-separated")
    parser.add_argument("--json-output")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.tables.split(",")]
    ways = args.ways.split(",")
    build(max(counts))
    print(f"budget case: no-op syncs of {counts} tables ({DATABASE}), {args.repeat} rounds")
    work = Path(tempfile.mkdtemp(prefix="mra-budget-"))
    try:
        results, rounds = measure(counts, ways, args.repeat, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for r in results:
        print(f"  {r['tables']:>4} tables, medians: " + ", ".join(f"{w}: {r[w]}" for w in ways))
    verdict = summary(rounds, ways)
    for way, v in verdict.items():
        print(f"{way}: {v} (target: 50 tables within {WALL_RATIO:g}x the wall of 1, at most "
              f"{TABLE_MS} ms of wall a table): {'met' if v['met'] else 'NOT met'}")  # fmt: skip
    if args.json_output:
        Path(args.json_output).write_text(
            json.dumps({"runs": results, "rounds": rounds, "budget": verdict}, indent=1)
        )
    return 0 if all(v["met"] for v in verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
