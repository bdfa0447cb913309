"""`capture: binlog`: a run's changes of its binlog tables, one binlog stream per source.

The first binlog table of a source to reach its extraction reads the stream for every binlog
table of the run on that source (`BinlogCapture.register`), each under its own lease:

    preflight (settings, grants) and each table's stored position (purged: that table needs a
    resync, named; close to the purge: a warning)
    one stream from the earliest stored position to the binlog end at the read's start
      (`extract/binlog/stream.py`: committed transactions only, in commit order)
    per transaction, per table that does not hold it yet (`positions.holds`):
      its row changes -> rows of the table's change files: the after image of an insert or
      update, the before image of a delete (`mra$deleted` true); a key change is a delete of
      the old key, then the new row (`changes.table_changes`)
    a file is closed only between transactions, and recorded in the table's watermark with
    the position after its last transaction (`FileRecord.binlog_to`), after it is stored
    at the end: each table's position moves to the end read, files or not

A run killed at any point resumes from the last recorded position: the transactions after it
are read again into the same file keys. The load applies the files exactly once
(`load/exactly_once.py`, `_apply_changes`: the newest change of a key wins, deletes delete).

A statement that alters, drops, renames, truncates or recreates a table (or drops its
database), or a row image whose columns are not the table's columns (a column dropped since),
stops that table before the change: what came before is recorded (read as the columns loaded so
far when columns were added since; each image converted to the current types), and the run
fails naming `mysql-redshift resync`. Every ALTER stops it, even one that keeps the column
names: `DROP COLUMN c, ADD COLUMN c ...` or a DECIMAL scale or DATETIME precision cut changes
every row's value with no row event (measured on MariaDB 10.11, strict mode), and the stream
cannot tell those from a widening without the types before the ALTER.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pymysql

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import Batch, TablePlan
from mysql_redshift_assets.extract.binlog.convert import rows_to_arrow
from mysql_redshift_assets.extract.binlog.positions import (
    BinlogPosition,
    earliest,
    holds,
    latest,
    position_from_json,
)
from mysql_redshift_assets.extract.binlog.preflight import check_position, preflight
from mysql_redshift_assets.extract.binlog.server import BinlogError
from mysql_redshift_assets.extract.binlog.stream import RowChange, Transaction, read_transactions
from mysql_redshift_assets.extract.shaping import hash_key, image_shaper
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.state.fenced import FencedStore
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import DELETED_COLUMN, FileColumn
from mysql_redshift_assets.sync.binlog_copy import binlog_source, stream_plan
from mysql_redshift_assets.sync.binlog_shape import image_shape, loaded_shape, names_table
from mysql_redshift_assets.sync.extract import ExtractResult
from mysql_redshift_assets.sync.files import FILE_TARGET_BYTES, FileSet, FileSink
from mysql_redshift_assets.sync.progress import Step, report

BATCH_ROWS = 10_000  # changes converted to Arrow at once (at a transaction's end)


class _NoPosition(Exception):
    """A table of the run with no copy yet: its own sync makes the copy (not this stream)."""


class _ChangeBatch:
    """What `FileSink.write` takes of a `Batch`: rows, with no keyset position."""

    first = last = None

    def __init__(self, data: pa.RecordBatch) -> None:
        self.data = data

    @property
    def num_rows(self) -> int:
        return int(self.data.num_rows)

    def slice(self, offset: int, length: int) -> _ChangeBatch:
        return _ChangeBatch(self.data.slice(offset, length))


class _Table:
    """One table's part of a stream: its lease, watermark, files and position."""

    def __init__(
        self, source: Source, store: ObjectStore, table: TableConfig, run_id: str, tmp: Path
    ) -> None:
        self.table, self.run_id = table, run_id
        self.name = (table.source_schema, table.source_table)
        self.watermarks = WatermarkStore(store)
        watermark = self.watermarks.load(table)
        if watermark is None or watermark.binlog_position is None:
            raise _NoPosition(table.qualified)
        self.watermark: Watermark = watermark
        self.start: BinlogPosition = position_from_json(watermark.binlog_position)
        self.position = self.start
        self.plan: TablePlan = loaded_shape(stream_plan(source, table, watermark), watermark)
        self.columns = {c.source.name for c in self.plan.columns}
        # on receipt: `exclude_columns:` dropped, `hash_columns:` hashed (extract/shaping.py)
        self.shaper = image_shaper(table, self.plan.unhashed, hash_key(table))
        self.result = ExtractResult(table.qualified, run_id, binlog_before=self.start.format())
        self.stopped: BinlogError | None = None
        self._rows: list[dict[str, Any]] = []
        self._deleted: list[bool] = []
        self._flushed: dict[str, dict[str, Any]] = {}  # file key -> its binlog_to
        self.tmp = tmp
        self.sink: FileSink | None = None

    def open(self, stack: contextlib.ExitStack, store: ObjectStore) -> None:
        """Hold the lease for the stream; the watermark read again under it."""
        lease = stack.enter_context(table_lease(store, self.table, self.run_id))
        self.watermarks = WatermarkStore(FencedStore(store, lease))
        current = self.watermarks.load(self.table)
        assert current is not None
        self.watermark = current
        if current.binlog_position is not None:
            self.start = self.position = position_from_json(current.binlog_position)
        self.watermark.begin_session(self.run_id, self.plan.column_map, self.plan.primary_key, None)
        self.watermarks.save(self.table, self.watermark)
        schema = self.plan.arrow_schema.append(pa.field(DELETED_COLUMN, pa.bool_(), nullable=False))
        truncate = self.table.text_overflow == "truncate"
        self.files = FileSet(  # files close between transactions only (`_flush`), never in a batch
            table=dataclasses.replace(self.table, file_rows=2**31 - 1), schema=schema,
            columns=[FileColumn.from_planned(c, truncate_text=truncate) for c in self.plan.columns],
            run_id=self.run_id, first_seq=self.watermark.next_seq, lineage=self.watermark.lineage,
            primary_key=self.plan.key_names,
        )  # fmt: skip
        self.sink = FileSink(self.files, self.watermarks.store, self.tmp)

    # -- the stream -------------------------------------------------------------------------
    def take(self, transaction: Transaction) -> None:
        if self.stopped is not None or holds(self.start, transaction.gtid, transaction.end):
            return
        schema, name = self.name
        if transaction.ddl is not None:
            if names_table(transaction.ddl, schema, name):
                self._stop(transaction, f"a statement changed it: {transaction.ddl[:200]!r}")
                return
        else:
            raw = [c for c in transaction.changes if c.table == self.name]
            mine = [self.shaper.change(c) for c in raw]  # excluded dropped, hashed hashed
            for change in mine:
                image = change.after if change.after is not None else change.before
                if image is not None and set(image) != self.columns:
                    self._stop(transaction, image_shape(image, self.columns))
                    return
            for unshaped, change in zip(raw, mine, strict=True):
                self._add(unshaped, change)
        self.position = latest(self.position, transaction.position)
        if len(self._rows) >= BATCH_ROWS:
            self._write_rows()
        self._flush_if_full()

    def _add(self, raw: RowChange, change: RowChange) -> None:
        """`change` (shaped) as rows; `where:` is MySQL's predicate on the raw images."""
        keep_deletes = self.table.deletes != "ignore"
        key = self.plan.primary_key or sorted(self.columns)
        passed = self.plan.through_filter(raw.before, raw.after)
        before = change.before if passed[0] is not None else None
        after = change.after if passed[1] is not None else None
        if before is not None and before == after:  # only excluded columns changed: nothing
            return  # for the warehouse (no version `history: true` would open for nothing)
        if before is not None and keep_deletes:
            same_key = after is not None and all(before[k] == after[k] for k in key)
            if not (same_key and self.plan.primary_key):
                self._rows.append(before)
                self._deleted.append(True)
        if after is not None:
            self._rows.append(after)
            self._deleted.append(False)

    def _stop(self, transaction: Transaction, why: str) -> None:
        """No change from this transaction on: recorded up to the one before it."""
        table = self.table
        self.stopped = BinlogError(
            f"{table.qualified}: the binlog changes the table's shape at "
            f"{transaction.end.format()} ({why}); its changes before that are recorded. Run "
            f"`mysql-redshift resync -p {table.pipeline} -t {table.qualified}` to copy it "
            "again in its new shape"
        )

    def _write_rows(self) -> None:
        if not self._rows:
            return
        assert self.sink is not None
        arrays = rows_to_arrow(
            self.plan.columns, self.plan.arrow_schema, self._rows, self.plan.zone
        )
        arrays.append(pa.array(self._deleted, pa.bool_()))
        data = pa.RecordBatch.from_arrays(arrays, schema=self.files.schema)
        self._rows, self._deleted = [], []
        report(Step(self.table.qualified, "read", rows=data.num_rows))
        self._record(self.sink.write(cast(Batch, _ChangeBatch(data))))

    def _flush_if_full(self, force: bool = False) -> None:
        """Between transactions: close the file when full (or at the end), at this position."""
        sink = self.sink
        assert sink is not None
        writer = sink.writer
        # The rows not yet written count too: below BATCH_ROWS changes nothing is written yet.
        rows = (writer.rows if writer is not None else 0) + len(self._rows)
        if rows == 0:
            return
        full = rows >= self.table.file_rows or (
            writer is not None and writer.path.stat().st_size >= FILE_TARGET_BYTES
        )
        if full or force:
            self._write_rows()
            self._flushed[self.files.key(sink.seq)] = self.position.to_json()
            self._record(sink.flush())

    def _record(self, records: Iterable[FileRecord]) -> None:
        for record in records:
            record = record.model_copy(update={"binlog_to": self._flushed[record.key]})
            self.watermark.record_file(record, None)
            self.watermarks.save(self.table, self.watermark)
            self.result.files.append(record)
            self.result.rows += record.rows
            self.result.bytes += record.bytes
            report(Step(self.table.qualified, "stored", rows=record.rows, bytes=record.bytes))

    # -- the end ----------------------------------------------------------------------------
    def finish(self) -> ExtractResult:
        """Every change read is stored and recorded; the position moves to the end read."""
        assert self.sink is not None
        self._write_rows()
        if self.sink.writer is not None:
            self._flushed[self.files.key(self.sink.seq)] = self.position.to_json()
        self._record(self.sink.finish())
        self.watermark.binlog_position = self.position.to_json()
        self.result.binlog_after = self.position.format()
        if self.stopped is not None:
            self.watermark.fail(self.stopped)
        else:
            self.watermark.succeed()
        self.watermarks.save(self.table, self.watermark)
        return self.result

    def abort(self, error: BaseException) -> None:
        """The stream failed: files already stored are recorded (their positions stand)."""
        if self.sink is not None:
            with contextlib.suppress(Exception):
                self._record(self.sink.abort())
        self.watermark.fail(error)
        with contextlib.suppress(Exception):
            self.watermarks.save(self.table, self.watermark)


Outcome = ExtractResult | BaseException


def read_changes(
    source: Source, store: ObjectStore, tables: list[TableConfig], *, run_id: str
) -> dict[str, Outcome]:
    """One stream for `tables` (all binlog tables of one source, each with a position)."""
    mysql = binlog_source(source, tables[0])
    outcomes: dict[str, Outcome] = {}
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="mra-binlog-"))
    parts: list[_Table] = []
    try:
        with contextlib.ExitStack() as stack:
            for table in tables:
                try:
                    part = _Table(source, store, table, run_id, tmp / str(len(parts)))
                    part.tmp.mkdir()
                    part.open(stack, store)
                    parts.append(part)
                except _NoPosition:
                    continue
                except Exception as exc:  # noqa: BLE001 - this table fails, the others go on
                    outcomes[table.qualified] = exc
            live = _preflight(mysql, parts, outcomes)
            if live:
                _stream(mysql, live, outcomes)
            for part in live:
                try:
                    result = part.finish()
                    result.seconds = time.monotonic() - started
                    outcomes[part.table.qualified] = part.stopped or result
                except Exception as exc:  # noqa: BLE001
                    outcomes[part.table.qualified] = exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return outcomes


def _preflight(mysql: Any, parts: list[_Table], outcomes: dict[str, Outcome]) -> list[_Table]:
    """The settings and grants (a failure fails every table); each table's position."""
    live = []
    with pymysql.connect(**mysql.replication_params()) as conn:
        try:
            report_ = preflight(conn)
        except Exception as exc:
            for part in parts:
                part.abort(exc)
                outcomes[part.table.qualified] = exc
            return []
        for part in parts:
            try:
                warning = check_position(
                    conn, report_.server, report_.binlog_files, part.table.qualified, part.start
                )
            except Exception as exc:  # noqa: BLE001 - purged: this table needs a resync
                part.abort(exc)
                outcomes[part.table.qualified] = exc
                continue
            part.result.warnings += [warning] if warning else []
            live.append(part)
    return live


def _stream(mysql: Any, live: list[_Table], outcomes: dict[str, Outcome]) -> None:
    names = {part.name for part in live}
    try:
        start = earliest([part.start for part in live])
        for transaction in read_transactions(mysql.replication_params(), start, names):
            for part in live:
                part.take(transaction)
    except Exception as exc:  # the stream failed: each table keeps what it recorded
        for part in list(live):
            part.abort(exc)
            outcomes[part.table.qualified] = exc
            live.remove(part)


class BinlogCapture:
    """A run's binlog reads: one stream per source for the run's binlog tables (`register`),
    read when the first of them asks (`extract`); each table then takes its own outcome."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._registered: dict[str, list[TableConfig]] = {}
        self._copying: set[str] = set()
        self._outcomes: dict[str, Outcome] = {}

    def register(self, tables: Iterable[TableConfig]) -> None:
        """The run's tables: its binlog tables share a stream per source."""
        for table in tables:
            if table.binlog:
                self._registered.setdefault(table.source, []).append(table)

    def copying(self, table: TableConfig) -> None:
        """`table` makes its initial copy in this run: no stream reads for it."""
        with self._guard:
            self._copying.add(table.qualified)

    def extract(
        self,
        source: Source,
        store: ObjectStore,
        table: TableConfig,
        *,
        run_id: str,
        on_file: Callable[[FileRecord], None] | None = None,
    ) -> ExtractResult:
        with self._guard:
            lock = self._locks.setdefault(table.source, threading.Lock())
        with lock:
            if table.qualified not in self._outcomes:
                with self._guard:
                    waiting = [
                        t
                        for t in self._registered.get(table.source, [])
                        if t.qualified not in self._copying and t.qualified not in self._outcomes
                        and t.qualified != table.qualified
                    ]  # fmt: skip
                self._outcomes |= read_changes(source, store, [table, *waiting], run_id=run_id)
        outcome = self._outcomes[table.qualified]
        if isinstance(outcome, BaseException):
            raise outcome
        for record in outcome.files:
            if on_file is not None:
                on_file(record)
        return outcome
