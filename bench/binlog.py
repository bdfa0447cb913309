"""`make bench-binlog`: what a run carrying 1,000 changes costs with `capture: binlog`, against
a `cursor:` run with its delete pass on the same changes, on tables of --rows rows each.

  python -m bench.binlog [--rows 2000000,20000000] [--repeat 5] [--datadir D]

1. Starts a private MariaDB with the binlog on (mysql_redshift_assets_tests/private_mariadb.py)
   on a persistent datadir (--datadir, $MRA_BENCH_BINLOG_DIR, default .local/bench-binlog) and
   a larger buffer pool (--buffer-pool); builds `binlog_bench.orders_<rows>` there once
   (bench/binlog_table.py: INSERT ... SELECT doubling, the binlog off while building).
2. For each table: two pipelines folders on it, `capture: binlog` and `cursor: updated_at` with
   `deletes: propagate` (the production default re-read window), each its own local store and
   DuckDB file; the initial copy of each (timed once).
3. --repeat rounds: 1,000 changes committed (400 inserts, 400 updates naming no timestamp, 200
   deletes; 10 transactions), then one sync run (extract + load, in this process, as the
   parquet and warehouse assets run it: `TableSync.run`) of the binlog pipeline, then one of
   the cursor pipeline (extract + load + the delete pass, which reads the whole key index).
   Each run: wall seconds, this process's CPU seconds (all threads), the MariaDB server's CPU
   seconds (/proc/<mariadbd pid>/stat utime + stime before and after).
4. DuckDB must equal MySQL (row count, SUM(amount)) for both pipelines after the last round.
5. Changes per second through the binlog stream alone (bench/binlog_rate.py's measurement).

Medians per table and capture; the binlog run's cost on the largest table over the smallest's
(it must not grow with the table). The MariaDB is stopped by its pid at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import yaml

from bench import binlog_rate
from bench import binlog_table as tables
from bench.run import process_cpu, settle
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync
from mysql_redshift_assets_tests.private_mariadb import (
    TEST_PASSWORD,
    TEST_USER,
    MysqlServer,
    start_private_mariadb,
)

ROOT = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "MRA_BENCH_MYSQL_PASSWORD"
DATADIR_ENV = "MRA_BENCH_BINLOG_DIR"
SPECS: dict[str, dict[str, Any]] = {
    "binlog": {"mode": "incremental", "capture": "binlog"},
    "cursor": {"mode": "incremental", "cursor": "updated_at", "deletes": "propagate"},
}
# The pipelines a run measures (--captures), in this order.
CAPTURES = list(SPECS)
GRANTS = "PROCESS, CONNECTION ADMIN, REPLICATION SLAVE, BINLOG MONITOR, SLAVE MONITOR"


def _account(server: MysqlServer) -> None:
    """The test account on the bench server: its database, the binlog's and INNODB_TRX's grants."""
    with server.root() as root, root.cursor() as cur:
        for host in ("localhost", "127.0.0.1"):
            cur.execute(
                f"CREATE USER IF NOT EXISTS '{TEST_USER}'@'{host}' IDENTIFIED BY %s",
                (TEST_PASSWORD,),
            )
            cur.execute(f"GRANT ALL ON `{tables.DATABASE}`.* TO '{TEST_USER}'@'{host}'")
            cur.execute(f"GRANT {GRANTS} ON *.* TO '{TEST_USER}'@'{host}'")


def _pipelines(folder: Path, server: MysqlServer, table: str, capture: str) -> TableConfig:
    """A pipelines folder of one table (`capture`: a key of SPECS); its table's config."""
    folder.mkdir(parents=True)
    connections = {
        "sources": {
            "mysql": {
                "kind": "mysql", "host": server.host, "port": server.port, "user": TEST_USER,
                "password": "${" + PASSWORD_ENV + "}",
            }
        },
        "stores": {"store": {"kind": "local", "path": str(folder / "store")}},
        "targets": {"duckdb": {"kind": "duckdb", "path": str(folder / "wh.duckdb")}},
    }  # fmt: skip
    (folder / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = {
        "source": "mysql", "store": "store", "target": "duckdb", "target_schema": "bench",
        "tables": {f"{tables.DATABASE}.{table}": SPECS[capture]},
    }  # fmt: skip
    (folder / "bench.yml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    project = load_project(folder)
    return table_config(project.pipeline("bench"), f"{tables.DATABASE}.{table}")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _now(server_pid: int) -> tuple[float, float, float]:
    return time.perf_counter(), _cpu(), process_cpu(server_pid)


def sync(folder: Path, table: TableConfig, run_id: str, server_pid: int) -> dict[str, float]:
    """One sync run of the table, measured: the extraction (the parquet asset's step), then the
    load (the warehouse asset's: the load, and the cursor's delete pass), in one session."""
    project, run, figures = load_project(folder), SyncRun(run_id), {}
    start = _now(server_pid)
    with Clients(project) as clients:
        extracted = TableSync(table, clients, run).run(load=False).raise_failure()
        middle = _now(server_pid)
        loaded = TableSync(table, clients, run).run(extract=False).raise_failure()
    end = _now(server_pid)
    for prefix, (a, b) in {
        "": (start, end),
        "extract_": (start, middle),
        "load_": (middle, end),
    }.items():
        for i, name in enumerate(("seconds", "cpu", "server_cpu")):
            figures[prefix + name] = b[i] - a[i]
    figures["rows"] = float(sum(r.rows for r in extracted.extracted or []))
    figures["delete_pass_seconds"] = loaded.deletes.seconds if loaded.deletes else 0.0
    return figures


def warehouse_totals(folder: Path, table: TableConfig) -> tuple[int, str]:
    """(rows, SUM(amount)) of the DuckDB table the watermark records."""
    project = load_project(folder)
    watermark = WatermarkStore(open_store(project, table.store)).load(table)
    schema, name = target_table(table, watermark)
    with duckdb.connect(str(folder / "wh.duckdb"), read_only=True) as con:
        count, total = con.execute(
            f'SELECT COUNT(*), SUM(amount) FROM "{schema}"."{name}"'
        ).fetchone()
    return int(count), str(total)


def bench_table(
    server: MysqlServer, pid: int, rows: int, repeat: int, work: Path
) -> dict[str, Any]:
    with server.root() as root:
        table, built = tables.ensure(root, rows)
    print(f"\n{table}: " + (f"built in {built:.0f} s" if built else "kept from an earlier run"))
    configs = {c: _pipelines(work / table / c, server, table, c) for c in CAPTURES}
    out: dict[str, Any] = {"table": table, "rows": rows, "build_seconds": built}
    for capture, config in configs.items():
        first = sync(work / table / capture, config, "copy", pid)
        out[f"{capture}_initial"] = first
        print(f"  initial copy, {capture}: {first['seconds']:.1f} s, CPU {first['cpu']:.1f} s, "
              f"MariaDB CPU {first['server_cpu']:.1f} s")  # fmt: skip
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in CAPTURES}
    for round_no in range(repeat):
        with server.root() as root:
            tables.commit_changes(root, table, rows)
        for capture, config in configs.items():
            settle(10)
            got = sync(work / table / capture, config, f"r{round_no}", pid)
            runs[capture].append(got)
            print(f"  round {round_no + 1}, {capture}: {got['seconds']:.2f} s, CPU "
                  f"{got['cpu']:.2f} s, MariaDB CPU {got['server_cpu']:.2f} s (extract "
                  f"{got['extract_seconds']:.2f} s, CPU {got['extract_cpu']:.2f} s; load "
                  f"{got['load_seconds']:.2f} s, CPU {got['load_cpu']:.2f} s), "
                  f"{got['rows']:.0f} rows extracted, delete pass {got['delete_pass_seconds']:.2f} s",
                  flush=True)  # fmt: skip
    with server.root() as root:
        want = tables.totals(root, table)
    for capture, config in configs.items():
        got_totals = warehouse_totals(work / table / capture, config)
        out[f"{capture}_equal"] = got_totals == want
        print(f"  {capture}: DuckDB (rows, SUM(amount)) {got_totals} = MySQL {want}: "
              f"{'yes' if got_totals == want else 'NO'}")  # fmt: skip
    for capture in CAPTURES:
        out[capture] = {k: statistics.median(r[k] for r in runs[capture]) for k in runs[capture][0]}
        out[f"{capture}_runs"] = runs[capture]
    return out


def report(results: list[dict[str, Any]], rate: dict[str, float]) -> None:
    print("\n| table | capture | wall s | CPU s | MariaDB CPU s | extract: wall / CPU s "
          "| load: wall / CPU s | changes/s (wall) |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for res in results:
        for capture in CAPTURES:
            m = res[capture]
            print(f"| {res['rows']:,} | {capture} | {m['seconds']:.2f} | {m['cpu']:.2f} | "
                  f"{m['server_cpu']:.2f} | {m['extract_seconds']:.2f} / {m['extract_cpu']:.2f} "
                  f"| {m['load_seconds']:.2f} / {m['load_cpu']:.2f} "
                  f"| {1000 / m['seconds']:,.0f} |")  # fmt: skip
    if len(results) > 1:
        small, big = results[0], results[-1]
        for capture in CAPTURES:
            b, s = big[capture], small[capture]
            ratio = {k: b[k] / max(s[k], 1e-3) for k in ("seconds", "cpu", "extract_cpu", "load_cpu")}  # fmt: skip
            print(f"{capture}: {big['table']} / {small['table']}: wall {ratio['seconds']:.2f}x, "
                  f"CPU {ratio['cpu']:.2f}x (extract {ratio['extract_cpu']:.2f}x, load "
                  f"{ratio['load_cpu']:.2f}x), MariaDB CPU {s['server_cpu']:.2f} -> "
                  f"{b['server_cpu']:.2f} s")  # fmt: skip
    print("stream alone: " + binlog_rate.rate_text(rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="2000000,20000000", help="table sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--captures", default=",".join(SPECS), help="binlog,cursor or one")
    parser.add_argument(
        "--datadir", default=os.environ.get(DATADIR_ENV, str(ROOT / ".local" / "bench-binlog"))
    )
    parser.add_argument("--buffer-pool", default="2G", help="the bench MariaDB's buffer pool")
    parser.add_argument("--stream-changes", type=int, default=50_000)
    parser.add_argument("--json-output", help="write the figures here too")
    args = parser.parse_args()
    sizes = sorted(int(r) for r in args.rows.split(","))
    CAPTURES[:] = [c for c in SPECS if c in args.captures.split(",")]
    os.environ[PASSWORD_ENV] = TEST_PASSWORD
    folder = Path(args.datadir).resolve()  # mariadbd reads a relative datadir from its basedir
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mra-bench-binlog-"))
    try:
        with start_private_mariadb(folder, buffer_pool=args.buffer_pool) as server:
            pid = int((folder / "pid").read_text())
            print(f"bench MariaDB pid {pid}, port {server.port}, datadir {folder / 'data'}")
            _account(server)
            results = [bench_table(server, pid, rows, args.repeat, work) for rows in sizes]
            rate = binlog_rate.measure(server, args.stream_changes, db="binlog_stream_rate")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, rate)
    if args.json_output:
        Path(args.json_output).write_text(json.dumps({"tables": results, "stream": rate}, indent=1))
    if not all(res[f"{c}_equal"] for res in results for c in CAPTURES):
        raise SystemExit("DuckDB and MySQL disagree")


if __name__ == "__main__":
    main()
