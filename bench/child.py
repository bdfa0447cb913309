"""One measured run, in its own process (the parent reads its peak RSS with os.wait4).

  python -m bench.child project <pipelines dir> <store name>   the project's extraction
  python -m bench.child reference <output dir>                 connectorx (2 partitions) +
                                                               pyarrow ParquetWriter (zstd)
Prints one JSON line: seconds (the work only, imports excluded), rows, bytes written, files.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def project(pipelines: str, store_name: str) -> dict:
    from bench.table import DATABASE, TABLE
    from mysql_redshift_assets.config.loader import load_project
    from mysql_redshift_assets.config.resolve import table_config
    from mysql_redshift_assets.connect import open_source, open_store
    from mysql_redshift_assets.state.watermark import WatermarkStore
    from mysql_redshift_assets.sync.backup import backup_table

    proj = load_project(Path(pipelines))
    table = table_config(proj.pipeline("bench"), f"{DATABASE}.{TABLE}")
    assert table.store == store_name, (table.store, store_name)
    started = time.perf_counter()
    source = open_source(proj, table.source)
    store = open_store(proj, table.store)
    try:
        result = backup_table(source, store, WatermarkStore(store), table, run_id="bench")
    finally:
        source.close()
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
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
    started = time.perf_counter()
    data = cx.read_sql(url, query, return_type="arrow", partition_on="id", partition_num=2)
    read = time.perf_counter() - started
    with pq.ParquetWriter(path, data.schema, compression="zstd") as writer:
        writer.write_table(data)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
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


def main() -> None:
    kind, *args = sys.argv[1:]
    result = project(*args) if kind == "project" else reference(*args)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
