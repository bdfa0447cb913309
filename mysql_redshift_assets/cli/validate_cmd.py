"""`validate`: do MySQL, the Parquet files and the warehouse agree? (Each table reconciled,
`maintenance/validate.py`; a partitioned one window by window.)"""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.cli.common import Context, fail, find_tables
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.maintenance.validate import TableCounts, reconcile_table, table_error
from mysql_redshift_assets.state.watermark import WatermarkStore


def validate(ctx: Context, args: Any) -> int:
    tables = find_tables(ctx.project, args.pipeline, [args.table] if args.table else None)
    partition = getattr(args, "partition", None)
    if partition:
        tables = [t for t in tables if t.partitioned]
        if not tables:
            return fail(f"--partition {partition}: no partitioned table selected", 2)
    results, ok = [], True
    if not ctx.as_json:
        print(f"{'table':<40} {'source':>10} {'parquet':>10} {'warehouse':>10}  verdict")
    for table in tables:
        try:
            counts = _reconcile_one(ctx, table, [partition] if partition else None)
        except Exception as exc:  # one table's error is that table's verdict: the others go on
            counts = table_error(table, exc)
        ok &= counts.verdict in ("ok", "empty")
        results.append(counts.as_dict())
        if not ctx.as_json:
            _print_counts(counts)
    ctx.emit(results)
    return 0 if ok else 1


def _reconcile_one(ctx: Context, table: TableConfig, partitions: list[str] | None) -> TableCounts:
    source = open_source(ctx.project, table.source)
    try:
        warehouse = open_warehouse(ctx.project, table.target)
        try:
            store = WatermarkStore(open_store(ctx.project, table.store))
            return reconcile_table(source, store, warehouse, table, partitions=partitions)
        finally:
            warehouse.close()
    finally:
        source.close()


def _print_counts(counts: TableCounts) -> None:
    print(
        f"{counts.table:<40} {counts.source_rows:>10,} {counts.parquet_rows:>10,} "
        f"{counts.warehouse_rows:>10,}  {counts.verdict.upper()}: {counts.note}"
    )
    for w in counts.windows:
        verdict = w.verdict.replace("_", " ").upper()
        print(
            f"  {'window ' + w.partition:<38} {w.source_rows:>10,} {w.parquet_rows:>10,} "
            f"{w.warehouse_rows:>10,}  {verdict}: {w.note}"
        )
