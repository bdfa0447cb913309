"""`python -m bench.binlog_copy`: the extraction of a `capture: binlog` initial copy (one MySQL
snapshot at a binlog position, `sync/binlog_copy.py`) read by each reader, on one table.

  python -m bench.binlog_copy [--rows 2000000] [--repeat 3] [--readers pymysql,wire] [--datadir D]

The private MariaDB and the table are bench/binlog.py's (`binlog_bench.orders_<rows>`, built
once in the datadir: --datadir, $MRA_BENCH_BINLOG_DIR, default .local/bench-binlog). Each round
copies the table once per reader, each into a fresh pipelines folder (store, DuckDB file) whose
source has that `reader:`; only the extraction runs (the parquet asset's step: the snapshot,
COUNT(*), every page, the Parquet files). `pymysql` is the text protocol, what every snapshot
read was before issue 28; `wire` reads the pages on the snapshot's own session. Per copy: wall
seconds, this process's CPU seconds, the MariaDB server's CPU seconds; medians per reader.
Every copy's files must be the same (rows, first/last positions, a SHA-256 of their values read
back, outside the timing) whichever reader read them.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from bench import binlog
from bench import binlog_table as tables
from bench.run import settle
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync
from mysql_redshift_assets_tests.private_mariadb import TEST_PASSWORD, start_private_mariadb


def copy(folder: Path, server: Any, table: str, reader: str, pid: int) -> dict[str, Any]:
    """One initial copy's extraction with `reader`, measured."""
    config = binlog._pipelines(folder, server, table, "binlog")
    connections = yaml.safe_load((folder / "connections.yml").read_text())
    connections["sources"]["mysql"]["reader"] = reader
    (folder / "connections.yml").write_text(yaml.safe_dump(connections))
    project = load_project(folder)
    start = binlog._now(pid)
    with Clients(project) as clients:
        result = TableSync(config, clients, SyncRun("copy")).run(load=False).raise_failure()
    end = binlog._now(pid)
    files = [f for r in result.extracted or [] for f in r.files]
    store = open_store(project, config.store)
    parts = [pq.read_table(p, filesystem=fs) for fs, p in map(store.arrow_location, (f.key for f in files))]  # fmt: skip
    files = [(f.rows, f.first, f.last, _digest(t)) for f, t in zip(files, parts, strict=True)]
    figures = dict(
        zip(
            ("seconds", "cpu", "server_cpu"),
            (b - a for a, b in zip(start, end, strict=True)),
            strict=True,
        )
    )
    return figures | {"rows": float(sum(f[0] for f in files)), "files": files}


def _digest(table: pa.Table) -> str:
    """SHA-256 of a file's rows: every value, in order (its Arrow IPC stream, one batch)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--readers", default="pymysql,wire")
    parser.add_argument(
        "--datadir",
        default=os.environ.get(binlog.DATADIR_ENV, str(binlog.ROOT / ".local" / "bench-binlog")),
    )
    parser.add_argument("--buffer-pool", default="2G")
    args = parser.parse_args()
    os.environ[binlog.PASSWORD_ENV] = TEST_PASSWORD
    folder = Path(args.datadir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="mra-bench-binlog-copy-"))
    runs: dict[str, list[dict[str, Any]]] = {r: [] for r in args.readers.split(",")}
    try:
        with start_private_mariadb(folder, buffer_pool=args.buffer_pool) as server:
            pid = int((folder / "pid").read_text())
            binlog._account(server)
            with server.root() as root:
                table, built = tables.ensure(root, args.rows)
            print(f"{table}: " + (f"built in {built:.0f} s" if built else "kept"), flush=True)
            for round_no in range(args.repeat):
                for reader in runs:
                    settle(10)
                    got = copy(work / f"{reader}-{round_no}", server, table, reader, pid)
                    shutil.rmtree(work / f"{reader}-{round_no}", ignore_errors=True)
                    runs[reader].append(got)
                    print(f"  round {round_no + 1}, {reader}: {got['rows']:.0f} rows, "
                          f"{got['seconds']:.2f} s, CPU {got['cpu']:.2f} s, MariaDB CPU "
                          f"{got['server_cpu']:.2f} s", flush=True)  # fmt: skip
                    time.sleep(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # Every copy's files hold the same rows, values and positions, whichever reader read them.
    same = {str(r["files"]) for got in runs.values() for r in got}
    print(f"\nfiles identical across readers and rounds (rows, positions, SHA-256 of values): "
          f"{'yes' if len(same) == 1 else 'NO'}")  # fmt: skip
    print("\n| reader | wall s | CPU s | MariaDB CPU s |\n| --- | ---: | ---: | ---: |")
    for reader, got in runs.items():
        m = {k: statistics.median(r[k] for r in got) for k in ("seconds", "cpu", "server_cpu")}
        print(f"| {reader} | {m['seconds']:.2f} | {m['cpu']:.2f} | {m['server_cpu']:.2f} |")


if __name__ == "__main__":
    main()
