"""MySQL -> Parquet files in the object store, with the watermark advanced file by file.

The order of effects is the whole point:
1. read the table in keyset order (`extract.read_table`) into a local Parquet file;
2. when the file is full, store it under a deterministic key derived from its sequence number;
3. only then record the file and the new position in the watermark, in one atomic write.
A process killed between 2 and 3 resumes from the old position and rewrites the same key, so
there is no gap, no duplicate row and no duplicate file.

Two stories: an *increment* (mode incremental) reads the rows past the watermark's position; a
*generation* (full, and each partition window of time / id_range) reads a whole table or window
into a new set of files that replaces the previous one when loaded.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import (
    Batch,
    Bound,
    Position,
    Scan,
    TablePlan,
    null_cursor_rows,
    plan_table,
    read_table,
    window_bounds,
)
from mysql_redshift_assets.extract.bounds import reread_rows, run_bounds
from mysql_redshift_assets.extract.indexes import cursor_index_warning
from mysql_redshift_assets.extract.key_identity import check_loaded_with_identity
from mysql_redshift_assets.extract.probes import estimated_rows
from mysql_redshift_assets.extract.row_filter import check_filter_unchanged
from mysql_redshift_assets.extract.snapshot_bounds import (
    check_written,
    snapshot_rows,
    window_proof,
)
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.naming import generation_id
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.fenced import FencedStore
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import FileRecord, ReadTo, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.sync.files import FileSet, FileSink
from mysql_redshift_assets.sync.progress import Step, listening, report

log = logging.getLogger(__name__)


@dataclass
class ExtractResult:
    table: str
    run_id: str
    rows: int = 0
    bytes: int = 0
    files: list[FileRecord] = field(default_factory=list)
    seconds: float = 0.0
    position_before: Position | None = None
    position_after: Position | None = None
    generation: str | None = None
    upper_bound: str | None = None
    null_cursor_rows: int = 0
    # Rows read again by the late-commit window (at or before the position the run started
    # from), counted from the files' footers; and where that window started.
    reread_rows: int = 0
    reread_from: Position | None = None
    warnings: list[str] = field(default_factory=list)
    # `capture: binlog`: the binlog positions the run read from and to (`sync/binlog.py`).
    binlog_before: str | None = None
    binlog_after: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Run:
    """One extraction's state: what it records in the watermark and reports as its result."""

    table: TableConfig
    watermarks: WatermarkStore
    watermark: Watermark
    plan: TablePlan
    result: ExtractResult
    on_file: Callable[[FileRecord], None] | None
    page_rows: int | None = None  # rows a MySQL query, this run only (None: `chunk_rows`)

    def record(self, records: Iterable[FileRecord]) -> None:
        """Files now durably stored: into the watermark (with the position past them) first."""
        for record in records:
            # A file of re-reads only ends at or before the position: the position stays.
            moved = record.reread_rows < record.rows or record.generation is not None
            self.watermark.record_file(record, record.last if moved else self.watermark.position)
            self.watermarks.save(self.table, self.watermark)
            self.result.files.append(record)
            self.result.rows += record.rows
            self.result.bytes += record.bytes
            self.result.reread_rows += record.reread_rows
            if self.on_file:
                self.on_file(record)
            report(Step(self.table.qualified, "stored", rows=record.rows, bytes=record.bytes))
            log.info("%s: stored %s (%d rows)", self.table.qualified, record.key, record.rows)

    def files(self, generation: str | None = None, window: Window | None = None) -> FileSet:
        """The run's files: an increment's go on from the watermark's sequence, a generation's
        start at 0 under its own id."""
        truncate = self.table.text_overflow == "truncate"
        return FileSet(
            table=self.table,
            schema=self.plan.arrow_schema,
            columns=[FileColumn.from_planned(c, truncate_text=truncate) for c in self.plan.columns],
            run_id=self.result.run_id,
            first_seq=self.watermark.next_seq if generation is None else 0,
            generation=generation,
            partition=window.key if window else None,
            partition_path=window.safe_key if window else None,
            lineage=self.watermark.lineage,
            primary_key=self.plan.key_names,
        )

    def write(self, batches: Iterable[Batch], sink: FileSink) -> None:
        """Batches -> files; each file recorded as soon as it is stored, even if the run fails."""
        try:
            for batch in batches:
                report(Step(self.table.qualified, "read", rows=batch.num_rows))
                self.record(sink.write(batch))
            self.record(sink.finish())
        except BaseException:
            self.record(sink.abort())
            raise


def extract_table(
    source: Source,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
    max_rows: int | None = None,
    page_rows: int | None = None,
    on_file: Callable[[FileRecord], None] | None = None,
    window: Window | None = None,
) -> ExtractResult:
    """Extract new rows (incremental), a fresh generation of the table (full), or a new
    generation of one partition's window (time / id_range: pass `window`) into the store.
    The table's lease is held throughout: a second extraction of the same table refuses.
    `page_rows`: rows a MySQL query for this run (None: the table's `chunk_rows`)."""
    if table.partitioned and window is None:
        raise ValueError(f"{table.qualified} is partitioned ({table.mode}): give a window")
    with table_lease(watermarks.store, table, run_id) as lease:
        store = FencedStore(store, lease)  # no upload once the lease is lost
        started = time.monotonic()
        watermark = watermarks.load(table) or Watermark(table=table.qualified, mode=table.mode)
        plan = plan_table(source, table, watermark.columns)
        check_loaded_with_identity(
            table, plan.identity, watermark.columns, bool(watermark.position)
        )
        result = ExtractResult(table=table.qualified, run_id=run_id)
        result.position_before = watermark.position.model_copy() if watermark.position else None
        if table.mode == "full" or (window is None and watermark.position is None):
            watermark.row_filter = table.where  # a whole-table read: the filter it reads by
        elif window is None:
            check_filter_unchanged(table, watermark.row_filter)
        watermark.begin_session(run_id, plan.column_map, plan.primary_key, plan.cursor)
        watermarks.save(table, watermark)
        run = _Run(table, watermarks, watermark, plan, result, on_file, page_rows)
        _announce(source, table, watermark, window, max_rows or table.max_rows)
        tmp = Path(tempfile.mkdtemp(prefix="mra-extract-"))
        try:
            if table.mode == "full" or window is not None:
                _extract_generation(run, source, store, tmp, max_rows or table.max_rows, window)
            else:
                _extract_increment(run, source, store, tmp, max_rows or table.max_rows)
        except BaseException as exc:
            watermark.fail(exc)
            _save_quietly(watermarks, table, watermark)
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        watermark.succeed()
        watermarks.save(table, watermark)
    result.position_after = watermark.position
    result.seconds = time.monotonic() - started
    return result


def _announce(
    source: Source,
    table: TableConfig,
    watermark: Watermark,
    window: Window | None,
    max_rows: int | None,
) -> None:
    """The extraction starts (a progress record), with the rows it should read when known:
    MySQL's estimate for a whole-table read (mode full, or an increment's first run), capped by
    `max_rows`; an increment past a position or a window: unknown (`max_rows` at most). MySQL
    is asked only when someone listens (`sync/progress.py`)."""
    if not listening():
        return
    expected = None
    if window is None and (table.mode == "full" or watermark.position is None):
        try:
            expected = estimated_rows(source, table.source_schema, table.source_table)
        except Exception as exc:  # noqa: BLE001 - no estimate is no ETA, never a failed sync
            log.debug("%s: no row estimate (%s)", table.qualified, exc)
    if max_rows is not None:
        expected = max_rows if expected is None else min(expected, max_rows)
    report(Step(table.qualified, "extracting", expected=expected))


def _extract_increment(
    run: _Run, source: Source, store: ObjectStore, tmp: Path, max_rows: int | None
) -> None:
    """The rows past the watermark's position moved back by the re-read window, below what is
    provably committed (`extract/bounds.py`)."""
    position = run.watermark.position
    bounds = run_bounds(
        source, run.plan, position, run.watermark.samples, run.watermark.last_read_at
    )
    run.watermark.samples = bounds.samples
    result = run.result
    result.upper_bound = None if bounds.upper is None else str(bounds.upper.value)
    result.reread_from = bounds.start if bounds.start != position else None
    result.null_cursor_rows = null_cursor_rows(source, run.plan)
    index = cursor_index_warning(source, run.plan)
    result.warnings = [*bounds.warnings, *([index] if index else [])]
    if result.null_cursor_rows:
        result.warnings.append(
            f"{run.table.qualified}: {result.null_cursor_rows:,} rows have a NULL cursor "
            f"({run.plan.cursor_expr}) and cannot be extracted incrementally; carry them with "
            "`cursor_fallback: <column>` (e.g. created_at)"
        )
    for warning in result.warnings:
        log.warning(warning)
    rereads = reread_rows(source, run.plan, bounds, position)
    # Re-reads do not count against `max_rows`: a capped run still gets past the position.
    cap = None if max_rows is None else max_rows + rereads
    scan = Scan(
        run.plan, after=bounds.start, upper=bounds.upper, max_rows=cap, page_rows=run.page_rows
    )
    run.write(read_table(source, scan), FileSink(run.files(), store, tmp, reread_rows=rereads))
    run.watermark.read_through(bounds.read_at)  # saved with the run's success
    if bounds.upper is not None and (cap is None or result.rows < cap):  # not cut short
        run.watermark.read_up_to(
            ReadTo(
                op="<=" if bounds.upper.op == "<=" else "<",
                value=str(bounds.upper.value),
                window_seconds=bounds.window_seconds,
                at=max((s.at for s in bounds.samples), default=None),
                run_id=result.run_id,
            )
        )


def _extract_generation(
    run: _Run,
    source: Source,
    store: ObjectStore,
    tmp: Path,
    max_rows: int | None,
    window: Window | None,
) -> None:
    """The whole table (or window), in one MySQL snapshot, into a new generation of files:
    every row the snapshot sees (never cut at the open-transaction bound: a generation
    replaces what the warehouse holds), checked against COUNT(*) in the same snapshot. A
    window's proof is computed before the snapshot opens (`snapshot_bounds.window_proof`)."""
    generation = generation_id(run.result.run_id)
    run.result.generation = generation
    bounds: list[Bound] = []
    upper: Bound | None = None
    if window is not None:
        run.watermark.begin_generation(generation, window.key)
        bounds, upper = window_bounds(source, run.plan, window)
        run.result.upper_bound = None if upper is None else str(upper.value)
        _prove(run, source, generation, window)
    sink = FileSink(run.files(generation, window), store, tmp)
    scan = Scan(
        run.plan, upper=upper, bounds=tuple(bounds), max_rows=max_rows, page_rows=run.page_rows
    )
    with source.snapshot():
        counted = snapshot_rows(source, scan)
        run.write(read_table(source, scan), sink)
    if not run.result.files:
        run.record(sink.write_empty())
    # A copy cut short by max_rows is not the table: a load must never replace with it.
    complete = max_rows is None or run.result.rows < max_rows
    if complete:  # else never loaded: a count that differs leaves the generation incomplete
        what = f"window {window.key}" if window else "the copy"
        check_written(run.table.qualified, what, counted, run.result.rows)
    run.watermark.end_generation(generation, complete=complete)


def _prove(run: _Run, source: Source, generation: str, window: Window) -> None:
    """Whether rows can still commit into the window after this read (then it is read again
    by the table's next sync)."""
    proof = window_proof(source, run.plan, window, run.watermark.samples)
    run.watermark.samples = proof.samples
    run.watermark.prove_generation(generation, proof.safe_bound, provisional=not proof.complete)
    run.result.warnings += proof.warnings
    for warning in proof.warnings:
        log.warning(warning)
    if not proof.complete:
        log.info(
            "%s: window %s read while rows may still commit into it (safe bound %s); "
            "provisional: the next sync reads it again",
            run.table.qualified, window.key, proof.safe_bound,
        )  # fmt: skip


def _save_quietly(watermarks: WatermarkStore, table: TableConfig, watermark: Watermark) -> None:
    try:
        watermarks.save(table, watermark)
    except Exception:  # the original error matters more than a failed status write
        log.exception("%s: could not record the failed status", table.qualified)
