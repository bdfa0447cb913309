"""One table's keyset pages through a binary-protocol client (`wire` or `connectorx`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from mysql_redshift_assets.extract.batch import Batch
from mysql_redshift_assets.extract.keyset import page_query
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.readers.base import PageRequest, TableReader
from mysql_redshift_assets.extract.readers.fast import (
    FastChunk,
    FastPlan,
    TemporalUnreadable,
)

log = logging.getLogger(__name__)


# Rows a binary-protocol page at most: connectorx holds a whole result in memory, and 65,536 is
# its own batch size, so a page is one Arrow batch (one row group) and is never copied to be
# joined; the wire reader cuts pages into chunks of as many rows.
FAST_PAGE_ROWS = 65_536


class FastClient(Protocol):
    """A binary-protocol reader of one source: runs a page query, returns converted chunks."""

    name: str
    broken: str | None

    def fetch(self, plan: FastPlan, sql: str) -> list[FastChunk]: ...

    def render(self, sql: str, params: Sequence[Any]) -> str: ...


class FastPages(TableReader):
    """One table's keyset pages through a binary-protocol client (wire or connectorx).

    After a date the binary protocol cannot carry (2024-02-31), the page is read again with
    temporal columns as text, and so is the rest of the run; any other failure is
    `FastPathUnavailable`, and `read_table` reads on with the text protocol."""

    concurrent = True

    def __init__(
        self, name: str, client: FastClient, plan: TablePlan, fast: FastPlan, page_rows: int
    ) -> None:
        self.name, self.client, self.plan, self._fast = name, client, plan, fast
        self._page_rows = page_rows

    @property
    def page_rows(self) -> int:
        return min(self._page_rows, FAST_PAGE_ROWS)

    @property
    def integer_key(self) -> bool:
        if not self.plan.cursor_is_pk or len(self.plan.order_indexes) != 1:
            return False
        return self._fast.columns[self.plan.order_indexes[0]].kind in ("int", "uint64")

    def read(self, request: PageRequest) -> Iterator[Batch]:
        for chunk in self._fetch(request):
            yield Batch(chunk.batch, tuple(chunk.order), self.plan.keyset)

    def _fetch(self, request: PageRequest) -> list[FastChunk]:
        fast = self._fast
        try:
            return self.client.fetch(fast, self._sql(fast, request))
        except TemporalUnreadable as exc:
            log.info(
                "%s: %s; temporal columns are read as text from here",
                self.plan.table.qualified,
                exc,
            )
            text = self._fast = fast.text_temporal()
            return self.client.fetch(text, self._sql(text, request))

    def _sql(self, fast: FastPlan, request: PageRequest) -> str:
        page = page_query(
            select_list=fast.select_list,
            table_ref=self.plan.table_ref,
            order_by=self.plan.order_quoted,
            after=self.plan.keyset.params(request.after),
            upper=None,
            limit=request.limit,
            placeholder="%s",
            bounds=request.bounds,
        )
        return self.client.render(page.sql, page.params)
