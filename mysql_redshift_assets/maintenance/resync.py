"""Resync one table: re-extract it whole into a new generation and swap that into the warehouse.

What an operator runs after a schema change the loader refuses, or to start a table over
(`mysql-redshift resync -p <pipeline> -t <table>`, or the Dagster job `resync_<pipeline>`):

1. Under the table's lease, read the whole table in one MySQL snapshot (rows up to what is
   provably committed, as an increment would) into a new generation of files, in MySQL's
   current shape. The live watermark is not touched: a crash here leaves the old state
   (the new files are orphans for `s3clean`).
2. One watermark write switches the table to its new life: a new lineage, the generation as its
   only files, and (incremental) the position of the generation's last row, from which later
   increments continue. Increments of the old life not yet loaded are dropped with it: the
   generation holds every row they held, newer.
3. The load swaps the generation in (`load/swap.py`: side table, then DROP + RENAME and the
   ledger rows in one transaction; the old table stays readable until then), then merges any
   increment after it. A crash before the swap commits leaves the old table, and the next
   load (sync or resync) swaps the recorded generation in.

Partitioned tables are not resynced here: their windows are Dagster partitions; reload them
into a fresh target instead (see docs/schema-changes.md).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import Batch, Scan, TablePlan, plan_table, read_table
from mysql_redshift_assets.extract.bounds import run_bounds
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadResult
from mysql_redshift_assets.naming import generation_id
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.sync.files import FileSet, FileSink
from mysql_redshift_assets.sync.load import load_table


class ResyncError(ValueError):
    """A table this command cannot resync; the message says what to do instead."""


@dataclass
class ResyncResult:
    table: str
    generation: str
    rows_extracted: int = 0
    files: list[FileRecord] = field(default_factory=list)
    load: LoadResult = field(default_factory=LoadResult)
    warnings: list[str] = field(default_factory=list)


def resync_table(
    source: Source,
    store: ObjectStore,
    warehouse: Warehouse,
    table: TableConfig,
    *,
    run_id: str,
) -> ResyncResult:
    """Re-extract `table` into a new generation, switch the watermark to it, swap it in."""
    if table.partitioned:
        raise ResyncError(
            f"{table.qualified} is partitioned ({table.mode}): its windows are reloaded one by "
            f"one. Drop the warehouse table, then run `mysql-redshift sync -p {table.pipeline} "
            f"-t {table.qualified} --partition-range <first>...<last>` over every window"
        )
    watermarks = WatermarkStore(store)
    result = extract_generation(source, store, watermarks, table, run_id=run_id)
    result.load, result.warnings = load_table(
        warehouse, store, watermarks, table, run_id=run_id, source=source
    )
    return result


def extract_generation(
    source: Source,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
) -> ResyncResult:
    """Steps 1 and 2: the new generation in the store, then the one watermark write."""
    with table_lease(watermarks.store, table, run_id):
        old = watermarks.load(table)
        plan = plan_table(source, table, old.columns if old else None)
        watermark = Watermark(table=table.qualified, mode=table.mode)  # a new lineage
        watermark.begin_session(run_id, plan.column_map, plan.primary_key, plan.cursor)
        generation = generation_id(run_id)
        watermark.begin_generation(generation, None)
        result = ResyncResult(table=table.qualified, generation=generation)
        scan = Scan(plan)
        if table.mode == "incremental":
            bounds = run_bounds(source, plan, None, [])
            watermark.samples = bounds.samples
            scan = Scan(plan, upper=bounds.upper)
        tmp = Path(tempfile.mkdtemp(prefix="mra-resync-"))
        try:
            sink = FileSink(_file_set(table, plan, run_id, generation), store, tmp)
            with source.snapshot():
                _write(read_table(source, scan), sink, result)
            if not result.files:
                result.files += list(sink.write_empty())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for record in result.files:
            watermark.record_file(record, None)
        if table.mode == "incremental" and result.files:
            watermark.position = result.files[-1].last or watermark.position
        watermark.end_generation(generation, complete=True)
        watermark.succeed()
        watermarks.save(table, watermark)  # the switch: one write
    result.rows_extracted = sum(f.rows for f in result.files)
    return result


def _file_set(table: TableConfig, plan: TablePlan, run_id: str, generation: str) -> FileSet:
    truncate = table.text_overflow == "truncate"
    return FileSet(
        table=table,
        schema=plan.arrow_schema,
        columns=[FileColumn.from_planned(c, truncate_text=truncate) for c in plan.columns],
        run_id=run_id,
        generation=generation,
    )


def _write(batches: Iterable[Batch], sink: FileSink, result: ResyncResult) -> None:
    try:
        for batch in batches:
            result.files += list(sink.write(batch))
        result.files += list(sink.finish())
    except BaseException:
        list(sink.abort())
        raise
