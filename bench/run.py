"""`make bench`: the project's extraction of a whole table vs a connectorx + pyarrow reference.

  python -m bench.run [--rows 2000000] [--repeat 3] [--no-s3] [--no-incremental] [--drop]

1. Builds `mra_test_bench.settle_orders` with --rows rows (kept between runs; rebuilt when the
   count differs). Needs the local MariaDB and its `mra_test` account (see .ci/run).
2. Runs, each in its own process and --repeat times, interleaved:
   - project local: `TableSync.extract` (what the parquet asset runs) of the whole table,
     incremental mode (keyset on the primary key), into a local folder;
   - project s3:    the same into a moto S3 server over HTTP (multipart uploads);
   - reference:     connectorx `read_sql(partition_on="id", partition_num=2)` + one pyarrow
                    ParquetWriter (zstd) file.
   Wall time is the work in the process (imports excluded), peak RSS is the process's
   ru_maxrss from os.wait4; best and median are printed, and the project/reference ratio.
3. Checks the project's Parquet files against the source: row count, sums of id and of the
   decimals, min of the double, max of both timestamps (UTC), NULLs and characters of the text,
   zero dates as NULL, and the Arrow types the planner decided.
4. Incremental figure: `python -m mysql_redshift_assets sync` (through Dagster, into DuckDB)
   after 1,000 new rows, end to end; the DuckDB row count must equal MySQL's. The new rows are
   deleted again afterwards. The bench pipeline sets `deletes: ignore`: the pass is step 5.
5. Delete-detection figure: the delete pass on that DuckDB table with nothing deleted and with
   100 deletes (seconds, keys scanned per second, keys fetched, peak RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from bench import table as bench_table

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PASSWORD_ENV = "MRA_BENCH_MYSQL_PASSWORD"
TUNED = "project local, writer*"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The source's `reader:` in every pipelines folder the bench writes (`--reader`).
READER = {"name": "auto"}


def write_pipelines(
    folder: Path,
    store: dict[str, Any],
    target_db: Path | None = None,
    table: str = bench_table.TABLE,
    spec: dict[str, Any] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    connections = {
        "sources": {
            "mysql": {
                "kind": "mysql",
                "host": bench_table.HOST,
                "port": bench_table.PORT,
                "user": bench_table.USER,
                "password": "${" + PASSWORD_ENV + "}",
                "reader": READER["name"],
            }
        },
        "stores": {"store": store},
        "targets": {"duckdb": {"kind": "duckdb", "path": str(target_db or folder / "wh.duckdb")}},
    }
    (folder / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = {
        "source": "mysql",
        "store": "store",
        "target": "duckdb",
        "target_schema": "bench",
        "upper_bound_lag_seconds": 0,
        # The incremental figure is the extraction and load; the delete pass (a whole-index
        # read) has its own figure, `delete_pass()`.
        # The whole-table figure reads the key (append-only, the key-range path).
        "tables": {
            f"{bench_table.DATABASE}.{table}": spec
            or {"mode": "incremental", "append_only": True, "deletes": "ignore"}
        },
    }
    (folder / "bench.yml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    return folder


def child_env() -> dict[str, str]:
    env = {**os.environ, PASSWORD_ENV: bench_table.PASSWORD, "PYTHONPATH": str(ROOT)}
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    env["RUST_BACKTRACE"] = "0"
    return env


def cpu_jiffies() -> tuple[int, int, int]:
    """(idle, steal, total) jiffies of the machine so far (/proc/stat); steal is time the
    hypervisor gave this VM's cores to others."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], fields[7], sum(fields[:8])


def cpu_idle() -> tuple[int, int]:
    """(idle, total) jiffies of the machine so far."""
    idle, _, total = cpu_jiffies()
    return idle, total


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a running process has used so far; 0 if it is gone."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int | None:
    """The local MariaDB / MySQL server's pid (its CPU is part of every path's cost)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() in ("mariadbd", "mysqld"):
                return int(comm.parent.name)
        except OSError:
            continue
    return None


# Processes whose CPU a run is charged with besides its own: the MySQL server, moto.
OTHERS: dict[str, int | None] = {}


def settle(max_wait: float = 60.0) -> float:
    """Wait (up to max_wait s) for a quiet machine: other test suites share these 2 cores.
    Returns the idle share of the last 2 s."""
    deadline = time.monotonic() + max_wait
    while True:
        i0, t0 = cpu_idle()
        time.sleep(2)
        i1, t1 = cpu_idle()
        idle = (i1 - i0) / max(t1 - t0, 1)
        if idle >= 0.9 or time.monotonic() > deadline:
            return idle


def run_child(args: list[str]) -> tuple[dict[str, Any], float]:
    # subprocess would reap the child itself; fork/exec directly to keep its rusage for wait4.
    env = child_env()
    before = settle()
    i0, s0, t0 = cpu_jiffies()
    others0 = {name: process_cpu(pid) for name, pid in OTHERS.items()}
    read_fd, write_fd = os.pipe()
    err_path = tempfile.mktemp(prefix="mra-bench-err-")
    pid = os.fork()
    if pid == 0:  # the child: exec the measured program
        os.dup2(write_fd, 1)
        fd = os.open(err_path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.dup2(fd, 2)
        os.close(read_fd)
        os.chdir(ROOT)
        os.execve(PY, [PY, "-m", "bench.child", *args], env)
    os.close(write_fd)
    chunks = []
    while data := os.read(read_fd, 65536):
        chunks.append(data)
    os.close(read_fd)
    _, status, usage = os.wait4(pid, 0)
    err = Path(err_path).read_text(errors="replace") if Path(err_path).exists() else ""
    Path(err_path).unlink(missing_ok=True)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench.child {args[0]} failed:\n{err[-3000:]}")
    lines = [ln for ln in b"".join(chunks).decode().splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1])
    i1, s1, t1 = cpu_jiffies()
    # Busy share of both cores during the run, and idle before it (others' load shows here).
    result["machine_busy"] = 1 - (i1 - i0) / max(t1 - t0, 1)
    result["idle_before"] = before
    result["steal"] = (s1 - s0) / max(t1 - t0, 1)
    # CPU seconds: this process (imports included), and what the others spent meanwhile.
    result["cpu"] = {"client": result.get("cpu_seconds", usage.ru_utime + usage.ru_stime)}
    for name, pid in OTHERS.items():
        result["cpu"][name] = process_cpu(pid) - others0[name]
    return result, result.get("peak_rss_mb", usage.ru_maxrss / 1024)


# -- checks ------------------------------------------------------------------------------------
def parquet_checks(project_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mysql_redshift_assets.config.resolve import table_config
    from mysql_redshift_assets.connect import open_store
    from mysql_redshift_assets.project import load_project
    from mysql_redshift_assets.state.watermark import WatermarkStore
    from mysql_redshift_assets.store.parquet import ORDER_COLUMN

    os.environ.setdefault(PASSWORD_ENV, bench_table.PASSWORD)
    proj = load_project(project_dir)
    table = table_config(proj.pipeline("bench"), f"{bench_table.DATABASE}.{bench_table.TABLE}")
    store = open_store(proj, table.store)
    watermark = WatermarkStore(store).load(table)
    assert watermark is not None
    acc: dict[str, Any] = {}
    types: dict[str, str] = {}
    source_name = {v: k for k, v in watermark.columns.items()}

    def fold(key: str, value: Any, how) -> None:
        if value is None:
            return
        acc[key] = value if key not in acc else how(acc[key], value)

    add = lambda a, b: a + b  # noqa: E731
    for record in watermark.files:
        fs, path = store.arrow_location(record.key)
        data = pq.read_table(path, filesystem=fs)
        if ORDER_COLUMN in data.column_names:  # the merge's tie-break, not a value
            data = data.drop_columns([ORDER_COLUMN])
        # Source column names, as the watermark maps them (`3pl_code` is normalised).
        data = data.rename_columns([source_name[n] for n in data.column_names])
        types = {f.name: str(f.type) for f in data.schema}
        fold("rows", data.num_rows, add)
        fold("sum_id", pc.sum(data["id"]).as_py(), add)
        fold("sum_amount", pc.sum(data["amount"]).as_py(), add)
        fold("sum_weight", pc.sum(data["weight"]).as_py(), add)
        fold("min_rate", pc.min(data["rate"]).as_py(), min)
        fold("max_created_at", pc.max(data["created_at"]).as_py(), max)
        fold("max_updated_at", pc.max(data["updated_at"]).as_py(), max)
        fold("remark_nulls", data["remark"].null_count, add)
        fold("remark_chars", pc.sum(pc.utf8_length(data["remark"])).as_py() or 0, add)
        fold("ship_date_nulls", data["ship_date"].null_count, add)
        fold("updated_at_nulls", data["updated_at"].null_count, add)
        fold("sum_3pl_code", pc.sum(data["3pl_code"].cast(pa.int64())).as_py(), add)
        fold("sum_is_paid", pc.sum(data["is_paid"].cast(pa.int64())).as_py(), add)
        fold("max_id", pc.max(data["id"]).as_py(), max)
    return acc, types


EXPECTED_TYPES = {
    "id": "decimal128(20, 0)",
    "amount": "decimal128(15, 4)",
    "weight": "decimal128(10, 3)",
    "is_paid": "int16",
    "created_at": "timestamp[us, tz=UTC]",
    "updated_at": "timestamp[us, tz=UTC]",
    "ship_date": "date32[day]",
    "remark": "string",
    "extra": "string",
    "rate": "double",
    "3pl_code": "int32",
}


def compare(source: dict[str, Any], got: dict[str, Any], types: dict[str, str]) -> list[str]:
    problems = []
    for key, want in source.items():
        have = got.get(key, 0 if "nulls" in key or "chars" in key else None)
        if hasattr(have, "tzinfo") and have.tzinfo is not None:
            have = have.astimezone(UTC).replace(tzinfo=None)  # MySQL's answer is UTC, naive
        if isinstance(want, Decimal) or isinstance(have, Decimal):
            equal = Decimal(str(want)) == Decimal(str(have))
        else:
            equal = want == have
        if not equal:
            problems.append(f"{key}: source {want!r}, parquet {have!r}")
    for name, want in EXPECTED_TYPES.items():
        if types.get(name) != want:
            problems.append(f"type of {name}: {types.get(name)} (planner: {want})")
    return problems


# -- the runs ----------------------------------------------------------------------------------
def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(PY).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, endpoint


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip


def empty_bucket(client, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def cpu_text(cpu: dict[str, float]) -> str:
    """`client 7.9 + server 7.4 (+ moto 0.9)`: CPU seconds of the run and of the others."""
    parts = [f"{name} {cpu[name]:.1f}" for name in ("client", "server") if name in cpu]
    text = " + ".join(parts)
    return text + (f" (+ moto {cpu['moto']:.1f})" if cpu.get("moto", 0) >= 0.05 else "")


def fmt_row(
    name: str, rows: int, outs: list[dict[str, Any]], rss: list[float], mb: float,
    ref: tuple[float, float],
) -> str:  # fmt: skip
    secs = [o["seconds"] for o in outs]
    best, med = min(secs), statistics.median(secs)
    cpu = {k: statistics.median(o["cpu"].get(k, 0.0) for o in outs) for k in outs[0]["cpu"]}
    return (
        f"| {name:<26} | {best:6.2f} / {med:6.2f} | {rows / med:>9,.0f} | {mb / med:6.1f} "
        f"| {max(rss):6.0f} | {cpu_text(cpu)} | {best / ref[0]:4.2f} / {med / ref[1]:4.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true")
    parser.add_argument("--no-incremental", action="store_true")
    parser.add_argument("--drop", action="store_true", help="drop mra_test_bench at the end")
    parser.add_argument("--json-output", help="write the figures here too")
    parser.add_argument(
        "--writer-experiment",
        metavar="OPTIONS",
        default="",
        help="also run the project with these pyarrow ParquetWriter options, e.g. "
        '"use_dictionary=False,compression_level=1" (patched in that run\'s process only)',
    )
    parser.add_argument(
        "--reader",
        default="auto",
        choices=["auto", "wire", "connectorx", "pymysql"],
        help="the MySQL source's `reader:` for the project's runs",
    )
    args = parser.parse_args()
    READER["name"] = args.reader
    OTHERS["server"] = server_pid()

    have = bench_table.row_count()
    if have != args.rows:
        print(f"building {bench_table.DATABASE}.{bench_table.TABLE} with {args.rows:,} rows ...")
        bench_table.build(args.rows)
    source = bench_table.source_checks()
    size_mb = bench_table.size_bytes() / 1e6
    print(f"table: {args.rows:,} rows, {size_mb:,.0f} MB (InnoDB data), "
          f"{size_mb * 1e6 / args.rows:.0f} bytes/row; {os.cpu_count()} cores")  # fmt: skip

    work = Path(tempfile.mkdtemp(prefix="mra-bench-"))
    moto = endpoint = client = None
    kinds = ["project local", *([] if args.no_s3 else ["project s3"]), "reference"]
    if args.writer_experiment:
        kinds.insert(1, TUNED)
    if not args.no_s3:
        for var, value in child_env().items():
            if var.startswith("AWS_"):
                os.environ.setdefault(var, value)  # moto's dummy credentials, for the checks
        moto, endpoint = start_moto()
        OTHERS["moto"] = moto.pid
        client = s3_client(endpoint)
        client.create_bucket(Bucket="mra-bench")
    results: dict[str, list[tuple[dict[str, Any], float]]] = {k: [] for k in kinds}
    failures: list[str] = []
    try:
        for rep in range(args.repeat):
            for kind in kinds:
                run_dir = work / f"{kind.replace(' ', '-')}-{rep}"
                if kind == "reference":
                    run_dir.mkdir(parents=True)
                    out, rss = run_child(["reference", str(run_dir)])
                else:
                    store = (
                        {"kind": "local", "path": str(run_dir / "store")}
                        if kind != "project s3"
                        else {"kind": "s3", "bucket": "mra-bench", "prefix": f"run{rep}",
                              "endpoint_url": endpoint, "region": "us-east-1"}
                    )  # fmt: skip
                    write_pipelines(run_dir / "pipelines", store)
                    extra = [args.writer_experiment] if kind == TUNED else []
                    out, rss = run_child(["project", str(run_dir / "pipelines"), "store", *extra])
                    if rep == 0:
                        got, types = parquet_checks(run_dir / "pipelines")
                        problems = compare(source, got, types)
                        failures += [f"{kind}: {p}" for p in problems]
                        print(f"  {kind}: values {'EXACT' if not problems else 'DIFFER'}")
                results[kind].append((out, rss))
                print(
                    f"  run {rep + 1}/{args.repeat} {kind:<14} {out['seconds']:6.2f} s  "
                    f"{out['rows'] / out['seconds']:>9,.0f} rows/s  peak RSS {rss:5.0f} MB  "
                    f"{out.get('files', 1)} file(s), {out['bytes'] / 1e6:,.0f} MB, "
                    f"cores busy {out['machine_busy']:.0%} (idle before {out['idle_before']:.0%})"
                    + (f" (read {out['read_seconds']:.2f} s)" if "read_seconds" in out else "")
                    + f", CPU s {cpu_text(out['cpu'])}, steal {out['steal']:.0%}"
                )
                if kind == "project s3" and client is not None:
                    empty_bucket(client, "mra-bench")
                shutil.rmtree(run_dir, ignore_errors=True)

        ref_best = min(o["seconds"] for o, _ in results["reference"])
        ref_med = statistics.median(o["seconds"] for o, _ in results["reference"])
        print()
        print(f"whole table, {args.rows:,} rows, {size_mb:,.0f} MB; {args.repeat} runs each")
        print("| path                       | wall s best / median | rows/s (median) | MB/s | "
              "peak RSS MB | CPU s (median) | vs reference best / median |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        summary: dict[str, Any] = {"rows": args.rows, "table_mb": size_mb, "runs": {}}
        for kind in kinds:
            secs = [o["seconds"] for o, _ in results[kind]]
            rss = [r for _, r in results[kind]]
            outs = [o for o, _ in results[kind]]
            print(fmt_row(kind, args.rows, outs, rss, size_mb, (ref_best, ref_med)))
            summary["runs"][kind] = {
                "seconds": secs, "peak_rss_mb": rss,
                "cpu": [o["cpu"] for o, _ in results[kind]],
                "steal": [o["steal"] for o, _ in results[kind]],
                "files": results[kind][0][0].get("files"),
                "file_mb": results[kind][0][0].get("file_mb"),
            }  # fmt: skip
        for kind in kinds[:-1]:
            med = statistics.median(o["seconds"] for o, _ in results[kind])
            peak = max(r for _, r in results[kind])
            print(
                f"{kind}: median wall {med / ref_med:.2f}x the reference's "
                f"(target <= 0.90: {'met' if med / ref_med <= 0.9 else 'NOT met'}), "
                f"peak RSS {peak:.0f} MB (target <= 350: {'met' if peak <= 350 else 'NOT met'})"
            )
        if args.writer_experiment:
            print(f"* store/parquet.py's writer with {args.writer_experiment} (an experiment)")
        if not args.no_incremental:
            summary["incremental"] = incremental(work)
            summary["delete_pass"] = delete_pass(work)
            summary["changes"] = changed_rows(work)
        if args.json_output:
            Path(args.json_output).write_text(json.dumps(summary, indent=1, default=str))
    finally:
        if moto is not None:
            moto.terminate()
            moto.wait()
        shutil.rmtree(work, ignore_errors=True)
        if args.drop:
            bench_table.drop()
    if failures:
        print("VALUES DIFFER:\n  " + "\n  ".join(failures))
        raise SystemExit(1)
    print("values: exact (rows, sums of id/amount/weight, min rate, max timestamps, text NULLs "
          "and characters, zero dates as NULL, planner types)")  # fmt: skip


def incremental(work: Path) -> dict[str, Any]:
    """1,000 new rows, end to end through the CLI (Dagster, local store, DuckDB)."""
    import duckdb

    folder = write_pipelines(work / "incr" / "pipelines", {"kind": "local", "path": str(work / "incr" / "store")})  # fmt: skip
    home = work / "incr" / "home"
    home.mkdir(parents=True)
    os.environ["DAGSTER_HOME"] = str(home)  # inherited by the CLI through run_child
    args = ["cli", "--pipelines-dir", str(folder), "sync", "-p", "bench"]

    def sync() -> tuple[float, float]:
        out, _ = run_child(args)
        return out["seconds"], out["cli_peak_rss_mb"]

    first, first_rss = sync()  # the initial copy and load (the whole table)
    top = bench_table.source_checks()["max_id"]
    lo, hi = bench_table.append(1000)
    try:
        secs, rss = sync()
        with duckdb.connect(str(folder / "wh.duckdb"), read_only=True) as con:
            loaded = con.execute(f"SELECT COUNT(*) FROM bench.{bench_table.TABLE}").fetchone()[0]
        mysql_rows = bench_table.source_checks()["rows"]
    finally:
        bench_table.delete_above(top)
    ok = loaded == mysql_rows
    print()
    print(f"initial sync (whole table, extract + DuckDB load, CLI): {first:.1f} s, "
          f"peak RSS {first_rss:.0f} MB")  # fmt: skip
    print(f"incremental sync of 1,000 new rows (ids {lo}..{hi}), CLI end to end into DuckDB: "
          f"{secs:.1f} s, peak RSS {rss:.0f} MB; DuckDB {loaded:,} rows = MySQL {mysql_rows:,}: "
          f"{'yes' if ok else 'NO'}")  # fmt: skip
    if not ok:
        raise SystemExit("incremental run: DuckDB and MySQL disagree")
    return {"initial_seconds": first, "seconds": secs, "peak_rss_mb": rss, "equal": ok}


def delete_pass(work: Path) -> dict[str, Any]:
    """The delete pass on the table `incremental()` loaded: nothing deleted, then 100 deletes
    (the deleted rows are put back afterwards, so the table is kept between runs)."""
    folder = work / "incr" / "pipelines"
    run_child(["deletes", str(folder), "settle"])  # the rows incremental() removed again
    index_read = statistics.median(bench_table.primary_index_read_seconds() for _ in range(3))
    print(f"one read of MySQL's primary-key index (the yardstick): {index_read:.2f} s")
    figures: dict[str, Any] = {"primary_index_read_seconds": index_read}
    for label in ("nothing deleted", "100 deletes"):
        saved = bench_table.delete_spread(100) if label == "100 deletes" else None
        try:
            out, rss = run_child(["deletes", str(folder), label.replace(" ", "-")])
        finally:
            if saved is not None:
                bench_table.restore(saved)
        scanned = out["mysql_keys"] + out["warehouse_keys"]
        figures[label] = {**out, "peak_rss_mb": rss}
        print(f"delete pass, {label}: {out['seconds']:.2f} s, {out['rows_deleted']} row(s) "
              f"deleted; {out['mysql_keys']:,} MySQL + {out['warehouse_keys']:,} warehouse keys "
              f"({scanned / out['seconds']:,.0f} keys/s, MySQL {out['mysql_keys'] / out['seconds']:,.0f}/s), "
              f"{out['buckets']:,} buckets, {out['keys_fetched']:,} keys fetched; "
              f"peak RSS {rss:.0f} MB; {out['seconds'] / index_read:.1f}x one index read")  # fmt: skip
        expected = 100 if saved is not None else 0
        if out["rows_deleted"] != expected:
            raise SystemExit(f"delete pass: {out['rows_deleted']} deleted, {expected} expected")
    return figures


SMALL_TABLE, SMALL_ROWS = "settle_orders_20k", 20_000


def changed_rows(work: Path) -> dict[str, Any]:
    """1,000 rows updated in MySQL, synced through the CLI (extract on the `updated_at` cursor
    with the default 900 s re-read window, DuckDB load): on the bench table and on a 20k-row
    one. The cost must not grow with the table."""
    import duckdb

    bench_table.build_small(SMALL_TABLE, SMALL_ROWS)
    spec = {"mode": "incremental", "cursor": "updated_at", "deletes": "ignore"}
    figures: dict[str, Any] = {}
    print()
    for table in (bench_table.TABLE, SMALL_TABLE):
        base = work / f"changes-{table}"
        folder = write_pipelines(
            base / "pipelines",
            {"kind": "local", "path": str(base / "store")},
            table=table,
            spec=spec,
        )
        home = base / "home"
        home.mkdir(parents=True)
        os.environ["DAGSTER_HOME"] = str(home)
        args = ["cli", "--pipelines-dir", str(folder), "sync", "-p", "bench"]
        run_child(args)  # the initial copy
        saved = bench_table.change_spread(table, 1000)
        try:
            out, _ = run_child(args)
            with duckdb.connect(str(folder / "wh.duckdb"), read_only=True) as con:
                got = con.execute(f"SELECT COUNT(*), SUM(amount) FROM bench.{table}").fetchone()
            with bench_table.connect() as conn, conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*), SUM(amount) FROM `{table}`")
                want = cur.fetchone()
        finally:
            bench_table.restore_changed(table, saved)
        equal = tuple(got) == tuple(want)
        figures[table] = {
            "seconds": out["seconds"],
            "peak_rss_mb": out["cli_peak_rss_mb"],
            "equal": equal,
        }
        print(f"sync of 1,000 updated rows, {table} ({int(want[0]):,} rows), CLI end to end with "
              f"the 900 s re-read window: {out['seconds']:.1f} s, peak RSS "
              f"{out['cli_peak_rss_mb']:.0f} MB; DuckDB = MySQL (count, sum): {'yes' if equal else 'NO'}")  # fmt: skip
        if not equal:
            raise SystemExit(f"changed rows: DuckDB {got} != MySQL {want}")
    with bench_table.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS `{SMALL_TABLE}`")
    big, small = (figures[t]["seconds"] for t in (bench_table.TABLE, SMALL_TABLE))
    print(f"  ratio {bench_table.TABLE} / {SMALL_TABLE}: {big / small:.2f}")
    return figures


if __name__ == "__main__":
    main()
