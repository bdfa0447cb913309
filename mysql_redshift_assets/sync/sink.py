"""Parquet files of `file_rows` rows (or ~100 MB), each published only once durably stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from mysql_redshift_assets.state.watermark import (
    FileRecord,
    Position,
    utcnow,
)
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import ParquetFileWriter, read_footer
from mysql_redshift_assets.sync.plan import TablePlan

# Redshift COPY splits work by file and wants 1-125 MB compressed: a file is closed at this size
# (or at `file_rows`, whichever comes first; one row group may go past it).
FILE_TARGET_BYTES = 100 << 20


class FileSink:
    """Accumulates batches into files of `file_rows` rows and publishes each one durably."""

    def __init__(
        self,
        plan: TablePlan,
        store: ObjectStore,
        publish: Callable[[FileRecord, Position | None], None],
        key_for: Callable[[int], str],
        first_seq: int,
        run_id: str,
        snapshot: str | None,
        tmp: Path,
        partition: str | None = None,
    ) -> None:
        self.plan, self.store, self.publish, self.key_for = plan, store, publish, key_for
        self.seq, self.run_id, self.snapshot, self.tmp = first_seq, run_id, snapshot, tmp
        self.partition = partition
        self.writer: ParquetFileWriter | None = None
        self.first: Position | None = None
        self.last: Position | None = None

    def write(self, batch: pa.RecordBatch, first: Position, last: Position) -> None:
        if self.writer is None:
            path = self.tmp / f"{self.seq:010d}.parquet"
            self.writer = ParquetFileWriter(path, self.plan.arrow_schema, self.plan.file_columns)
            self.first = first
        self.writer.write(batch)
        self.last = last

    def flush_empty(self) -> None:
        """A complete copy with no rows is still a copy: one empty file, so that loading it
        replaces the table (or the window) with nothing instead of keeping stale rows."""
        self.writer = ParquetFileWriter(
            self.tmp / f"{self.seq:010d}.parquet", self.plan.arrow_schema, self.plan.file_columns
        )
        self.flush()

    @property
    def room(self) -> int:
        if self.writer is None:
            return self.plan.table.file_rows
        if self.writer.path.stat().st_size >= FILE_TARGET_BYTES:
            return 0  # big rows: the file is full by size before it is by rows
        return self.plan.table.file_rows - self.writer.rows

    def flush(self) -> None:
        if self.writer is None:
            return
        writer, self.writer = self.writer, None
        writer.close()
        footer = read_footer(writer.path)  # rows as the file says, not as we counted
        key = self.key_for(self.seq)
        stored = self.store.put_file(writer.path, key)
        writer.path.unlink(missing_ok=True)
        record = FileRecord(
            key=key,
            rows=footer.rows,
            bytes=stored.size,
            fingerprint=footer.fingerprint,
            run_id=self.run_id,
            written_at=utcnow(),
            snapshot=self.snapshot,
            partition=self.partition,
            first=self.first,
            last=self.last,
        )
        self.publish(record, self.last)
        self.seq += 1
