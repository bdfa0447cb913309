"""`make demo`: the whole pipeline on a fresh machine with no server at all.

A MySQL-shaped demo database (SQLite files, MySQL column types) -> Parquet in a local folder ->
DuckDB, run through Dagster so the runs appear in `dagster dev`. Each run adds and updates some
rows first, so a second `make demo` shows incremental extraction and merge.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg

from mysql_redshift_assets.config.connections import DemoSourceSpec
from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.config.resolve import table_config, table_configs
from mysql_redshift_assets.connect import open_warehouse
from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.identifiers import qualified
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.naming import pipeline_job_name, table_job_name, target_table
from mysql_redshift_assets.project import load_project

SCHEMA = {
    "customers": """CREATE TABLE customers (
        id BIGINT UNSIGNED PRIMARY KEY, name VARCHAR(100) NOT NULL, email VARCHAR(255),
        country CHAR(2), created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL)""",
    "orders": """CREATE TABLE orders (
        id BIGINT UNSIGNED PRIMARY KEY, customer_id BIGINT UNSIGNED NOT NULL,
        amount DECIMAL(15,4) NOT NULL, weight_kg DECIMAL(10,3), paid TINYINT(1) NOT NULL,
        status VARCHAR(16) NOT NULL, note TEXT, `190_time` INT,
        created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL)""",
    "products": """CREATE TABLE products (
        sku VARCHAR(32) PRIMARY KEY, title VARCHAR(200) NOT NULL, price DECIMAL(12,2) NOT NULL,
        in_stock INT NOT NULL)""",
    "events": """CREATE TABLE events (
        id BIGINT PRIMARY KEY, kind VARCHAR(16) NOT NULL, order_id BIGINT,
        created_at DATETIME(6) NOT NULL)""",
}
EVENT_DAYS = 3  # the demo materialises the last complete days of the daily-partitioned events
NAMES = ["Ana", "Bjørn", "Chen 陈", "Dara", "Émile", "Farah", "Gus 🚀", "Hiro"]


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _folder(project: Project) -> Path:
    for spec in project.connections.sources.values():
        if isinstance(spec, DemoSourceSpec):
            return project.resolve_path(spec.path)
    raise SystemExit("no `kind: demo` source in connections.yml")


def create_or_grow(folder: Path, rng: random.Random) -> dict[str, int]:
    """Create the demo database on first use; later, insert and update a few rows."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "shop.sqlite"
    fresh = not path.exists()
    con = sqlite3.connect(path)
    # Written a minute in the past so the extractor's late-commit lag does not hold them back.
    now = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    changed = {"inserted": 0, "updated": 0}
    with con:
        if fresh:
            for ddl in SCHEMA.values():
                con.execute(ddl)
            for i in range(1, 51):
                con.execute(
                    "INSERT INTO products VALUES (?, ?, ?, ?)",
                    (
                        f"SKU-{i:04d}",
                        f"Product {i}",
                        str(Decimal(rng.randint(100, 99999)) / 100),
                        rng.randint(0, 500),
                    ),
                )
        start = (con.execute("SELECT COALESCE(MAX(id), 0) FROM orders").fetchone() or [0])[0]
        new_orders = 2000 if fresh else 150
        # Like an application writing NOW(): later rows never get earlier timestamps.
        latest = con.execute("SELECT MAX(updated_at) FROM orders").fetchone()[0]
        base = datetime.fromisoformat(latest) if latest else now - timedelta(days=1)
        step = max((now - base) / (new_orders + 1), timedelta(microseconds=1))
        for i in range(start + 1, start + new_orders + 1):
            created = base + step * (i - start)
            if i <= start + (200 if fresh else 10):
                cid = start + i
                con.execute(
                    "INSERT OR IGNORE INTO customers VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        cid,
                        rng.choice(NAMES),
                        f"user{cid}@example.com",
                        rng.choice(["NO", "CN", "FR", None]),
                        _ts(created),
                        _ts(created),
                    ),
                )
            con.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i,
                    rng.randint(1, 200),
                    f"{rng.randint(0, 10**8) / 10**4:.4f}",
                    f"{rng.randint(1, 10**6) / 1000:.3f}" if i % 7 else None,
                    rng.randint(0, 1),
                    rng.choice(["new", "paid", "shipped"]),
                    rng.choice(["", "gift 🎁", "leave at door", None]),
                    rng.randint(0, 86400),
                    _ts(created),
                    _ts(created),
                ),
            )
            changed["inserted"] += 1
        _grow_events(con, rng, now)
        if not fresh:
            for oid in rng.sample(range(1, start + 1), k=min(25, start)):
                con.execute(
                    "UPDATE orders SET status = 'refunded', updated_at = ? WHERE id = ?",
                    (_ts(now), oid),
                )
                changed["updated"] += 1
    con.close()
    return changed


def _grow_events(con: sqlite3.Connection, rng: random.Random, now: datetime) -> None:
    """About 100 events a day for the last days, written as they happen (never backdated)."""
    latest = con.execute("SELECT MAX(created_at) FROM events").fetchone()[0]
    start = (
        datetime.fromisoformat(latest)
        if latest
        else (now - timedelta(days=EVENT_DAYS + 1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    )
    next_id = (con.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0] or 0) + 1
    moment = start
    while True:
        moment += timedelta(minutes=rng.randint(1, 28))
        if moment >= now:
            break
        con.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            (next_id, rng.choice(["view", "cart", "buy"]), rng.randint(1, 2000), _ts(moment)),
        )
        next_id += 1


def _last_days(n: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=d)).isoformat() for d in range(n, 0, -1)]


def source_counts(folder: Path) -> dict[str, int]:
    con = sqlite3.connect(folder / "shop.sqlite")
    try:
        counts = {t: con.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in SCHEMA}
        first, last = _last_days(EVENT_DAYS)[0], _last_days(EVENT_DAYS)[-1]
        counts["events"] = con.execute(
            "SELECT COUNT(*) FROM events WHERE created_at >= ? AND created_at < date(?, '+1 day')",
            (first, last),
        ).fetchone()[0]
        return counts
    finally:
        con.close()


def run(project: Project) -> int:
    """Seed the demo source, run the pipeline's jobs, and report: what each asset did, and the
    source's rows against the warehouse's, table by table. 0 when every count is equal."""
    pipeline = project.pipeline("demo")
    folder = _folder(project)
    changed = create_or_grow(folder, random.Random())
    print(
        f"demo source: {folder} ({changed['inserted']} rows inserted, {changed['updated']} updated)"
    )
    days = _last_days(EVENT_DAYS)
    runs = _run_jobs(project, pipeline, days)
    for result in runs:
        print(f"dagster run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    _print_materializations(runs)
    warehouse = open_warehouse(project, pipeline.spec.target)
    try:
        ok = _compare_rows(warehouse, pipeline, folder, days)
    finally:
        warehouse.close()
    ok &= all(result.success for result in runs)
    print(f"\nParquet files: {project.resolve_path('../.local/demo/store')}")
    print(f"DuckDB warehouse: {getattr(warehouse, 'path', '')}")
    print(
        "Next: `make dev` (dg dev) and open http://127.0.0.1:3000 to see the assets and this run."
    )
    return 0 if ok else 1


def _run_jobs(
    project: Project, pipeline: Pipeline, days: list[str]
) -> list[dg.ExecuteInProcessResult]:
    """The pipeline's job, then the partitioned table's: a single-run backfill over `days`."""
    defs = build_definitions(project)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if not os.environ.get("DAGSTER_HOME"):
        # Where `make dev` looks, so these runs show in the UI.
        home = project.resolve_path("../.local/dagster_home")
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").touch()
        os.environ["DAGSTER_HOME"] = str(home)
    instance = dg.DagsterInstance.get()
    result = defs.resolve_job_def(pipeline_job_name(pipeline.name)).execute_in_process(
        instance=instance, raise_on_error=False, run_config=quiet
    )
    events_job = table_job_name(table_config(pipeline, "shop.events"))
    events = defs.resolve_job_def(events_job).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=quiet,
        tags={
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        },
    )
    return [result, events]


def _print_materializations(runs: list[dg.ExecuteInProcessResult]) -> None:
    """One line an asset. One materialization per asset, or per partition with that day's own
    figures: add them up."""
    totals: dict[str, dict[str, int]] = {}
    for event in [e for run in runs for e in run.get_asset_materialization_events()]:
        mat = event.step_materialization_data.materialization
        md = {k: v.value for k, v in mat.metadata.items()}
        entry = totals.setdefault("/".join(mat.asset_key.path), {"partitions": 0})
        entry["partitions"] += 1 if mat.partition else 0
        for name in ("rows", "files", "rows_loaded", "files_loaded"):
            value = md.get(name)
            if isinstance(value, int):
                entry[name] = entry.get(name, 0) + value
    for path, entry in totals.items():
        parts = f" over {entry['partitions']} daily partitions" if entry["partitions"] else ""
        if "rows" in entry:  # the Parquet asset
            print(
                f"  {path}: {entry['rows']:,} rows extracted into {entry['files']} file(s){parts}"
            )
        else:
            print(
                f"  {path}: {entry['rows_loaded']:,} rows loaded from {entry['files_loaded']} "
                f"new file(s){parts}"
            )


def _compare_rows(warehouse: Warehouse, pipeline: Pipeline, folder: Path, days: list[str]) -> bool:
    """Print the source's rows against the warehouse's, table by table (the partitioned table
    over the materialised `days` only); True when every count is equal."""
    counts = source_counts(folder)
    ok = True
    print("\nsource rows vs warehouse rows:")
    for table in table_configs(pipeline):
        schema, name = target_table(table)
        loaded = warehouse.row_count(schema, name)
        note = ""
        if table.partitioned:  # compare the materialised days only
            end = (datetime.fromisoformat(days[-1]) + timedelta(days=1)).date().isoformat()
            ph = warehouse.ph
            loaded = warehouse.fetchall(
                f"SELECT COUNT(*) FROM {warehouse.ref(schema, name)} "
                f'WHERE "created_at" >= {ph} AND "created_at" < {ph}',
                (days[0], end),
            )[0][0]
            note = f"  (partitions {days[0]} .. {days[-1]})"
        same = loaded == counts[table.source_table]
        ok &= same
        print(
            f"  {table.qualified:<16} source {counts[table.source_table]:>7,}   "
            f"warehouse {qualified(schema, name):<22} {loaded:>7,}   "
            f"{'equal' if same else 'DIFFERENT'}{note}"
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mysql_redshift_assets.demo")
    parser.add_argument("command", choices=["create", "run"], nargs="?", default="run")
    args = parser.parse_args(argv)
    project = load_project()
    if args.command == "create":
        print(create_or_grow(_folder(project), random.Random()))
        return 0
    return run(project)


if __name__ == "__main__":
    sys.exit(main())
