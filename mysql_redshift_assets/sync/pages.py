"""Keyset pages as chunks: connectorx where it can read the table, else (and from wherever
the fast path gave up) pymysql."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mysql_redshift_assets.extract.fast_reader import (
    FastPathUnavailable,
    plan_fast,
)
from mysql_redshift_assets.extract.schema_types import raw_text
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.sync.chunks import RawChunk, after_values, row_position
from mysql_redshift_assets.sync.fast_pages import FETCHERS, Progress, fast_pages
from mysql_redshift_assets.sync.plan import TablePlan

log = logging.getLogger(__name__)

FETCH_ROWS = 10_000  # rows a pymysql fetch (and a row group) on the pymysql path

# The connectorx path opens a connection a page: below this many rows a page, pymysql is faster.
FAST_MIN_CHUNK_ROWS = 1_000


def pymysql_pages(
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
        after = after_values(row_position(last, plan), plan)
        if got < limit:
            return


def chunks(source, plan: TablePlan, after, upper, max_rows, bounds) -> Iterator[Any]:
    """Pages as chunks: fetched by connectorx when the source and the table allow it, else (and
    from wherever the fast path gave up) by pymysql."""
    reader = source.fast_reader() if plan.primary_key else None
    fast = None
    if reader is not None and plan.table.chunk_rows >= FAST_MIN_CHUNK_ROWS:
        fast = plan_fast(plan.columns, plan.order_indexes)
    if fast is None:
        for rows in pymysql_pages(source, plan, after, upper, max_rows, bounds):
            yield RawChunk(rows, plan)
        return
    progress = Progress(after)
    pool = ThreadPoolExecutor(FETCHERS, thread_name_prefix="mra-page")

    def first_key() -> int | None:
        """The first key of the pages to read (the control connection; an index lookup)."""
        from mysql_redshift_assets.extract.keyset import page_query

        page = page_query(
            select_list=[plan.order_quoted[0]], table_ref=plan.table_ref,
            order_by=plan.order_quoted, after=after, upper=upper, limit=1,
            placeholder=source.placeholder, bounds=bounds or (),
        )  # fmt: skip
        row = source.query_one(page.sql, page.params)
        return None if row is None else int(raw_text(row[0]))

    try:
        pages = fast_pages(pool, reader, fast, plan, progress, upper, max_rows, bounds, first_key)
        for page in pages:
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
    for rows in pymysql_pages(source, plan, progress.after, upper, remaining, bounds):
        yield RawChunk(rows, plan)
