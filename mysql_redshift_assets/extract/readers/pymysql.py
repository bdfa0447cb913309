"""The text-protocol reader: keyset pages streamed on the source's own connection (pymysql for
MySQL, the demo's SQLite file), converted by `mysql_text.raw_to_arrow`.

It reads every table: the binary-protocol readers fall back to it, and it alone reads inside a
MySQL snapshot (that read view lives on the source's own connection) and keyless tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.extract.batch import Batch
from mysql_redshift_assets.extract.keyset import Bound, page_query
from mysql_redshift_assets.extract.mysql_text import raw_to_arrow
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.readers.base import PageRequest, TableReader
from mysql_redshift_assets.extract.source import Source

FETCH_ROWS = 10_000  # rows a fetch (and a row group) on the text protocol


class TextPages(TableReader):
    name = "pymysql"

    def __init__(self, source: Source, plan: TablePlan, page_rows: int) -> None:
        self.source, self.plan, self._page_rows = source, plan, page_rows

    @property
    def page_rows(self) -> int:
        return self._page_rows

    def read(self, request: PageRequest) -> Iterator[Batch]:
        plan = self.plan
        page = page_query(
            select_list=plan.select_list,
            table_ref=plan.table_ref,
            order_by=plan.order_quoted,
            after=plan.keyset.params(request.after),
            upper=None,
            limit=request.limit,
            placeholder=self.source.placeholder,
            bounds=request.bounds,
        )
        for rows in self.source.stream(page.sql, page.params, FETCH_ROWS):
            yield self._batch(rows)

    def read_all(self, bounds: Sequence[Bound], max_rows: int | None) -> Iterator[Batch]:
        """A keyless table, by one streaming query: identical rows and NULLs make a keyset
        position ambiguous (rows would be skipped), so such a copy is never paged. `bounds`
        (a partition's window, the late-commit bound) restrict it as they do every page."""
        sql = f"SELECT {', '.join(self.plan.select_list)} FROM {self.plan.table_ref}"
        ph = self.source.placeholder
        if bounds:
            sql += " WHERE " + " AND ".join(f"{b.column} {b.op} {ph}" for b in bounds)
        params: list[Any] = [b.value for b in bounds]
        if max_rows is not None:
            sql += f" LIMIT {ph}"
            params.append(int(max_rows))
        for rows in self.source.stream(sql, params, FETCH_ROWS):
            yield self._batch(rows)

    def _batch(self, rows: list[tuple[Any, ...]]) -> Batch:
        plan = self.plan
        by_column: Sequence[Sequence[Any]] = list(zip(*rows, strict=True))
        arrays = [
            raw_to_arrow(col, list(vals)) for col, vals in zip(plan.columns, by_column, strict=True)
        ]
        data = pa.RecordBatch.from_arrays(arrays, schema=plan.arrow_schema)
        keys = tuple(by_column[i] for i in plan.order_indexes)
        return Batch(data, keys, plan.keyset)
