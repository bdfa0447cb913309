"""MySQL -> Parquet files in the object store, with the watermark advanced file by file.

The order of effects is the whole point:
1. stream one keyset page at a time into a local Parquet file;
2. when the file is full, upload it (a deterministic key derived from the file sequence number);
3. only then record the file and the new position in the watermark, in one atomic write.
A process killed between 2 and 3 resumes from the old position and rewrites the same key, so
there is no gap, no duplicate row and no duplicate file.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.fast_reader import (
    FastChunk,
    FastPathUnavailable,
    FastPlan,
    FastReader,
    TemporalUnreadable,
    plan_fast,
)
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
from mysql_redshift_assets.store.parquet import ParquetFileWriter, read_footer
from mysql_redshift_assets.sync.plan import TablePlan, plan_table

log = logging.getLogger(__name__)
FETCH_ROWS = 10_000  # rows a pymysql fetch (and a row group) on the pymysql path
# The connectorx path opens a connection a page: below this many rows a page, pymysql is faster.
FAST_MIN_CHUNK_ROWS = 1_000
# Redshift COPY splits work by file and wants 1-125 MB compressed: a file is closed at this size
# (or at `file_rows`, whichever comes first; one row group may go past it).
FILE_TARGET_BYTES = 100 << 20


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


class _FileSink:
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


def _position(row: tuple[Any, ...], plan: TablePlan) -> Position:
    return _position_of([_text(row[i]) for i in plan.order_indexes], plan)


def _position_of(values: list[str], plan: TablePlan) -> Position:
    if plan.cursor_is_pk:
        return Position(cursor=None, pk=values)
    return Position(cursor=values[0], pk=values[1:])


def _after_values(position: Position | None, plan: TablePlan) -> list[str] | None:
    if position is None:
        return None
    values = position.pk if plan.cursor_is_pk else [position.cursor or "", *position.pk]
    return values or None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def _pages(
    source: Source,
    plan: TablePlan,
    after: list[str] | None,
    upper: tuple[str, str, Any] | None,
    max_rows: int | None,
    bounds: list[tuple[str, str, Any]] | None = None,
):
    """Yield (raw rows) for consecutive keyset pages until the table (or the cap) is exhausted."""
    from mysql_redshift_assets.extract.keyset import page_query

    table = plan.table
    if not plan.primary_key:
        # Full copy of a keyless table: identical rows and NULLs make a keyset position
        # ambiguous (rows were skipped), so the snapshot is read by one streaming query.
        sql = f"SELECT {', '.join(plan.select_list)} FROM {plan.table_ref}"
        if max_rows is not None:
            sql += f" LIMIT {int(max_rows)}"
        yield from source.stream(sql, [], FETCH_ROWS)
        return
    taken = 0
    while True:
        limit = table.chunk_rows if max_rows is None else min(table.chunk_rows, max_rows - taken)
        if limit <= 0:
            return
        page = page_query(
            select_list=plan.select_list,
            table_ref=plan.table_ref,
            order_by=plan.order_quoted,
            after=after,
            upper=upper,
            limit=limit,
            placeholder=source.placeholder,
            bounds=bounds or (),
        )
        got = 0
        for rows in source.stream(page.sql, page.params, FETCH_ROWS):
            got += len(rows)
            yield rows
            last = rows[-1]
        if got == 0:
            return
        taken += got
        after = _after_values(_position(last, plan), plan)
        if got < limit:
            return


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
    partition's window (time / id_range: pass `window`) into the store.

    Holds the table's lease throughout: a second extraction of the same table refuses.
    """
    with table_lease(watermarks.store, table, run_id):
        return _backup(
            source, store, watermarks, table,
            run_id=run_id, max_rows=max_rows, on_file=on_file, window=window,
        )  # fmt: skip


def _backup(
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
            sink = _FileSink(
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
            sink = _FileSink(
                plan, store, publish,
                lambda seq: incremental_file_key(table, seq),
                watermark.next_seq, run_id, None, tmp,
            )  # fmt: skip
            upper = plan.upper_bound(source)
            result.upper_bound = None if upper is None else str(upper[2])
            result.null_cursor_rows = plan.null_cursor_rows(source)
            after = _after_values(watermark.position, plan)
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


class _RawChunk:
    """Rows as pymysql returned them (text), converted when written."""

    def __init__(self, rows: list[tuple[Any, ...]], plan: TablePlan) -> None:
        self.rows, self.plan = rows, plan

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    def piece(self, start: int, length: int) -> tuple[pa.RecordBatch, Position, Position]:
        rows = self.rows[start : start + length]
        return (
            self.plan.to_batch(rows),
            _position(rows[0], self.plan),
            _position(rows[-1], self.plan),
        )


class _ArrowChunk:
    """A record batch the fast reader already converted, with its raw ordering columns."""

    def __init__(self, chunk: FastChunk, plan: TablePlan) -> None:
        self.chunk, self.plan = chunk, plan

    @property
    def num_rows(self) -> int:
        return self.chunk.num_rows

    def piece(self, start: int, length: int) -> tuple[pa.RecordBatch, Position, Position]:
        first = _position_of(self.chunk.order_values(start), self.plan)
        last = _position_of(self.chunk.order_values(start + length - 1), self.plan)
        return self.chunk.batch.slice(start, length), first, last


def _drain(source, plan, sink: _FileSink, *, after, upper, max_rows, bounds=None) -> None:
    for chunk in _chunks(source, plan, after, upper, max_rows, bounds):
        start = 0
        while start < chunk.num_rows:
            length = min(sink.room, chunk.num_rows - start)
            sink.write(*chunk.piece(start, length))
            start += length
            if sink.room <= 0:
                sink.flush()
    sink.flush()


def _chunks(source, plan: TablePlan, after, upper, max_rows, bounds) -> Iterator[Any]:
    """Pages as chunks: fetched by connectorx when the source and the table allow it, else (and
    from wherever the fast path gave up) by pymysql."""
    reader = source.fast_reader() if plan.primary_key else None
    fast = None
    if reader is not None and plan.table.chunk_rows >= FAST_MIN_CHUNK_ROWS:
        fast = plan_fast(plan.columns, plan.order_indexes)
    if fast is None:
        for rows in _pages(source, plan, after, upper, max_rows, bounds):
            yield _RawChunk(rows, plan)
        return
    progress = _Progress(after)
    pool = ThreadPoolExecutor(FETCHERS, thread_name_prefix="mra-page")
    try:
        for page in _fast_pages(pool, reader, fast, plan, progress, upper, max_rows, bounds):
            yield from page
        return
    except FastPathUnavailable as exc:
        log.warning(
            "%s: %s; reading on with pymysql from %s",
            plan.table.qualified, exc, progress.after or "the start",
        )  # fmt: skip
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a query in flight finishes first
    remaining = None if max_rows is None else max_rows - progress.taken
    if remaining is not None and remaining <= 0:
        return
    for rows in _pages(source, plan, progress.after, upper, remaining, bounds):
        yield _RawChunk(rows, plan)


class _Progress:
    """Where the fast path stands: after the last page it handed over, and rows so far."""

    def __init__(self, after: list[str] | None) -> None:
        self.after, self.taken = after, 0


# Pages fetched at once on the key-range path (the next ones while this thread writes one):
# the MySQL server and connectorx then keep both cores busy. Memory: FETCHERS + 1 pages.
FETCHERS = 2
# Rows a connectorx page at most: it holds a whole result in memory, and 65,536 is its own batch
# size, so a page is one Arrow batch (one row group) and is never copied to be joined.
FAST_PAGE_ROWS = 65_536


def _fast_pages(
    pool: ThreadPoolExecutor,
    reader: FastReader,
    fast: FastPlan,
    plan: TablePlan,
    progress: _Progress,
    upper,
    max_rows,
    bounds,
) -> Iterator[list[_ArrowChunk]]:
    """Keyset pages through connectorx, each one list of converted chunks (`_pages`' loop).

    Fetching (connectorx, GIL released) and converting happen in `pool`'s threads: the next
    page is on its way while the caller writes this one. `progress` is updated as each page is
    handed over, so a failed fetch leaves it where the pymysql path can take over."""
    if max_rows is None and _ranged(fast, plan):
        yield from _ranged_pages(pool, reader, fast, plan, progress, upper, bounds)
    else:
        yield from _sequential_pages(pool, reader, fast, plan, progress, upper, max_rows, bounds)


def _page(plan: TablePlan, select, after, upper, bounds, extra, limit: int):
    from mysql_redshift_assets.extract.keyset import page_query

    return page_query(
        select_list=select,
        table_ref=plan.table_ref,
        order_by=plan.order_quoted,
        after=after,
        upper=upper,
        limit=limit,
        placeholder="%s",
        bounds=[*(bounds or ()), *extra],
    )


def _fetch(
    reader: FastReader,
    fast: FastPlan,
    build: Callable[[FastPlan], str],
    plan: TablePlan,
    failed: BaseException | None = None,
) -> tuple[list[FastChunk], FastPlan]:
    """Fetch one page; after a date connectorx cannot represent, again with temporals as text
    (and so on for the rest of the run: the plan returned is the one to go on with)."""
    try:
        if failed is not None:
            raise failed
        return reader.fetch(fast, build(fast)), fast
    except TemporalUnreadable as exc:
        log.info("%s: %s; temporal columns are read as text from here", plan.table.qualified, exc)
        text = fast.text_temporal()
        return reader.fetch(text, build(text)), text


def _result(future: Any, reader: FastReader, fast: FastPlan, build, plan: TablePlan):
    try:
        return future.result(), fast
    except TemporalUnreadable as exc:
        return _fetch(reader, fast, build, plan, failed=exc)


def _rows(chunks: list[FastChunk]) -> int:
    return sum(c.num_rows for c in chunks)


def _last(chunks: list[FastChunk]) -> list[str]:
    return chunks[-1].order_values(chunks[-1].num_rows - 1)


def _sequential_pages(
    pool: ThreadPoolExecutor,
    reader: FastReader,
    fast: FastPlan,
    plan: TablePlan,
    progress: _Progress,
    upper,
    max_rows,
    bounds,
) -> Iterator[list[_ArrowChunk]]:
    """`_pages`' keyset loop; the next page is fetched while this one is written."""
    page_rows = min(plan.table.chunk_rows, FAST_PAGE_ROWS)

    def build(fast: FastPlan, after, limit: int) -> str:
        page = _page(plan, fast.select_list, after, upper, bounds, [], limit)
        return reader.render(page.sql, page.params)

    def submit(after, taken: int, fast: FastPlan):
        limit = page_rows if max_rows is None else min(page_rows, max_rows - taken)
        if limit <= 0:
            return None
        return pool.submit(reader.fetch, fast, build(fast, after, limit)), after, limit

    job = submit(progress.after, progress.taken, fast)
    while job is not None:
        future, after, limit = job
        redo = lambda f: build(f, after, limit)  # noqa: B023, E731
        chunks, fast = _result(future, reader, fast, redo, plan)
        got = _rows(chunks)
        if got == 0:
            return
        after = _after_values(_position_of(_last(chunks), plan), plan)
        taken = progress.taken + got
        job = submit(after, taken, fast) if got == limit else None
        progress.after, progress.taken = after, taken
        yield [_ArrowChunk(c, plan) for c in chunks]


def _ranged(fast: FastPlan, plan: TablePlan) -> bool:
    """Pages can be fetched concurrently when the keyset is one integer primary key."""
    if not plan.cursor_is_pk or len(plan.order_indexes) != 1:
        return False
    return fast.columns[plan.order_indexes[0]].kind in ("int", "uint64")


def _ranged_pages(
    pool: ThreadPoolExecutor,
    reader: FastReader,
    fast: FastPlan,
    plan: TablePlan,
    progress: _Progress,
    upper,
    bounds,
) -> Iterator[list[_ArrowChunk]]:
    """Key-range pages `a < pk <= b`, FETCHERS of them in flight, handed over in key order.

    The first page is an ordinary keyset page; it tells how many rows a key span holds, and
    each next range is sized from the density of the last one read (`chunk_rows` rows
    expected). A range page has a LIMIT of twice that: a page that reaches it (denser keys than
    expected) is followed, before anything else, by the rest of its range, so no row is skipped
    and no page holds more than the limit. Ranges stop at the run's upper bound (MAX(pk) when
    the run started). Positions are those of the rows actually read, as on the other paths.
    """
    key = plan.order_quoted[0]
    target = min(plan.table.chunk_rows, FAST_PAGE_ROWS)
    cap = 2 * target

    def build(fast: FastPlan, after, end, limit: int) -> str:
        extra = [] if end is None else [(key, "<=", end)]
        page = _page(plan, fast.select_list, after, upper, bounds, extra, limit)
        return reader.render(page.sql, page.params)

    def hand_over(chunks: list[FastChunk]) -> list[_ArrowChunk]:
        progress.after = _last(chunks)
        progress.taken += _rows(chunks)
        return [_ArrowChunk(c, plan) for c in chunks]

    # The first page, in sequence: where the keys start and how dense they are.
    start = None if progress.after is None else int(progress.after[0])
    first, fast = _fetch(reader, fast, lambda f: build(f, progress.after, None, target), plan)
    rows = _rows(first)
    if rows == 0:
        return
    lo = int(first[0].order_values(0)[0]) - 1 if start is None else start
    top = None if upper is None or upper[1] != "<=" else int(upper[2])
    if top is None and rows == target:  # no upper bound to range up to: in sequence
        yield hand_over(first)
        yield from _sequential_pages(pool, reader, fast, plan, progress, upper, None, bounds)
        return
    nxt = int(_last(first)[0])
    step = max(1, round(target * (nxt - lo) / rows))
    pending: list[tuple[Any, int, int]] = []  # (future, after, end), in key order

    def fill() -> None:
        nonlocal nxt
        while rows == target and top is not None and nxt < top and len(pending) < FETCHERS:
            end = min(nxt + step, top)
            pending.append(
                (pool.submit(reader.fetch, fast, build(fast, [nxt], end, cap)), nxt, end)
            )
            nxt = end

    fill()
    yield hand_over(first)
    while pending:
        future, after, end = pending.pop(0)
        redo = lambda f: build(f, [after], end, cap)  # noqa: B023, E731
        chunks, fast = _result(future, reader, fast, redo, plan)
        got = _rows(chunks)
        fill()  # the next ranges are on their way while this page is written
        while chunks:
            yield hand_over(chunks)
            if _rows(chunks) < cap:
                break
            # Denser than expected: the rest of this range, before the next one.
            rest = [int(_last(chunks)[0])]
            chunks, fast = _fetch(reader, fast, lambda f: build(f, rest, end, cap), plan)  # noqa: B023
            got += _rows(chunks)
        progress.after = [str(end)]  # every row up to `end` is handed over
        step = max(1, round(target * (end - after) / got)) if got else min(2 * step, 1 << 62)


def _save_quietly(watermarks: WatermarkStore, table: TableConfig, watermark: Watermark) -> None:
    try:
        watermarks.save(table, watermark)
    except Exception:  # the original error matters more than a failed status write
        log.exception("%s: could not record the failed status", table.qualified)
