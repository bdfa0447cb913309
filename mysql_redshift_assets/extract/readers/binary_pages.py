"""One table's keyset pages through a binary-protocol client (`wire` or `connectorx`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from mysql_redshift_assets.extract.batch import Batch
from mysql_redshift_assets.extract.keyset import page_query
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.readers.base import PageRequest, TableReader
from mysql_redshift_assets.extract.readers.binary import (
    BinaryChunk,
    BinaryPlan,
    TemporalUnreadable,
)
from mysql_redshift_assets.extract.shaping import redact

log = logging.getLogger(__name__)


# Rows a binary-protocol page at most: connectorx holds a whole result in memory, and 65,536 is
# its own batch size, so a page is one Arrow batch (one row group) and is never copied to be
# joined; the wire reader cuts pages into chunks of as many rows.
BINARY_PAGE_ROWS = 65_536


class BinaryClient(Protocol):
    """A binary-protocol reader of one source: runs a page query, returns converted chunks."""

    name: str
    broken: str | None

    def fetch(self, plan: BinaryPlan, sql: str) -> list[BinaryChunk]: ...

    def render(self, sql: str, params: Sequence[Any]) -> str: ...


class BinaryPages(TableReader):
    """One table's keyset pages through a binary-protocol client (wire or connectorx).

    After a date the binary protocol cannot carry (2024-02-31), the page is read again with
    temporal columns as text, and so is the rest of the run; any other failure is
    `BinaryPathUnavailable`, and `read_table` reads on with the text protocol."""

    def __init__(
        self,
        name: str,
        client: BinaryClient,
        plan: TablePlan,
        binary: BinaryPlan,
        page_rows: int,
        *,
        concurrent: bool = True,  # False: one session (a snapshot's) reads every page
    ) -> None:
        self.name, self.client, self.plan, self._binary = name, client, plan, binary
        self._page_rows, self.concurrent = page_rows, concurrent

    @property
    def page_rows(self) -> int:
        return min(self._page_rows, BINARY_PAGE_ROWS)

    @property
    def integer_key(self) -> bool:
        if not self.plan.cursor_is_pk or len(self.plan.order_indexes) != 1:
            return False
        return self._binary.columns[self.plan.order_indexes[0]].kind in ("int", "uint64")

    def read(self, request: PageRequest) -> Iterator[Batch]:
        for chunk in self._fetch(request):
            yield Batch(chunk.batch, tuple(chunk.order), self.plan.keyset)

    def _fetch(self, request: PageRequest) -> list[BinaryChunk]:
        binary = self._binary
        try:
            return self.client.fetch(binary, self._sql(binary, request))
        except TemporalUnreadable as exc:
            log.info(
                "%s: %s; temporal columns are read as text from here",
                self.plan.table.qualified,
                redact(str(exc)),  # never a hash key's pads, should a message quote the query
            )
            text = self._binary = binary.text_temporal()
            return self.client.fetch(text, self._sql(text, request))

    def _sql(self, binary: BinaryPlan, request: PageRequest) -> str:
        page = page_query(
            select_list=binary.select_list,
            table_ref=self.plan.table_ref,
            order_by=self.plan.order_quoted,
            after=self.plan.keyset.params(request.after),
            upper=None,
            limit=request.limit,
            placeholder="%s",
            bounds=request.bounds,
        )
        return self.client.render(page.sql, page.params)
