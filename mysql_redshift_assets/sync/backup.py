"""MySQL -> Parquet files in the object store, with the watermark advanced file by file.

The order of effects is the whole point:
1. stream one keyset page at a time into a local Parquet file;
2. when the file is full, upload it (a deterministic key derived from the file sequence number);
3. only then record the file and the new position in the watermark, in one atomic write.
A process killed between 2 and 3 resumes from the old position and rewrites the same key, so
there is no gap, no duplicate row and no duplicate file.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.naming import (
    incremental_file_key,
    partition_file_key,
    snapshot_file_key,
)
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import (
    FileRecord,
    Position,
    Session,
    Watermark,
    WatermarkStore,
    utcnow,
)
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.sync.chunks import after_values
from mysql_redshift_assets.sync.pages import chunks
from mysql_redshift_assets.sync.plan import plan_table
from mysql_redshift_assets.sync.sink import FileSink

log = logging.getLogger(__name__)


@dataclass
class BackupResult:
    table: str
    run_id: str
    rows: int = 0
    bytes: int = 0
    files: list[FileRecord] = field(default_factory=list)
    seconds: float = 0.0
    position_before: Position | None = None
    position_after: Position | None = None
    snapshot: str | None = None
    upper_bound: str | None = None
    null_cursor_rows: int = 0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _holding_the_lease(extract: Callable[..., BackupResult]) -> Callable[..., BackupResult]:
    """Hold the table's lease throughout: a second extraction of the same table refuses."""

    @functools.wraps(extract)
    def run(source, store, watermarks: WatermarkStore, table: TableConfig, *, run_id: str, **kw):
        with table_lease(watermarks.store, table, run_id):
            return extract(source, store, watermarks, table, run_id=run_id, **kw)

    return run


@_holding_the_lease
def backup_table(
    source: Source,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
    max_rows: int | None = None,
    on_file: Callable[[FileRecord], None] | None = None,
    window: Window | None = None,
) -> BackupResult:
    """Extract new rows (incremental), a fresh snapshot (full), or a new generation of one
    partition's window (time / id_range: pass `window`) into the store."""
    if table.partitioned and window is None:
        raise ValueError(f"{table.qualified} is partitioned ({table.mode}): give a window")
    started = time.monotonic()
    watermark = watermarks.load(table) or Watermark(table=table.qualified, mode=table.mode)
    plan = plan_table(source, table, watermark)
    max_rows = max_rows or table.max_rows
    result = BackupResult(table=table.qualified, run_id=run_id)
    result.position_before = watermark.position.model_copy() if watermark.position else None

    watermark.columns = {**watermark.columns, **plan.column_map}
    watermark.primary_key = plan.primary_key
    watermark.cursor = plan.cursor
    watermark.status = "running"
    watermark.session = Session(
        run_id=run_id, started_at=utcnow(), position_before=result.position_before
    )
    watermarks.save(table, watermark)

    def publish(record: FileRecord, position: Position | None) -> None:
        watermark.record_file(record, position)
        watermarks.save(table, watermark)
        result.files.append(record)
        result.rows += record.rows
        result.bytes += record.bytes
        if on_file:
            on_file(record)
        log.info("%s: stored %s (%d rows)", table.qualified, record.key, record.rows)

    tmp = Path(tempfile.mkdtemp(prefix="mra-backup-"))
    try:
        if table.mode == "full" or window is not None:
            snapshot = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + run_id[:8]
            result.snapshot = snapshot
            if window is None:
                key_for = lambda seq: snapshot_file_key(table, snapshot, seq)  # noqa: E731
                bounds, upper = [], None
            else:
                key_for = lambda seq: partition_file_key(table, window.safe_key, snapshot, seq)  # noqa: E731
                watermark.snapshot(snapshot).partition = window.key
                bounds, upper = plan.window_bounds(source, window)
                result.upper_bound = None if upper is None else str(upper[2])
            sink = FileSink(
                plan, store, publish, key_for, 0, run_id, snapshot, tmp,
                partition=window.key if window else None,
            )  # fmt: skip
            with source.snapshot():
                _drain(
                    source, plan, sink, after=None, upper=upper, max_rows=max_rows, bounds=bounds
                )
            if not result.files:
                sink.flush_empty()
            # A copy cut short by max_rows is not the table: a load must never replace with it.
            watermark.snapshot(snapshot).complete = max_rows is None or result.rows < max_rows
        else:
            sink = FileSink(
                plan, store, publish,
                lambda seq: incremental_file_key(table, seq),
                watermark.next_seq, run_id, None, tmp,
            )  # fmt: skip
            upper = plan.upper_bound(source)
            result.upper_bound = None if upper is None else str(upper[2])
            result.null_cursor_rows = plan.null_cursor_rows(source)
            after = after_values(watermark.position, plan)
            _drain(source, plan, sink, after=after, upper=upper, max_rows=max_rows)
        watermark.status = "success"
    except BaseException as exc:
        watermark.status = "failed"
        if watermark.session is not None:
            watermark.session.status = "failed"
            watermark.session.error = f"{type(exc).__name__}: {str(exc)[:500]}"
            watermark.session.finished_at = utcnow()
        _save_quietly(watermarks, table, watermark)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    assert watermark.session is not None
    watermark.session.status = "success"
    watermark.session.finished_at = utcnow()
    watermark.session.position_after = watermark.position
    watermarks.save(table, watermark)
    result.position_after = watermark.position
    result.seconds = time.monotonic() - started
    return result


def _drain(source, plan, sink: FileSink, *, after, upper, max_rows, bounds=None) -> None:
    try:
        for chunk in chunks(source, plan, after, upper, max_rows, bounds):
            start = 0
            while start < chunk.num_rows:
                length = min(sink.room, chunk.num_rows - start)
                sink.write(*chunk.piece(start, length))
                start += length
                if sink.room <= 0:
                    sink.flush()
        sink.finish()
    except BaseException:
        sink.abort()
        raise


def _save_quietly(watermarks: WatermarkStore, table: TableConfig, watermark: Watermark) -> None:
    try:
        watermarks.save(table, watermark)
    except Exception:  # the original error matters more than a failed status write
        log.exception("%s: could not record the failed status", table.qualified)
