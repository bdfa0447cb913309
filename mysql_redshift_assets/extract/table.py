"""`read_table`: a table's rows in keyset order, as Arrow batches that know each row's position.

The one entry point of extraction. It asks `readers.open_reader` for the reader of this table
and runs the keyset page loop over it: pages one after another, each fetched while the previous
one is written where the reader allows it, or, for a binary-protocol reader on one integer key,
key ranges fetched several at once. When a binary-protocol reader gives up, the loop reads on
with the text protocol from the last row it handed over: no row is skipped or read twice.

Every reader's batches pass through `Normalized`, the one place where DATETIME wall clocks
become UTC instants (`zones.py`) and a cursor with a fallback gets its COALESCE'd positions.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mysql_redshift_assets.extract.batch import Batch
from mysql_redshift_assets.extract.keyset import Bound, page_query
from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.position import Position, keyset_values
from mysql_redshift_assets.extract.readers import PageRequest, TableReader, TextPages, open_reader
from mysql_redshift_assets.extract.readers.binary import BinaryPathUnavailable
from mysql_redshift_assets.extract.shaping import redact
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.zones import datetimes_to_utc, is_utc

log = logging.getLogger(__name__)

# Pages fetched at once on the key-range path (the next ones while this thread writes one):
# the MySQL server and the reader then keep both cores busy. Memory: FETCHERS + 1 pages.
FETCHERS = 2


@dataclass(frozen=True)
class Scan:
    """What one run reads of a table: rows after `after`, inside `bounds` (a partition's
    window) and `upper` (the late-commit bound), at most `max_rows`, in pages of `page_rows`
    (None: the table's `chunk_rows`)."""

    plan: TablePlan
    after: Position | None = None
    upper: Bound | None = None
    bounds: tuple[Bound, ...] = ()
    max_rows: int | None = None
    page_rows: int | None = None

    @property
    def rows_a_page(self) -> int:
        return self.page_rows or self.plan.table.chunk_rows

    def request(self, after: Sequence[Any] | None, limit: int, *extra: Bound) -> PageRequest:
        upper = (self.upper,) if self.upper is not None else ()
        return PageRequest(after, (*self.bounds, *extra, *upper), limit)


def read_table(source: Source, scan: Scan) -> Iterator[Batch]:
    """The scan's rows in keyset order, as batches of the planner's Arrow schema."""
    plan = scan.plan
    if not plan.primary_key:
        # One streaming query (no keyset can page identical rows), inside the scan's window
        # and late-commit bound like every other read.
        text = TextPages(source, plan, scan.rows_a_page)
        bounds = (*scan.bounds, *([scan.upper] if scan.upper is not None else []))
        yield from map(Normalized(text, plan).batch, text.read_all(bounds, scan.max_rows))
        return
    reader: TableReader = Normalized(open_reader(source, plan, scan.rows_a_page), plan)
    after = keyset_values(scan.after, cursor_is_pk=plan.cursor_is_pk)
    taken = 0
    try:
        for batch in _pages(source, reader, scan, after):
            taken += batch.num_rows
            after = keyset_values(batch.last, cursor_is_pk=plan.cursor_is_pk)
            yield batch
        return
    except BinaryPathUnavailable as exc:
        where = after or "the start"
        why = redact(str(exc))  # never a hash key's pads, should a message quote the query
        log.warning("%s: %s; reading on with pymysql from %s", plan.table.qualified, why, where)
    remaining = None if scan.max_rows is None else scan.max_rows - taken
    if remaining is None or remaining > 0:
        text = TextPages(source, plan, scan.rows_a_page)
        yield from _sequential(Normalized(text, plan), scan, after, remaining)


class Normalized(TableReader):
    """A reader's batches as every reader's must leave: DATETIME columns as UTC instants (their
    wall clocks read in the table's zone), and with a `cursor_fallback` one keyset value
    COALESCE(cursor, fallback) where the reader carried the two columns."""

    def __init__(self, reader: TableReader, plan: TablePlan) -> None:
        self.reader, self.plan = reader, plan
        self.name, self.concurrent = reader.name, reader.concurrent
        self._datetimes = (
            []
            if is_utc(plan.zone)
            else [i for i, c in enumerate(plan.columns) if c.source.data_type == "datetime"]
        )

    @property
    def page_rows(self) -> int:
        return self.reader.page_rows

    @property
    def integer_key(self) -> bool:
        return self.reader.integer_key

    def read(self, request: PageRequest) -> Iterator[Batch]:
        return map(self.batch, self.reader.read(request))

    def batch(self, batch: Batch) -> Batch:
        changes: dict[str, Any] = {}
        if self._datetimes and batch.num_rows:
            data = batch.data
            arrays = list(data.columns)
            for i in self._datetimes:
                arrays[i] = datetimes_to_utc(arrays[i], self.plan.zone)
            changes["data"] = pa.RecordBatch.from_arrays(arrays, schema=data.schema)
        if self.plan.fallback is not None:
            cursor, fallback, *rest = batch.keys
            changes["keys"] = (_coalesce(cursor, fallback), *rest)
        return dataclasses.replace(batch, **changes) if changes else batch


def _coalesce(values: Sequence[Any], fallback: Sequence[Any]) -> Sequence[Any]:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return pc.coalesce(values, fallback)
    return [v if v is not None else f for v, f in zip(values, fallback, strict=True)]


def _pages(
    source: Source, reader: TableReader, scan: Scan, after: Sequence[Any] | None
) -> Iterator[Batch]:
    if not reader.concurrent:
        yield from _sequential(reader, scan, after, scan.max_rows)
        return
    pool = ThreadPoolExecutor(FETCHERS, thread_name_prefix="mra-page")
    try:
        upper = scan.upper
        ranged = reader.integer_key and upper is not None and upper.op == "<="
        top = int(upper.value) if ranged and upper is not None else None
        if scan.max_rows is None and top is not None:
            yield from _ranged(pool, source, reader, scan, after, top)
        else:
            yield from _prefetched(pool, reader, scan, after, scan.max_rows)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # a query in flight finishes first


def _limit(reader: TableReader, taken: int, max_rows: int | None) -> int:
    return reader.page_rows if max_rows is None else min(reader.page_rows, max_rows - taken)


def _after(batch: Batch, scan: Scan) -> list[str] | None:
    return keyset_values(batch.last, cursor_is_pk=scan.plan.cursor_is_pk)


def _sequential(
    reader: TableReader, scan: Scan, after: Sequence[Any] | None, max_rows: int | None
) -> Iterator[Batch]:
    """Keyset pages one after another, each streamed as it is read, until the table (or the
    cap) is exhausted."""
    taken = 0
    while (limit := _limit(reader, taken, max_rows)) > 0:
        got, last = 0, None
        for batch in reader.read(scan.request(after, limit)):
            got, last = got + batch.num_rows, batch
            yield batch
        if last is None:
            return
        taken += got
        after = _after(last, scan)
        if got < limit:
            return


def _fetch(reader: TableReader, request: PageRequest) -> list[Batch]:
    return list(reader.read(request))


def _rows(batches: list[Batch]) -> int:
    return sum(b.num_rows for b in batches)


def _prefetched(
    pool: ThreadPoolExecutor,
    reader: TableReader,
    scan: Scan,
    after: Sequence[Any] | None,
    max_rows: int | None,
) -> Iterator[Batch]:
    """`_sequential`'s keyset loop; the next page is fetched while this one is written."""

    def submit(after: Sequence[Any] | None, taken: int) -> tuple[Future, int] | None:
        limit = _limit(reader, taken, max_rows)
        if limit <= 0:
            return None
        return pool.submit(_fetch, reader, scan.request(after, limit)), limit

    taken = 0
    job = submit(after, taken)
    while job is not None:
        future, limit = job
        batches: list[Batch] = future.result()
        got = _rows(batches)
        if got == 0:
            return
        taken += got
        job = submit(_after(batches[-1], scan), taken) if got == limit else None
        yield from batches


def _ranged(
    pool: ThreadPoolExecutor,
    source: Source,
    reader: TableReader,
    scan: Scan,
    after: Sequence[Any] | None,
    top: int,
) -> Iterator[Batch]:
    """Key-range pages `a < pk <= b`, FETCHERS of them in flight, handed over in key order.

    Ranges run from the first key to read (`_first_key`, one index lookup, when the run starts
    at the beginning) to the run's upper bound (MAX(pk) when the run started). A unique integer
    key holds at most one row a value, so the first ranges are `page_rows` keys wide (pages of
    at most `page_rows` rows) and all of them are fetched at once; each next range is sized
    from the density of the last one read. A range page has a LIMIT of twice the target: a page
    that reaches it is followed, before anything else, by the rest of its range, so no row is
    skipped and no page holds more than the limit. Positions are those of the rows actually
    read, as on the other paths.
    """
    key = scan.plan.order_quoted[0]
    target = reader.page_rows
    cap = 2 * target

    def request(start: int, end: int) -> PageRequest:
        return scan.request([start], cap, Bound(key, "<=", end))

    if after is not None:
        nxt = int(after[0])
    else:
        first = _first_key(source, scan)
        if first is None:
            return  # nothing to read
        nxt = first - 1
    step = target
    pending: deque[tuple[Future, int, int]] = deque()  # (page, after, end), in key order

    def fill() -> None:
        nonlocal nxt
        while nxt < top and len(pending) < FETCHERS:
            end = min(nxt + step, top)
            pending.append((pool.submit(_fetch, reader, request(nxt, end)), nxt, end))
            nxt = end

    fill()
    while pending:
        future, start, end = pending.popleft()
        batches: list[Batch] = future.result()
        got = _rows(batches)
        # The next range is sized from this one, and on its way while this page is written.
        step = max(1, round(target * (end - start) / got)) if got else min(2 * step, 1 << 62)
        fill()
        while batches:
            yield from batches
            if _rows(batches) < cap:
                break
            # Denser than expected: the rest of this range, before the next one.
            batches = _fetch(reader, request(int(batches[-1].last.pk[0]), end))


def _first_key(source: Source, scan: Scan) -> int | None:
    """The first key of the pages to read (the source's own connection; an index lookup)."""
    plan = scan.plan
    request = scan.request(None, 1)
    page = page_query(
        select_list=[plan.order_quoted[0]],
        table_ref=plan.table_ref,
        order_by=plan.order_quoted,
        after=None,
        upper=None,
        limit=1,
        placeholder=source.placeholder,
        bounds=request.bounds,
    )
    row = source.query_one(page.sql, page.params)
    return None if row is None else int(raw_text(row[0]))
