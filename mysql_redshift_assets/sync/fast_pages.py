"""Keyset pages through connectorx: fetched in threads while the caller writes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mysql_redshift_assets.extract.fast_reader import (
    FastChunk,
    FastPlan,
    FastReader,
    TemporalUnreadable,
)
from mysql_redshift_assets.sync.chunks import ArrowChunk, after_values, values_position
from mysql_redshift_assets.sync.plan import TablePlan

log = logging.getLogger(__name__)


class Progress:
    """Where the fast path stands: after the last page it handed over, and rows so far."""

    def __init__(self, after: list[str] | None) -> None:
        self.after, self.taken = after, 0


# Pages fetched at once on the key-range path (the next ones while this thread writes one):
# the MySQL server and connectorx then keep both cores busy. Memory: FETCHERS + 1 pages.
FETCHERS = 2

# Rows a connectorx page at most: it holds a whole result in memory, and 65,536 is its own batch
# size, so a page is one Arrow batch (one row group) and is never copied to be joined.
FAST_PAGE_ROWS = 65_536


def fast_pages(
    pool: ThreadPoolExecutor,
    reader: FastReader,
    fast: FastPlan,
    plan: TablePlan,
    progress: Progress,
    upper,
    max_rows,
    bounds,
    first_key: Callable[[], int | None],
) -> Iterator[list[ArrowChunk]]:
    """Keyset pages through connectorx, each one list of converted chunks (`pymysql_pages`' loop).

    Fetching (connectorx, GIL released) and converting happen in `pool`'s threads: the next
    page is on its way while the caller writes this one. `progress` is updated as each page is
    handed over, so a failed fetch leaves it where the pymysql path can take over."""
    if max_rows is None and _ranged(fast, plan):
        yield from _ranged_pages(pool, reader, fast, plan, progress, upper, bounds, first_key)
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
    progress: Progress,
    upper,
    max_rows,
    bounds,
) -> Iterator[list[ArrowChunk]]:
    """`pymysql_pages`' keyset loop; the next page is fetched while this one is written."""
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
        after = after_values(values_position(_last(chunks), plan), plan)
        taken = progress.taken + got
        job = submit(after, taken, fast) if got == limit else None
        progress.after, progress.taken = after, taken
        yield [ArrowChunk(c, plan) for c in chunks]


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
    progress: Progress,
    upper,
    bounds,
    first_key: Callable[[], int | None],
) -> Iterator[list[ArrowChunk]]:
    """Key-range pages `a < pk <= b`, FETCHERS of them in flight, handed over in key order.

    Ranges run from the first key to read (`first_key()`, one index lookup, when the run starts
    at the beginning) to the run's upper bound (MAX(pk) when the run started). A unique integer
    key holds at most one row a value, so the first ranges are `chunk_rows` keys wide (pages of
    at most `chunk_rows` rows) and all of them are fetched at once; each next range is sized
    from the density of the last one read. A range page has a LIMIT of twice the target: a page
    that reaches it is followed, before anything else, by the rest of its range, so no row is
    skipped and no page holds more than the limit. Positions are those of the rows actually
    read, as on the other paths.
    """
    key = plan.order_quoted[0]
    target = min(plan.table.chunk_rows, FAST_PAGE_ROWS)
    cap = 2 * target
    top = None if upper is None or upper[1] != "<=" else int(upper[2])
    if top is None:  # no upper bound to range up to: in sequence
        yield from _sequential_pages(pool, reader, fast, plan, progress, upper, None, bounds)
        return

    def build(fast: FastPlan, after, end, limit: int) -> str:
        page = _page(plan, fast.select_list, after, upper, bounds, [(key, "<=", end)], limit)
        return reader.render(page.sql, page.params)

    def hand_over(chunks: list[FastChunk]) -> list[ArrowChunk]:
        progress.after = _last(chunks)
        progress.taken += _rows(chunks)
        return [ArrowChunk(c, plan) for c in chunks]

    if progress.after is not None:
        nxt = int(progress.after[0])
    else:
        first = first_key()
        if first is None:
            return  # nothing to read
        nxt = first - 1
    step = target
    pending: list[tuple[Any, int, int]] = []  # (future, after, end), in key order

    def fill() -> None:
        nonlocal nxt
        while nxt < top and len(pending) < FETCHERS:
            end = min(nxt + step, top)
            pending.append(
                (pool.submit(reader.fetch, fast, build(fast, [nxt], end, cap)), nxt, end)
            )
            nxt = end

    fill()
    while pending:
        future, after, end = pending.pop(0)
        redo = lambda f: build(f, [after], end, cap)  # noqa: B023, E731
        chunks, fast = _result(future, reader, fast, redo, plan)
        got = _rows(chunks)
        # The next range is sized from this one, and on its way while this page is written.
        step = max(1, round(target * (end - after) / got)) if got else min(2 * step, 1 << 62)
        fill()
        while chunks:
            yield hand_over(chunks)
            if _rows(chunks) < cap:
                break
            # Denser than expected: the rest of this range, before the next one.
            rest = [int(_last(chunks)[0])]
            chunks, fast = _fetch(reader, fast, lambda f: build(f, rest, end, cap), plan)  # noqa: B023
        progress.after = [str(end)]  # every row up to `end` is handed over
