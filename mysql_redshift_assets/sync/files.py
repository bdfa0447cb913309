"""Batches -> Parquet files of `file_rows` rows (or ~100 MB), each handed back once durably stored.

A closed file is stored by a thread of its own while the next one is written. Every method is a
generator of the records of the files stored since, in file order: the caller records each one
(in the watermark) before the generator goes on, so a file is recorded before the next one
starts to be stored, and a run killed at any point leaves at most the file being stored behind.
At most one file is being stored at a time (and two are on local disk).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import Batch, Position
from mysql_redshift_assets.naming import (
    generation_file_key,
    incremental_file_key,
    partition_file_key,
)
from mysql_redshift_assets.state.watermark import FileRecord, utcnow
from mysql_redshift_assets.store.objectstore import FileUpload, ObjectStore, StoredObject
from mysql_redshift_assets.store.parquet import (
    ORDER_SEQ_SHIFT,
    FileColumn,
    ParquetFileWriter,
    parquet_codec,
    read_footer,
)

log = logging.getLogger(__name__)

# Redshift COPY splits work by file and wants 1-125 MB compressed: a file is closed at this size
# (or at `file_rows`, whichever comes first; one row group may go past it).
FILE_TARGET_BYTES = 100 << 20


@dataclass(frozen=True)
class FileSet:
    """The files of one run: where they go, what they hold, what each record says."""

    table: TableConfig
    schema: pa.Schema
    columns: list[FileColumn]
    run_id: str
    first_seq: int = 0
    generation: str | None = None  # replacing the table or a window; None: an increment
    partition: str | None = None  # the window's partition key
    partition_path: str | None = None  # ... as it appears in store keys
    lineage: str | None = None  # the watermark's: increments' keys never repeat across lives
    primary_key: tuple[str, ...] = ()  # warehouse names: a refused JSON document's row names it

    def key(self, seq: int) -> str:
        if self.generation is None:
            return incremental_file_key(self.table, seq, self.lineage)
        if self.partition_path is None:
            return generation_file_key(self.table, self.generation, seq)
        return partition_file_key(self.table, self.partition_path, self.generation, seq)


class FileSink:
    """Writes batches into the files of a `FileSet`; every method yields the records of the
    files durably stored since the last call, in file order, for the caller to record."""

    def __init__(
        self, files: FileSet, store: ObjectStore, tmp: Path, *, reread_rows: int = 0
    ) -> None:
        self.files, self.store, self.tmp = files, store, tmp
        # The stream's first `reread_rows` rows are re-reads (the late-commit window): each
        # file records how many of its rows are.
        self.reread_left = reread_rows
        self.seq = files.first_seq
        self.writer: ParquetFileWriter | None = None
        self.upload: FileUpload | None = None
        self.first: Position | None = None
        self.last: Position | None = None
        # (stored, record, local path) of the file being stored; `put_file` owns its upload
        self._storing: tuple[Future, FileRecord, Path] | None = None

    def write(self, batch: Batch) -> Iterator[FileRecord]:
        """Add `batch`, closing files as they fill up (a batch may span files)."""
        if self._storing is not None and self._storing[0].done():
            yield from self._stored()
        start = 0
        while start < batch.num_rows:
            piece = batch.slice(start, min(self.room, batch.num_rows - start))
            self._write(piece)
            start += piece.num_rows
            if self.room <= 0:
                yield from self.flush()

    def _write(self, piece: Batch) -> None:
        writer = self.writer
        if writer is None:
            writer = self._open()
            self.first = piece.first
        writer.write(piece.data)
        reread = min(self.reread_left, piece.num_rows)
        writer.reread_rows += reread
        self.reread_left -= reread
        self.last = piece.last
        assert self.upload is not None
        self.upload.grew(writer.path)

    def _open(self) -> ParquetFileWriter:
        path = self.tmp / f"{self.seq:010d}.parquet"
        self.writer = ParquetFileWriter(
            path,
            self.files.schema,
            self.files.columns,
            compression=parquet_codec(self.files.table.target_kind),
            order_base=self.seq << ORDER_SEQ_SHIFT,
            key=self.files.primary_key,
            where=self.files.table.qualified,
        )
        # The store may send the file's finished row groups while the next ones are written.
        self.upload = self.store.begin_file(self.files.key(self.seq))
        return self.writer

    def write_empty(self) -> Iterator[FileRecord]:
        """A complete copy with no rows is still a copy: one empty file, so that loading it
        replaces the table (or the window) with nothing instead of keeping stale rows."""
        self._open()
        yield from self.finish()

    @property
    def room(self) -> int:
        file_rows = self.files.table.file_rows
        if self.writer is None:
            return file_rows
        if self.writer.path.stat().st_size >= FILE_TARGET_BYTES:
            return 0  # big rows: the file is full by size before it is by rows
        return file_rows - self.writer.rows

    def flush(self) -> Iterator[FileRecord]:
        """Close the file being written and start storing it (handed back later, in order)."""
        if self.writer is None:
            return
        yield from self._stored()  # the previous file is recorded before this one is stored
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
            key=self.files.key(self.seq),
            rows=footer.rows,
            bytes=0,  # as stored: set once it is
            fingerprint=footer.fingerprint,
            run_id=self.files.run_id,
            written_at=utcnow(),
            generation=self.files.generation,
            partition=self.files.partition,
            first=self.first,
            last=self.last,
            reread_rows=footer.reread_rows,
        )
        self.seq += 1
        future = _in_thread(self.store.put_file, writer.path, record.key, upload)
        self._storing = (future, record, writer.path)

    def finish(self) -> Iterator[FileRecord]:
        """Close the last file; done once every file is stored."""
        yield from self.flush()
        yield from self._stored()

    def _stored(self) -> Iterator[FileRecord]:
        """Wait for the file being stored; its record (its error, if any, is raised)."""
        if self._storing is None:
            return
        future, record, path = self._storing
        self._storing = None
        stored = future.result()  # a failed store left nothing behind (put_file's contract)
        path.unlink(missing_ok=True)
        yield record.model_copy(update={"bytes": stored.size, "written_at": utcnow()})

    def write_all(self, batches: Iterable[Batch]) -> list[FileRecord]:
        """Every batch, then `finish`: the records of every file stored (on an error, what
        `abort` hands back is dropped and the error raised: a generation is all or nothing)."""
        records: list[FileRecord] = []
        try:
            for batch in batches:
                records += self.write(batch)
            records += self.finish()
        except BaseException:
            list(self.abort())
            raise
        return records

    def abort(self) -> Iterator[FileRecord]:
        """The run failed: a file already stored is still handed back (it is whole, and its
        position is the one to resume from); nothing half sent stays behind."""
        upload, self.upload, self.writer = self.upload, None, None
        if upload is not None:
            upload.abort()
        try:
            stored = list(self._stored())
        except BaseException:  # noqa: BLE001 - the run's own error is the one to raise
            log.warning(
                "%s: the file being stored when the run failed was not recorded; "
                "the next run writes it again",
                self.files.table.qualified,
            )
            return
        yield from stored


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
