"""Parquet files of `file_rows` rows (or ~100 MB), each published only once durably stored."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.state.watermark import (
    FileRecord,
    Position,
    utcnow,
)
from mysql_redshift_assets.store.objectstore import FileUpload, ObjectStore, StoredObject
from mysql_redshift_assets.store.parquet import ParquetFileWriter, read_footer
from mysql_redshift_assets.sync.plan import TablePlan

log = logging.getLogger(__name__)

# Redshift COPY splits work by file and wants 1-125 MB compressed: a file is closed at this size
# (or at `file_rows`, whichever comes first; one row group may go past it).
FILE_TARGET_BYTES = 100 << 20


class FileSink:
    """Accumulates batches into files of `file_rows` rows and publishes each one durably.

    A closed file is stored by a thread of its own while the next one is written; it is
    published (recorded with its position) by the caller's thread, in file order, once stored:
    at the next write after that, or at the next flush / `finish` at the latest. At most one file
    is being stored at a time (and two are on local disk)."""

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
        self.upload: FileUpload | None = None
        self.first: Position | None = None
        self.last: Position | None = None
        # (stored, record, local path) of the file being stored; `put_file` owns its upload
        self._storing: tuple[Future, FileRecord, Path] | None = None

    def _open(self) -> ParquetFileWriter:
        path = self.tmp / f"{self.seq:010d}.parquet"
        self.writer = ParquetFileWriter(path, self.plan.arrow_schema, self.plan.file_columns)
        # The store may send the file's finished row groups while the next ones are written.
        self.upload = self.store.begin_file(self.key_for(self.seq))
        return self.writer

    def write(self, batch: pa.RecordBatch, first: Position, last: Position) -> None:
        if self._storing is not None and self._storing[0].done():
            self._published()
        writer = self.writer
        if writer is None:
            writer = self._open()
            self.first = first
        writer.write(batch)
        self.last = last
        assert self.upload is not None
        self.upload.grew(writer.path)

    def flush_empty(self) -> None:
        """A complete copy with no rows is still a copy: one empty file, so that loading it
        replaces the table (or the window) with nothing instead of keeping stale rows."""
        self._open()
        self.finish()

    @property
    def room(self) -> int:
        if self.writer is None:
            return self.plan.table.file_rows
        if self.writer.path.stat().st_size >= FILE_TARGET_BYTES:
            return 0  # big rows: the file is full by size before it is by rows
        return self.plan.table.file_rows - self.writer.rows

    def flush(self) -> None:
        """Close the file being written and start storing it (published later, in order)."""
        if self.writer is None:
            return
        self._published()  # the previous file first: records stay in file order
        writer, upload = self.writer, self.upload
        self.writer = self.upload = None
        try:
            writer.close()
            footer = read_footer(writer.path)  # rows as the file says, not as we counted
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        record = FileRecord(
            key=self.key_for(self.seq),
            rows=footer.rows,
            bytes=0,  # as stored: set once it is
            fingerprint=footer.fingerprint,
            run_id=self.run_id,
            written_at=utcnow(),
            snapshot=self.snapshot,
            partition=self.partition,
            first=self.first,
            last=self.last,
        )
        self.seq += 1
        future = _in_thread(self.store.put_file, writer.path, record.key, upload)
        self._storing = (future, record, writer.path)

    def finish(self) -> None:
        """Close the last file and return once every file is stored and published."""
        self.flush()
        self._published()

    def _published(self) -> None:
        """Wait for the file being stored, then publish it (its error, if any, is raised)."""
        if self._storing is None:
            return
        future, record, path = self._storing
        self._storing = None
        stored = future.result()  # a failed store left nothing behind (put_file's contract)
        path.unlink(missing_ok=True)
        record = record.model_copy(update={"bytes": stored.size, "written_at": utcnow()})
        self.publish(record, record.last)

    def abort(self) -> None:
        """The run failed: a file already stored is still published (it is whole, and its
        position is the one to resume from); nothing half sent stays behind."""
        upload, self.upload, self.writer = self.upload, None, None
        if upload is not None:
            upload.abort()
        try:
            self._published()
        except BaseException:  # noqa: BLE001 - the run's own error is the one to raise
            log.warning(
                "%s: the file being stored when the run failed was not recorded; "
                "the next run writes it again",
                self.plan.table.qualified,
            )


def _in_thread(fn: Callable[..., StoredObject], *args: Any) -> Future:
    """Run `fn(*args)` in a thread of its own; its result (or error) in the future."""
    future: Future = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                future.set_exception(exc)

    threading.Thread(target=run, name="mra-store", daemon=True).start()
    return future
