"""Readers of keyset pages, chosen by name (a source's `reader:` in connections.yml).

| name         | reads                                                        |
|--------------|--------------------------------------------------------------|
| `wire`       | MySQL's binary protocol, row packets cut by a C parser       |
| `connectorx` | MySQL's binary protocol through connectorx (Rust)            |
| `pymysql`    | MySQL's text protocol on the source's own connection         |
| `auto`       | `wire` where its parser was built at install, else connectorx |

Whatever the choice, a table a binary-protocol reader does not cover (a column or keyset type
it cannot carry exactly, no primary key) is read with the text protocol, and so is the rest of
a run after a binary-protocol reader fails (`extract/table.py`). Inside a MySQL snapshot (a
full table's copy, a window, a resync, a binlog copy) the read view lives on the source's own
session: the wire reader reads its pages there, one at a time (`wire.py`); connectorx, whose
sessions are its own, does not, and the text protocol reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from mysql_redshift_assets.config.connections import ReaderName
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.readers import connectorx, wire
from mysql_redshift_assets.extract.readers.base import PageRequest, TableReader
from mysql_redshift_assets.extract.readers.binary import plan_binary
from mysql_redshift_assets.extract.readers.binary_pages import BinaryClient, BinaryPages
from mysql_redshift_assets.extract.readers.pymysql import TextPages
from mysql_redshift_assets.extract.source import MySQLSource, Source, SourceError

__all__ = ["READER_NAMES", "PageRequest", "ReaderName", "TableReader", "TextPages", "open_reader"]

READER_NAMES: tuple[str, ...] = get_args(ReaderName)

# A binary-protocol reader opens a connection a page: below this many rows a page, the text
# protocol is faster.
BINARY_MIN_CHUNK_ROWS = 1_000


def _wire_client(source: MySQLSource) -> BinaryClient:
    return wire.WireReader(source.name, connect=source.open_session, render=source.render)


def _wire_snapshot_client(source: MySQLSource) -> BinaryClient:
    return wire.WireReader(
        source.name,
        connect=source.open_session,
        render=source.render,
        snapshot=source.snapshot_connection,
    )


def _connectorx_client(source: MySQLSource) -> BinaryClient:
    return connectorx.ConnectorxReader(
        source.name, url=source.connectorx_url, render=source.render, secrets=source.secrets
    )


# name -> (built here?, the client of one source)
BINARY_READERS: dict[str, tuple[Callable[[], bool], Callable[[MySQLSource], BinaryClient]]] = {
    "wire": (wire.available, _wire_client),
    "connectorx": (connectorx.available, _connectorx_client),
}


def resolve_reader(name: str) -> str:
    """The reader `name` stands for on this machine (`auto`: wire where built, else connectorx)."""
    if name not in READER_NAMES:
        raise ValueError(f"unknown reader {name!r}: use one of {', '.join(READER_NAMES)}")
    if name == "auto":
        return next((n for n, (built, _) in BINARY_READERS.items() if built()), "pymysql")
    if name == "wire" and not wire.available():
        raise SourceError(
            "reader wire: the wire parser was not built at install (it needs a C compiler); "
            "install again with one, or choose `reader: auto`"
        )
    return name


def binary_client(source: Source) -> BinaryClient | None:
    """The source's binary-protocol client, kept by the source; None where its pages are read
    with the text protocol (chosen so, the demo source, or connectorx inside a MySQL snapshot).
    Inside a snapshot, the wire reader that reads on the snapshot's own session."""
    name = resolve_reader(source.reader)
    if name == "pymysql" or not isinstance(source, MySQLSource):
        return None
    if source.in_snapshot:
        if name != "wire":
            return None
        return source.kept("wire-snapshot", lambda: _wire_snapshot_client(source))
    make = BINARY_READERS[name][1]
    return source.kept(name, lambda: make(source))


def open_reader(source: Source, plan: TablePlan, page_rows: int) -> TableReader:
    """The reader of this table's pages (`page_rows` rows a query): the source's choice where
    it covers the table."""
    text = TextPages(source, plan, page_rows)
    client = binary_client(source) if plan.primary_key else None
    if client is None or page_rows < BINARY_MIN_CHUNK_ROWS:
        return text
    binary = plan_binary(plan.columns, plan.order_indexes)
    if binary is None:
        return text
    # In a snapshot one session reads every page: one page at a time.
    concurrent = not source.in_snapshot
    name = resolve_reader(source.reader)
    return BinaryPages(name, client, plan, binary, page_rows, concurrent=concurrent)
