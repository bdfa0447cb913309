"""Sources: where rows come from. MySQL in production, a MySQL-shaped SQLite file for the demo.

A source streams rows as the MySQL text protocol delivers them (str / bytes / None, no Python
type conversion): `mysql_text.py` converts whole columns to Arrow at once, which is exact
(decimals never pass through float) and much faster than per-value conversion. The faster
binary-protocol readers (`readers/`) connect with the source's own settings.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, TypedDict
from urllib.parse import quote

import pymysql
import pymysql.cursors

from mysql_redshift_assets.extract.catalog import (
    read_primary_key,
    read_primary_key_parts,
    read_source_columns,
)
from mysql_redshift_assets.extract.mysql_text import raw_conversions, raw_text
from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.identifiers import quote_mysql_ident

Row = tuple[Any, ...]
# Every MySQL session, whichever reader opens it: TIMESTAMPs compared and returned in UTC, long
# result streams allowed.
SESSION_SQL = ("SET time_zone = '+00:00'", "SET SESSION net_write_timeout = 3600")


class Closeable(Protocol):
    def close(self) -> None: ...


class SourceError(RuntimeError):
    """The source cannot be reached or does not have what the config names."""


class Source(ABC):
    placeholder = "%s"
    # Speaks MySQL's SQL (MD5, CONV, DATE_FORMAT): bucket comparisons (reconcile/) can run on it.
    reconciles = False

    def __init__(self, name: str, *, reader: str = "pymysql", time_zone: str = "UTC") -> None:
        self.name = name
        # Which reader reads keyset pages (`readers.READER_NAMES`; from connections.yml).
        self.reader = reader
        # The zone applications write DATETIME values in (a table may override it).
        self.time_zone = time_zone
        self._kept: dict[str, Closeable] = {}
        # What a run learned once about the server (privileges, replica): asked once a source.
        self.facts: dict[str, Any] = {}

    @property
    def in_snapshot(self) -> bool:
        """Inside `snapshot()`: that read view lives on this source's own connection only."""
        return False

    def kept(self, key: str, make: Callable[[], Any]) -> Any:
        """A client made once per source (a reader's connections), closed with the source."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    @abstractmethod
    def quote(self, ident: str) -> str: ...

    @abstractmethod
    def table_ref(self, schema: str, table: str) -> str: ...

    def select_expr(self, expr: str) -> str:
        """Wrap a planner select expression where the source needs it (the demo casts to text)."""
        return expr

    @abstractmethod
    def columns(self, schema: str, table: str) -> list[SourceColumn]: ...

    @abstractmethod
    def primary_key(self, schema: str, table: str) -> list[str]: ...

    def key_prefixes(self, schema: str, table: str) -> dict[str, int]:
        """Primary-key columns indexed on a prefix only (`PRIMARY KEY (b(16))`): length."""
        return {}

    @abstractmethod
    def stream(self, sql: str, params: Sequence[Any], fetch_rows: int) -> Iterator[list[Row]]:
        """Run one query; yield its rows in lists of at most `fetch_rows`, raw values."""

    @abstractmethod
    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """One row, raw values (control queries: bounds, counts)."""

    @abstractmethod
    def now_minus(self, seconds: int) -> str:
        """The server's UTC time minus `seconds`, as the text MySQL compares DATETIMEs with."""

    def utc_now(self) -> datetime:
        """The server's UTC clock (naive), the one clock every bound is computed from."""
        return datetime.fromisoformat(self.now_minus(0))

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Queries inside see one consistent snapshot (full-table copies)."""
        yield

    def close(self) -> None:
        kept, self._kept = self._kept, {}
        for client in kept.values():
            client.close()


class _ConnectParams(TypedDict):
    """A MySQLSource's `pymysql.connect` arguments (host/port: the server, not a tunnel end)."""

    host: str
    port: int
    user: str
    password: str
    database: str | None
    connect_timeout: int
    read_timeout: int
    write_timeout: int
    charset: str
    conv: dict[Any, Any]  # `raw_conversions()`
    autocommit: bool


class MySQLSource(Source):
    """MySQL / MariaDB through PyMySQL. One streaming connection, opened lazily.

    `endpoint`, when given (an SSH tunnel), is called at every connection use and returns the
    local (host, port) to connect to instead of host/port; host/port then only name the server
    in messages. When the endpoint changes (the tunnel dropped and was reopened) the old
    connection is dead: it is dropped and the next query reconnects through the new endpoint,
    except inside `snapshot()`, whose consistent view cannot survive a reconnect (SourceError).
    """

    reconciles = True

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str | None = None,
        connect_timeout: int = 10,
        endpoint: Callable[[], tuple[str, int]] | None = None,
        reader: str = "auto",
        time_zone: str = "UTC",
    ) -> None:
        super().__init__(name, reader=reader, time_zone=time_zone)
        self._endpoint = endpoint
        self._connected_to: tuple[str, int] | None = None
        self._in_snapshot = False
        self._params: _ConnectParams = dict(
            host=host,
            port=port,
            user=user,
            password=password,
            database=database,
            connect_timeout=connect_timeout,
            read_timeout=3600,
            write_timeout=3600,
            charset="utf8mb4",
            conv=raw_conversions(),
            autocommit=True,
        )
        self._conn: pymysql.connections.Connection | None = None

    def __repr__(self) -> str:
        return f"MySQLSource({self.name!r}, host={self._params['host']!r})"

    def _address(self) -> tuple[str, int]:
        """Where to connect: host/port, or the SSH tunnel's local end (opened, or reopened once
        if it dropped)."""
        if self._endpoint is not None:
            return self._endpoint()
        return (self._params["host"], self._params["port"])

    def _connection(self) -> pymysql.connections.Connection:
        address = self._address()
        if self._endpoint is not None:
            if self._conn is not None and self._conn.open and address != self._connected_to:
                if self._in_snapshot:
                    raise SourceError(
                        f"source {self.name!r}: the SSH tunnel was reopened during a consistent "
                        "snapshot; the snapshot is lost, run the extraction again"
                    )
                self.close()  # its tunnel is gone
        if self._conn is None or not self._conn.open:
            self._conn = self._open(address)
            self._connected_to = address
        return self._conn

    @property
    def in_snapshot(self) -> bool:
        return self._in_snapshot

    @property
    def secrets(self) -> list[str]:
        """What a reader must scrub from any message it passes on."""
        return [self._params["password"]]

    def _open(self, address: tuple[str, int]) -> pymysql.connections.Connection:
        """A new session set up with `SESSION_SQL` (as every reader's sessions are)."""
        via = f" (through the SSH tunnel at {address[0]}:{address[1]})" if self._endpoint else ""
        try:
            conn = pymysql.connect(**(self._params | {"host": address[0], "port": address[1]}))
        except pymysql.err.OperationalError as exc:
            code, message = (exc.args + ("",))[:2]
            raise SourceError(
                f"source {self.name!r}: cannot connect to MySQL at "
                f"{self._params['host']}:{self._params['port']}{via} as "
                f"{self._params['user']!r}: ({code}) {message}"
            ) from None
        with conn.cursor() as cur:
            for statement in SESSION_SQL:
                cur.execute(statement)
        return conn

    def open_session(self) -> pymysql.connections.Connection:
        """A new session of its own (the wire reader's): same account, settings and tunnel."""
        return self._open(self._address())

    def quote(self, ident: str) -> str:
        return quote_mysql_ident(ident)

    def table_ref(self, schema: str, table: str) -> str:
        return f"{quote_mysql_ident(schema)}.{quote_mysql_ident(table)}"

    def columns(self, schema: str, table: str) -> list[SourceColumn]:
        with self._connection().cursor() as cur:
            return read_source_columns(cur, schema, table)

    def primary_key(self, schema: str, table: str) -> list[str]:
        with self._connection().cursor() as cur:
            return read_primary_key(cur, schema, table)

    def key_prefixes(self, schema: str, table: str) -> dict[str, int]:
        with self._connection().cursor() as cur:
            parts = read_primary_key_parts(cur, schema, table)
        return {name: n for name, n in parts.items() if n is not None}

    def stream(self, sql: str, params: Sequence[Any], fetch_rows: int) -> Iterator[list[Row]]:
        cur = self._connection().cursor(pymysql.cursors.SSCursor)
        try:
            cur.execute(sql, tuple(params))
            while rows := cur.fetchmany(fetch_rows):
                yield list(rows)
        finally:
            cur.close()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._connection().cursor() as cur:
            cur.execute(sql, tuple(params))
            return cur.fetchone()

    def now_minus(self, seconds: int) -> str:
        row = self.query_one("SELECT UTC_TIMESTAMP(6) - INTERVAL %s SECOND", (seconds,))
        assert row is not None
        return raw_text(row[0])

    def render(self, sql: str, params: Sequence[Any]) -> str:
        """The query text pymysql sends for `sql` with `params` (`stream`'s very escaping)."""
        with self._connection().cursor() as cur:
            return cur.mogrify(sql, tuple(params))

    def connectorx_url(self) -> str:
        # Never logged: it carries the password. TCP to the same host/port (or tunnel end) as
        # pymysql, never the server's socket, so the account is the same `user`@`host`.
        host, port = (self._params["host"], self._params["port"])
        if self._endpoint is not None:
            host, port = self._endpoint()
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        user = quote(self._params["user"], safe="")
        password = quote(self._params["password"] or "", safe="")
        database = quote(self._params["database"] or "", safe="")
        timeout_ms = int(self._params["connect_timeout"]) * 1000
        return (
            f"mysql://{user}:{password}@{host}:{port}/{database}"
            f"?cxprotocol=binary&prefer_socket=false&tcp_connect_timeout_ms={timeout_ms}"
        )

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        conn = self._connection()
        with conn.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        self._in_snapshot = True
        try:
            yield
        finally:
            self._in_snapshot = False
            if conn.open:
                conn.rollback()

    def close(self) -> None:
        super().close()
        if self._conn is not None and self._conn.open:
            try:
                self._conn.close()
            except pymysql.err.Error:
                pass  # already gone (e.g. its tunnel dropped)
        self._conn = None
        self._connected_to = None
