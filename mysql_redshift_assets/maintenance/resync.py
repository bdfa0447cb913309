"""Resync one table: re-extract it whole into a new generation and swap that into the warehouse.

What an operator runs after a schema change the loader refuses, or to start a table over
(`mysql-redshift resync -p <pipeline> -t <table>`, or the Dagster job `resync_<pipeline>`):

1. Under the table's lease, read the whole table in one MySQL snapshot into a new generation
   of files, in MySQL's current shape: every row the snapshot sees, never cut at the
   open-transaction bound (the generation replaces the warehouse table), and `COUNT(*)` in the
   same snapshot must equal the rows written (`extract/snapshot_bounds.py`). A partitioned
   table (time, id_range) is read window by window, in the same snapshot: every window the
   watermark has extracted becomes a new generation of its window. The live watermark is not
   touched: a crash or a count that differs here leaves the old state (the new files are
   orphans for `s3clean`).
2. One watermark write switches the table to its new life: a new lineage, the generation(s) as
   its only files, and (incremental) a position at or before the safe bound computed before the
   snapshot opened (the last row the snapshot holds at or below it), from which later
   increments continue: the rows of transactions open during the read are read by them.
   Increments of the old life not yet loaded are dropped with it: the generation holds every
   row they held, newer.
3. The load swaps the generation in (`load/swap.py`: side table, then DROP + RENAME and the
   ledger rows in one transaction; the old table stays readable until then), then merges any
   increment after it, and the delete pass follows: the load and delete steps of a table's
   sync (`sync/table.py`). A partitioned table's windows are swapped in together, in that one
   transaction; each window's next run then replaces its window as before. A crash before the
   swap commits leaves the old table: the next load of an unpartitioned table (sync or resync)
   swaps the recorded generation in; a partitioned table is resynced again.

A partitioned table is resynced whole, never one window: a changed shape is a property of the
table, and one swap keeps every window in the same shape at every moment.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import Scan, TablePlan, plan_table, read_table
from mysql_redshift_assets.extract.bounds import window_bounds
from mysql_redshift_assets.extract.keyset import Bound
from mysql_redshift_assets.extract.position import Position
from mysql_redshift_assets.extract.snapshot_bounds import (
    WindowProof,
    carried_proofs,
    check_written,
    generation_bound,
    last_row_within,
    snapshot_rows,
    window_proof,
)
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadResult
from mysql_redshift_assets.load.swap import swap_in
from mysql_redshift_assets.maintenance.windows import known_partitions, window_of
from mysql_redshift_assets.naming import generation_id, target_table
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.fenced import FencedStore
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.sync.binlog_copy import copy_at_position
from mysql_redshift_assets.sync.clients import OpenClients
from mysql_redshift_assets.sync.files import FileSet, FileSink
from mysql_redshift_assets.sync.load import (
    candidate_files,
    load_request,
    physical_keys,
    replace_window,
    watermark_fence,
    with_fresh_watermark,
)
from mysql_redshift_assets.sync.table import SyncRun, TableSync


class ResyncError(ValueError):
    """A table this command cannot resync; the message says what to do instead."""


@dataclass
class ResyncResult:
    table: str
    generations: list[str] = field(default_factory=list)  # the table's, or one a window
    windows: list[str] = field(default_factory=list)  # a partitioned table's, in that order
    rows_extracted: int = 0
    files: list[FileRecord] = field(default_factory=list)
    load: LoadResult = field(default_factory=LoadResult)
    warnings: list[str] = field(default_factory=list)
    position: Position | None = None  # where the increments after it start (incremental)


def resync_table(
    source: Source,
    store: ObjectStore,
    warehouse: Warehouse,
    table: TableConfig,
    *,
    run_id: str,
) -> ResyncResult:
    """Re-extract `table` into a new generation, switch the watermark to it, swap it in."""
    watermarks = WatermarkStore(store)
    if table.partitioned:
        refuse_rows_outside_windows(warehouse, table, watermarks.load(table))
    if table.binlog:  # the copy at a binlog position the stream continues from
        copied = copy_at_position(source, store, watermarks, table, run_id=run_id)
        result = ResyncResult(table=table.qualified, windows=[])
        result.files, result.generations = copied.files, [copied.generation or ""]
        result.rows_extracted, result.warnings = copied.rows, copied.warnings
    else:
        result = extract_generation(source, store, watermarks, table, run_id=run_id)
    if table.partitioned:
        result.load, warnings = swap_windows(warehouse, store, watermarks, table, run_id)
    else:  # a table's sync without its extraction: the load (the swap), then the delete pass
        sync = TableSync(table, OpenClients(source, store, warehouse), SyncRun(run_id))
        done = sync.run(extract=False).raise_failure()
        assert done.loaded is not None
        result.load, warnings = done.load_result(), done.loaded.warnings
    result.warnings += warnings
    return result


def extract_generation(
    source: Source,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
) -> ResyncResult:
    """Steps 1 and 2: the new generation(s) in the store, then the one watermark write."""
    with table_lease(watermarks.store, table, run_id) as lease:
        store = FencedStore(store, lease)  # no upload once the lease is lost
        old = watermarks.load(table)
        windows = _windows(table, old)
        plan = plan_table(source, table, old.columns if old else None)
        watermark = Watermark(table=table.qualified, mode=table.mode)  # a new lineage
        watermark.warehouse_names = old.warehouse_names if old else {}  # the same table
        watermark.row_filter = table.where
        watermark.begin_session(run_id, plan.column_map, plan.primary_key, plan.cursor)
        result = ResyncResult(table=table.qualified, windows=[w.key for w in windows if w])
        # Every bound before the snapshot opens: what it cannot see is later than them.
        safe = _safe_bound(source, plan, old, watermark, result)
        scans = [_scan(source, plan, window, watermark, old) for window in windows]
        tmp = Path(tempfile.mkdtemp(prefix="mra-resync-"))
        reader = _Reader(source, store, plan, watermark, run_id, tmp, result)
        try:
            with source.snapshot():
                for window, (scan, proof) in zip(windows, scans, strict=True):
                    reader.extract(scan, window, proof)
                if table.mode == "incremental":
                    watermark.position = last_row_within(source, plan, safe)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        result.position = watermark.position
        watermark.succeed()
        watermarks.save(table, watermark)  # the switch: one write
    result.rows_extracted = sum(f.rows for f in result.files)
    return result


def _windows(table: TableConfig, old: Watermark | None) -> list[Window | None]:
    """What to read: the whole table (None), or every window the watermark has extracted."""
    if not table.partitioned:
        return [None]
    keys = known_partitions(old)
    if not keys:
        raise ResyncError(
            f"{table.qualified} is partitioned ({table.mode}): no window extracted yet, nothing "
            "to resync. Sync its windows: "
            f"`mysql-redshift sync -p {table.pipeline} -t {table.qualified} --partition <key>`"
        )
    return [window_of(table, key) for key in keys]


def refuse_rows_outside_windows(
    warehouse: Warehouse, table: TableConfig, old: Watermark | None
) -> None:
    """The swap keeps the extracted windows only: warehouse rows in none of them (loaded under a
    watermark since removed, or written by something else) refuse the resync before it writes."""
    schema, name = target_table(table, old)
    windows = [w for w in _windows(table, old) if w is not None]
    scopes = [s for s in (replace_window(w, old) for w in windows) if s] if old else []
    if not scopes or not warehouse.table_columns(schema, name):
        return
    col, ph = quote_ident(scopes[0][0]), warehouse.ph
    inside = " OR ".join(f"({col} >= {ph} AND {col} < {ph})" for _ in scopes)
    sql = (
        f"SELECT COUNT(*) FROM {warehouse.ref(schema, name)} WHERE NOT ({inside}) OR {col} IS NULL"
    )
    outside = int(warehouse.fetchall(sql, [v for _, lo, hi in scopes for v in (lo, hi)])[0][0])
    warehouse.commit()
    if outside:
        raise ResyncError(
            f"{table.qualified}: {outside:,} row(s) of {warehouse.name}:{schema}.{name} lie in no "
            f"extracted window, and a resync keeps the extracted windows only. Sync their windows "
            f"first (`mysql-redshift sync -p {table.pipeline} -t {table.qualified} --partition "
            "<key>`), or delete those rows; nothing was written"
        )


def _safe_bound(
    source: Source,
    plan: TablePlan,
    old: Watermark | None,
    watermark: Watermark,
    result: ResyncResult,
) -> Bound | None:
    """An incremental table's safe bound, before the snapshot opens (`snapshot_bounds.py`):
    the increments after the resync start at the last row at or below it. An AUTO_INCREMENT
    key carries the old watermark's samples and position into it."""
    if plan.table.mode != "incremental":
        return None
    same = old is not None and (old.cursor, old.primary_key) == (plan.cursor, plan.primary_key)
    proofs = (old.position, old.samples) if old is not None else (None, [])
    bound = generation_bound(source, plan, carried_proofs(source, plan, proofs, same))
    watermark.samples = bound.samples
    result.warnings += bound.warnings
    return bound.upper


def _scan(
    source: Source,
    plan: TablePlan,
    window: Window | None,
    watermark: Watermark,
    old: Watermark | None,
) -> tuple[Scan, WindowProof | None]:
    """What one generation reads: a window (inside `[lo, hi)`, and for a window still open in
    time below its `now - lag` bound, as its sync would) with what its read can prove, or
    every row of the table."""
    if window is None:
        return Scan(plan), None
    bounds, upper = window_bounds(source, plan, window)
    samples = watermark.samples or (old.samples if old is not None else [])
    proof = window_proof(source, plan, window, samples)
    watermark.samples = proof.samples
    return Scan(plan, upper=upper, bounds=tuple(bounds)), proof


@dataclass
class _Reader:
    """One resync's reading: each generation into the store, then into the new watermark."""

    source: Source
    store: ObjectStore
    plan: TablePlan
    watermark: Watermark
    run_id: str
    tmp: Path
    result: ResyncResult

    def extract(self, scan: Scan, window: Window | None, proof: WindowProof | None) -> None:
        """One generation, of the table or of one window."""
        generation = generation_id(self.run_id)
        self.watermark.begin_generation(generation, window.key if window else None)
        if proof is not None:
            self.watermark.prove_generation(
                generation, proof.safe_bound, provisional=not proof.complete
            )
            self.result.warnings += proof.warnings
        local = self.tmp / (window.safe_key if window else "table")
        local.mkdir()
        sink = FileSink(self._file_set(generation, window), self.store, local)
        counted = snapshot_rows(self.source, scan)
        files = sink.write_all(read_table(self.source, scan)) or list(sink.write_empty())
        what = f"the resync of window {window.key}" if window else "the resync"
        check_written(self.plan.table.qualified, what, counted, sum(f.rows for f in files))
        for record in files:
            self.watermark.record_file(record, None)
        self.watermark.end_generation(generation, complete=True)
        self.result.generations.append(generation)
        self.result.files += files

    def _file_set(self, generation: str, window: Window | None) -> FileSet:
        table = self.plan.table
        truncate = table.text_overflow == "truncate"
        return FileSet(
            table=table,
            schema=self.plan.arrow_schema,
            columns=[FileColumn.from_planned(c, truncate_text=truncate) for c in self.plan.columns],
            run_id=self.run_id,
            generation=generation,
            partition=window.key if window else None,
            partition_path=window.safe_key if window else None,
            primary_key=self.plan.key_names,
        )


def swap_windows(
    warehouse: Warehouse,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    run_id: str,
) -> tuple[LoadResult, list[str]]:
    """Step 3 of a partitioned table: the newest generation of every window, swapped in as one
    table in one transaction (the ledger records every file); fenced as a load is
    (`sync/load.py`): a window's newer generation or a later resync met under the lock sends
    it back to the watermark as it is then."""

    def swap(watermark: Watermark) -> tuple[LoadResult, list[str]]:
        keys = known_partitions(watermark)
        files = [f for key in keys for f in candidate_files(table, watermark, key)]
        fence = watermark_fence(watermarks, table, watermark, keys)
        request = load_request(table, watermark, None, run_id=run_id, fence=fence, candidates=files)
        return swap_in(warehouse, store, request), physical_keys(table, watermark)[2]

    swapped = with_fresh_watermark(watermarks, table, swap)
    if swapped is None:
        raise ResyncError(f"{table.qualified}: the watermark the resync wrote is gone")
    return swapped
