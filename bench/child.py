"""One measured run, in its own process (the parent reads its peak RSS with os.wait4).

  python -m bench.child project <pipelines dir> <store name>   the project's extraction
  python -m bench.child reference <output dir>                 connectorx (2 partitions) +
                                                               pyarrow ParquetWriter (zstd)
  python -m bench.child deletes <pipelines dir> <run id>       one delete pass
Prints one JSON line: seconds (the work only, imports excluded), rows, bytes written, files.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path


def tuned_writer(spec: str) -> None:
    """An experiment, in this process only: the project's Parquet writer with other pyarrow
    options, e.g. "use_dictionary=False,compression_level=1" (store/parquet.py is unchanged).

    Why: store/parquet.py dictionary-encodes every column and writes one row group a page. For
    unique strings (tracking and order numbers, text, JSON) each row group then fills a 1 MiB
    dictionary before falling back to plain encoding: twice the writer's CPU, and bigger files.
    """
    import ast
    import types

    import pyarrow.parquet as pq

    import mysql_redshift_assets.store.parquet as parquet

    options: dict = {}
    for item in filter(None, spec.split(",")):
        name, value = item.split("=", 1)
        options[name.strip()] = ast.literal_eval(value.strip())

    class Writer(pq.ParquetWriter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, **options})

    parquet.pq = types.SimpleNamespace(**{**vars(pq), "ParquetWriter": Writer})


def project(pipelines: str, store_name: str, writer: str = "") -> dict:
    if writer:
        tuned_writer(writer)
    import connectorx  # noqa: F401 - imported before the clock, as in the reference

    import mysql_redshift_assets.store.s3  # noqa: F401 - boto3: an import, not the work
    from bench.table import DATABASE, TABLE
    from mysql_redshift_assets.config.resolve import table_config
    from mysql_redshift_assets.project import load_project
    from mysql_redshift_assets.sync.clients import Clients
    from mysql_redshift_assets.sync.table import SyncRun, TableSync

    proj = load_project(Path(pipelines))
    table = table_config(proj.pipeline("bench"), f"{DATABASE}.{TABLE}")
    assert table.store == store_name, (table.store, store_name)
    cpu = cpu_seconds()
    started = time.perf_counter()
    with Clients(proj) as clients:  # what the parquet asset runs: the extraction step
        result = TableSync(table, clients, SyncRun("bench")).extract()[0]
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,  # main() subtracts: CPU of the work, all threads
        "rows": result.rows,
        "bytes": result.bytes,
        "files": len(result.files),
        "file_mb": [round(f.bytes / 1e6, 1) for f in result.files],
    }


REFERENCE_COLUMNS = (
    "id, tracking_number, order_no, carrier_code, consignee, amount, weight, is_paid, "
    "created_at, IF(updated_at = 0, NULL, updated_at) AS updated_at, "
    "IF(ship_date = 0, NULL, ship_date) AS ship_date, remark, extra, rate, `3pl_code`"
)


def reference(out_dir: str) -> dict:
    from urllib.parse import quote

    import connectorx as cx
    import pyarrow.parquet as pq

    from bench.table import DATABASE, HOST, PASSWORD, PORT, TABLE, USER

    url = (
        f"mysql://{USER}:{quote(PASSWORD, safe='')}@{HOST}:{PORT}/{DATABASE}"
        "?cxprotocol=binary&prefer_socket=false"
    )
    path = Path(out_dir) / "reference.parquet"
    # connectorx panics on zero dates (`SELECT *` fails on this table): the cheapest guard that
    # keeps its native binary types is IF(col = 0, NULL, col) on the zero-date columns.
    query = f"SELECT {REFERENCE_COLUMNS} FROM `{TABLE}`"
    cpu = cpu_seconds()
    started = time.perf_counter()
    data = cx.read_sql(url, query, return_type="arrow", partition_on="id", partition_num=2)
    read = time.perf_counter() - started
    with pq.ParquetWriter(path, data.schema, compression="zstd") as writer:
        writer.write_table(data)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,  # main() subtracts
        "read_seconds": read,
        "rows": data.num_rows,
        "bytes": path.stat().st_size,
        "files": 1,
    }


def peak_rss_mb() -> float:
    """VmHWM: this process's peak resident set (threads included; reset by exec, unlike
    ru_maxrss, which a forked child inherits from its parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cli(*args: str) -> dict:
    """Run `python -m mysql_redshift_assets ARGS` end to end: wall time from process start to
    exit, and its peak RSS (RUSAGE_CHILDREN of this small process, which only waits)."""
    import resource
    import subprocess

    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", *args], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(
            f"CLI failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "cli_peak_rss_mb": peak, "stdout": done.stdout[-2000:]}


def deletes(pipelines: str, run_id: str) -> dict:
    """One delete pass (what the warehouse asset runs after its load) on the bench table."""
    from bench.table import DATABASE, TABLE
    from mysql_redshift_assets.config.resolve import table_config
    from mysql_redshift_assets.project import load_project
    from mysql_redshift_assets.sync.clients import Clients
    from mysql_redshift_assets.sync.table import SyncRun, TableSync

    proj = load_project(Path(pipelines))
    table = table_config(proj.pipeline("bench"), f"{DATABASE}.{TABLE}")
    table = dataclasses.replace(table, deletes="propagate")  # the pipeline says ignore
    cpu = cpu_seconds()
    started = time.perf_counter()
    with Clients(proj) as clients:  # the delete step of the table's sync
        done = TableSync(table, clients, SyncRun(run_id)).propagate_deletes()
    seconds = time.perf_counter() - started
    if not done.ran or done.diff is None:
        raise SystemExit(f"no delete pass: {done.note}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rows_deleted": done.deleted,
        "mysql_keys": done.diff.mysql_rows,
        "warehouse_keys": done.diff.warehouse_rows,
        "keys_fetched": done.diff.keys_fetched,
        "buckets": done.diff.buckets_compared,
    }


def cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    kind, *args = sys.argv[1:]
    runs = {"project": project, "reference": reference, "cli": cli, "deletes": deletes}
    result = runs[kind](*args)
    if "cpu_seconds" in result:
        result["cpu_seconds"] = cpu_seconds() - result["cpu_seconds"]
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
