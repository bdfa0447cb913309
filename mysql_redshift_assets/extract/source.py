"""Sources: where rows come from. MySQL in production, a MySQL-shaped SQLite file for the demo.

A source streams rows as the MySQL text protocol delivers them (str / bytes / None, no Python
type conversion): `mysql_text.py` converts whole columns to Arrow at once, which is exact
(decimals never pass through float) and much faster than per-value conversion. The faster
binary-protocol readers (`readers/`) connect with the source's own settings.
"""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

import pymysql
import pymysql.cursors

from mysql_redshift_assets.closing import Closing
from mysql_redshift_assets.extract.binlog.snapshot import SnapshotStart, open_snapshot
from mysql_redshift_assets.extract.catalog import (
    read_primary_key,
    read_primary_key_parts,
    read_source_columns,
)
from mysql_redshift_assets.extract.mysql_socket import (
    DEFAULT_KEEPALIVE,
    ConnectParams,
    Keepalive,
    PymysqlInternals,
    set_keepalive,
)
from mysql_redshift_assets.extract.mysql_text import raw_conversions, raw_text
from mysql_redshift_assets.extract.readings import Readings
from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.extract.source_helpers import RateLog, mysql_url
from mysql_redshift_assets.identifiers import quote_mysql_ident

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
T = TypeVar("T")
# A socket read of a query's answer waits at most this long for the next bytes (each page,
# control query and bucket hash; `read_timeout_seconds` in connections.yml overrides it).
DEFAULT_READ_TIMEOUT_SECONDS = 1800
# pymysql's error codes for a socket that timed out: connecting (TCP) and reading an answer.
_CONNECT_FAILED, _LOST = 2003, 2013
# Every MySQL session, whichever reader opens it: TIMESTAMPs compared and returned in UTC, long
# result streams allowed.
SESSION_SQL = ("SET time_zone = '+00:00'", "SET SESSION net_write_timeout = 3600")


class Closeable(Protocol):
    def close(self) -> None: ...


class SourceError(RuntimeError):
    """The source cannot be reached or does not have what the config names."""


class Source(Closing, ABC):
    placeholder = "%s"
    # MySQL itself: an information_schema and MySQL's SQL (MD5, CONV, DATE_FORMAT) for reconcile/.
    has_catalog = False

    def __init__(self, name: str, *, reader: str = "pymysql", time_zone: str = "UTC") -> None:
        self.name = name
        # Which reader reads keyset pages (`readers.READER_NAMES`; from connections.yml).
        self.reader = reader
        # The zone applications write DATETIME values in (a table may override it).
        self.time_zone = time_zone
        self._kept: dict[str, Closeable] = {}
        # What a run learned once about the server (privileges, replica): asked once a source.
        self.facts: dict[str, Any] = {}
        # The run's shared reading of clock + open transactions (`committed.clock_and_oldest`).
        self.readings = Readings()

    @property
    def in_snapshot(self) -> bool:
        """Inside `snapshot()`: that read view lives on this source's own connection only."""
        return False

    def kept(self, key: str, make: Callable[[], Any]) -> Any:
        """A client made once per source (a reader's connections), closed with the source."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    def discard_kept(self, key: str) -> None:
        """Close and forget a kept client (a broken one): the next `kept` makes a new one."""
        client = self._kept.pop(key, None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def describe(self) -> str:
        """What `status` shows of the connection: where it points, no secret."""
        return f"{type(self).__name__} {self.name!r}"

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


class MySQLSource(Source):
    """MySQL / MariaDB through PyMySQL. One streaming connection, opened lazily.

    `endpoint`, when given (an SSH tunnel), is called at every connection use and returns the
    local (host, port) to connect to instead of host/port; host/port then only name the server
    in messages. When the endpoint changes (the tunnel dropped and was reopened) the old
    connection is dead: it is dropped and the next query reconnects through the new endpoint,
    except inside `snapshot()`, whose consistent view cannot survive a reconnect: there a
    reopened tunnel or a closed connection is a SourceError, never a session outside it.
    """

    has_catalog = True

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str | None = None,
        connect_timeout: float = 10,
        read_timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        endpoint: Callable[[], tuple[str, int]] | None = None,
        reader: str = "auto",
        time_zone: str = "UTC",
        keepalive: Keepalive = DEFAULT_KEEPALIVE,
    ) -> None:
        super().__init__(name, reader=reader, time_zone=time_zone)
        self._keepalive = keepalive
        self._endpoint = endpoint
        self._connected_to: tuple[str, int] | None = None
        self._in_snapshot = False
        self._params: ConnectParams = dict(
            host=host, port=port, user=user, password=password, database=database,
            connect_timeout=connect_timeout,
            # The handshake (greeting, login, SET NAMES) is read within connect_timeout: a
            # host that accepts TCP and never answers fails fast. Queries then get read_timeout.
            read_timeout=connect_timeout, write_timeout=read_timeout, charset="utf8mb4",
            conv=raw_conversions(), autocommit=True,
        )  # fmt: skip
        self._read_timeout = read_timeout
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
                self._lost_snapshot("the SSH tunnel was reopened")
                self.close()  # its tunnel is gone
        if self._conn is None or not self._conn.open:
            self._lost_snapshot("its connection was closed")
            self._conn = self._open(address)
            self._connected_to = address
        return self._conn

    def _lost_snapshot(self, what: str) -> None:
        if self._in_snapshot:  # a new session would read outside the snapshot
            lost = "the snapshot is lost, run the extraction again"
            raise SourceError(f"source {self.name!r}: {what} during a consistent snapshot; {lost}")

    @property
    def in_snapshot(self) -> bool:
        return self._in_snapshot

    def snapshot_connection(self) -> pymysql.connections.Connection:
        """Inside `snapshot()`: the session the snapshot lives on (the wire reader's pages)."""
        assert self._in_snapshot, "no consistent snapshot is open"
        return self._connection()

    @property
    def secrets(self) -> list[str]:
        """What a reader must scrub from any message it passes on."""
        return [self._params["password"]]

    def describe(self) -> str:
        """What `status` shows: the server, never the password."""
        return f"MySQL {self._params['user']}@{self._params['host']}:{self._params['port']}"

    def _where(self, address: tuple[str, int]) -> str:
        via = f" (through the SSH tunnel at {address[0]}:{address[1]})" if self._endpoint else ""
        return f"{self._params['host']}:{self._params['port']}{via}"

    def _open(self, address: tuple[str, int]) -> pymysql.connections.Connection:
        """A new session set up with `SESSION_SQL` (as every reader's sessions are)."""
        params = self._params | {"host": address[0], "port": address[1]}
        conn = pymysql.connect(**params, defer_connect=True)
        timeout = self._params["connect_timeout"]
        try:
            conn.connect()
        except pymysql.err.OperationalError as exc:
            code, message = (exc.args + ("",))[:2]
            step = "TCP connect" if code == _CONNECT_FAILED else "handshake (greeting, login)"
            if "timed out" in str(message):
                raise SourceError(
                    f"source {self.name!r}: MySQL at {self._where(address)} did not answer the "
                    f"{step} within {timeout:g} s (connect_timeout_seconds in connections.yml)"
                ) from None
            raise SourceError(
                f"source {self.name!r}: cannot connect to MySQL at {self._where(address)} as "
                f"{self._params['user']!r}: ({code}) {message}"
            ) from None
        # pymysql re-applies `_read_timeout` to the socket before each read: from here on a
        # query's answer may be as slow as read_timeout (the wire reader reads the same socket).
        internals = cast(PymysqlInternals, conn)
        internals._read_timeout = self._read_timeout
        if internals._sock is not None:  # TCP keepalive (`mysql_socket.py`)
            set_keepalive(internals._sock, self._keepalive)
        with self._step("setting up the session"), conn.cursor() as cur:
            for statement in SESSION_SQL:
                cur.execute(statement)
        return conn

    @contextlib.contextmanager
    def _step(self, what: str) -> Iterator[None]:
        """Name the source and the step when MySQL stops answering a query."""
        try:
            yield
        except pymysql.err.OperationalError as exc:
            code, message = (exc.args + ("",))[:2]
            if code == _LOST and "timed out" in str(message):
                raise SourceError(
                    f"source {self.name!r}: MySQL at {self._where(self._address_now())} sent "
                    f"nothing for {self._read_timeout:g} s while {what} (read_timeout_seconds in "
                    "connections.yml)"
                ) from None
            raise

    def _address_now(self) -> tuple[str, int]:
        return self._connected_to or (self._params["host"], self._params["port"])

    def open_session(self) -> pymysql.connections.Connection:
        """A new session of its own (the wire reader's): same account, settings and tunnel."""
        return self._open(self._address())

    def quote(self, ident: str) -> str:
        return quote_mysql_ident(ident)

    def table_ref(self, schema: str, table: str) -> str:
        return f"{quote_mysql_ident(schema)}.{quote_mysql_ident(table)}"

    def columns(self, schema: str, table: str) -> list[SourceColumn]:
        with self._step("reading the columns"), self._connection().cursor() as cur:
            return read_source_columns(cur, schema, table)

    def primary_key(self, schema: str, table: str) -> list[str]:
        with self._step("reading the primary key"), self._connection().cursor() as cur:
            return read_primary_key(cur, schema, table)

    def key_prefixes(self, schema: str, table: str) -> dict[str, int]:
        with self._step("reading the primary key"), self._connection().cursor() as cur:
            parts = read_primary_key_parts(cur, schema, table)
        return {name: n for name, n in parts.items() if n is not None}

    def stream(self, sql: str, params: Sequence[Any], fetch_rows: int) -> Iterator[list[Row]]:
        cur = self._connection().cursor(pymysql.cursors.SSCursor)
        rate = RateLog(f"source {self.name!r}: query")
        try:
            with self._step("running a query"):
                cur.execute(sql, tuple(params))
            while True:
                with self._step("reading a query's rows"):
                    rows = cur.fetchmany(fetch_rows)
                if not rows:
                    break
                rate.add(len(rows))
                yield list(rows)
        finally:
            cur.close()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._step("running a query"), self._connection().cursor() as cur:
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
        # Never logged: it carries the password (TCP to the same host/port or tunnel end).
        return mysql_url(self.replication_params() | {"database": self._params["database"]})

    def replication_params(self) -> dict[str, Any]:
        """pymysql keyword arguments for a binlog reader's own connections: this source's
        account, server and SSH tunnel (never logged: it holds the password)."""
        host, port = self._address()
        keep = ("user", "password", "connect_timeout", "write_timeout", "charset")
        return {k: self._params[k] for k in keep} | {  # type: ignore[literal-required]
            "host": host, "port": port, "read_timeout": self._read_timeout,
        }  # fmt: skip

    @contextlib.contextmanager
    def binlog_snapshot(self) -> Iterator[SnapshotStart]:
        """`snapshot()` with the binlog position it corresponds to (`binlog/snapshot.py`):
        every transaction committed before it is in the read view, none after."""
        with self._snapshot(lambda conn: open_snapshot(conn)[0]) as start:
            yield start

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        def start(conn: pymysql.connections.Connection) -> None:
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

        with self._snapshot(start):
            yield

    @contextlib.contextmanager
    def _snapshot(self, start: Callable[[pymysql.connections.Connection], T]) -> Iterator[T]:
        conn = self._connection()
        with self._step("starting a snapshot"):
            opened = start(conn)
        self._in_snapshot = True
        try:
            yield opened
        finally:
            self._in_snapshot = False
            try:
                if conn.open:
                    conn.rollback()
            except pymysql.err.Error:  # lost or out of step after a failed read: not reused
                self._conn = None

    def close(self) -> None:
        super().close()
        if self._conn is not None and self._conn.open:
            try:
                self._conn.close()
            except pymysql.err.Error:
                pass  # already gone (e.g. its tunnel dropped)
        self._conn = None
        self._connected_to = None
