"""The wire read path: keyset pages over MySQL's binary protocol, parsed in C into Arrow buffers.

connectorx reads the binary protocol in Rust, but it allocates every string and decimal it
reads one by one and converts each value to a Rust type first: about 2.2 s of CPU for 2M rows
of the bench table, as much as the server spends sending them. Here pymysql only connects
(authentication, TLS, SSH tunnel ends alike); the page query is prepared and executed
(COM_STMT_PREPARE / COM_STMT_EXECUTE, the binary protocol connectorx uses, so the server's cost
is the same) and the row packets are read from pymysql's socket in large chunks and cut by
`_wire.RowParser` (C, GIL released, no allocation per value) into Arrow buffers: integers,
floats and dates as fixed-width values, everything else as the bytes the server sent.

The SELECT list and the conversions are the connectorx path's (`readers/binary.py`:
`plan_binary`, `convert_column`): the same expressions guard zero dates and cast what the binary
protocol cannot carry exactly, and the same kernels turn the values into the planner's types,
so both binary readers give the pymysql path's schema and values (tests compare all three). A zero
or impossible date raises `TemporalUnreadable`, as on the connectorx path: temporals are then
read as text for the rest of the run.

Connections are kept (one per page in flight); each session runs `SESSION_SQL` first. Anything
else unexpected (an error packet, a row of 16 MiB or more, a malformed packet, a value that
does not convert, a lost connection) raises `BinaryPathUnavailable`, the connection is closed, and
`extract/table.py` reads on with the text protocol from the last page handed over.

Inside a MySQL snapshot (`snapshot=`: a full table's copy, a window, a resync, a binlog copy)
the read view lives on the source's own session only, so the pages are read there, one at a
time, and that session is never closed or replaced here. A page that fails with the session
still in step (an error packet, a 16 MiB row, a zero date, a value that does not convert: the
rest of its result is read and dropped) raises as above, and the text protocol reads on in the
same snapshot; a page that leaves it out of step or lost raises SourceError: the read fails.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

import pyarrow as pa
import pymysql
from pymysql.protocol import FieldDescriptorPacket

from mysql_redshift_assets.extract.readers.binary import (
    BinaryChunk,
    BinaryPathUnavailable,
    BinaryPlan,
    TemporalUnreadable,
    convert_column,
    keep_rss_flat,
)
from mysql_redshift_assets.extract.source import SourceError

if TYPE_CHECKING:
    import mysql_redshift_assets.extract.readers._wire as _wire_types


class _WireModule(Protocol):
    """The C parser module's names (`_wire.pyi`): `_wire` is that module, or None unbuilt."""

    @property
    def WireError(self) -> type[_wire_types.WireError]: ...
    @property
    def TooLarge(self) -> type[_wire_types.TooLarge]: ...
    @property
    def BadTemporal(self) -> type[_wire_types.BadTemporal]: ...
    @property
    def RowParser(self) -> type[_wire_types.RowParser]: ...


_wire: _WireModule | None
try:
    import mysql_redshift_assets.extract.readers._wire as _wire
except ImportError:  # built at install (optional: no compiler, no wire path)
    _wire = None
if sys.byteorder != "little":  # the parser copies floats as the host stores them
    _wire = None

COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE = 0x16, 0x17, 0x19
UNSIGNED_FLAG = 32
# The parser's wire types (_wire.c), by MySQL field type code; any other type is bytes.
W_BYTES, W_I8, W_I16, W_I32, W_I64, W_F32, W_F64, W_DATE, W_DATETIME = range(9)
WIRE_TYPES = {
    1: W_I8,  # TINY
    2: W_I16,  # SHORT
    13: W_I16,  # YEAR
    3: W_I32,  # LONG
    9: W_I32,  # INT24
    8: W_I64,  # LONGLONG
    4: W_F32,  # FLOAT
    5: W_F64,  # DOUBLE
    10: W_DATE,  # DATE
    14: W_DATE,  # NEWDATE
    7: W_DATETIME,  # TIMESTAMP
    12: W_DATETIME,  # DATETIME
}
NOT_CARRIED = {11: "TIME"}  # plan_binary selects TIME as text; a raw one is not expected

# Bytes asked of the socket at a time (one read: the parser takes every whole packet in it).
READ_BYTES = 1 << 20
# Rows a converted chunk at most (a row group): a page is cut into chunks of this many rows.
CHUNK_ROWS = 65_536


class _Session(Protocol):
    """The pymysql `Connection` internals this path drives: pymysql has them, its stubs
    (types-PyMySQL) declare only the public API."""

    _next_seq_id: int
    _rfile: io.BufferedReader
    _sock: socket.socket | None

    def _execute_command(self, command: int, sql: str | bytes) -> None: ...
    def _force_close(self) -> None: ...


def available() -> bool:
    return _wire is not None


def raw_arrays(rows: int, fields: list[Any], buffers: list[tuple[Any, ...]]) -> list[pa.Array]:
    """The parser's buffers as Arrow arrays, typed as connectorx would have typed them."""
    arrays = []
    for field, (valid, offsets, data, nulls) in zip(fields, buffers, strict=True):
        validity = None if valid is None else pa.py_buffer(valid)
        wire = WIRE_TYPES.get(field.type_code, W_BYTES)
        if wire == W_BYTES:
            raw = pa.Array.from_buffers(
                pa.large_binary(), rows, [validity, pa.py_buffer(offsets), pa.py_buffer(data)],
                null_count=nulls,
            )  # fmt: skip
            arrays.append(raw)
            continue
        if wire in (W_F32, W_F64):
            kind = pa.float64()
        elif wire == W_DATETIME:
            kind = pa.timestamp("us")
        elif field.flags & UNSIGNED_FLAG:
            kind = pa.uint64()
        else:
            kind = pa.int64()
        array = pa.Array.from_buffers(kind, rows, [validity, pa.py_buffer(data)], null_count=nulls)
        if wire == W_DATE:  # days since 1970-01-01, always within int32
            array = array.cast(pa.int32()).view(pa.date32())
        arrays.append(array)
    return arrays


def convert_page(plan: BinaryPlan, rows: int, raw: list[pa.Array]) -> list[BinaryChunk]:
    """Raw arrays -> the planner's schema (connectorx path's conversions), in chunks of at
    most CHUNK_ROWS rows (row groups), with the raw order columns for positions."""
    arrays, order_source = [], []
    try:
        for col, array in zip(plan.columns, raw, strict=True):
            if pa.types.is_large_binary(array.type):
                if col.kind == "binary":
                    array = array.cast(pa.binary())
                else:  # text: checked to be UTF-8 here, as pymysql and connectorx do
                    array = array.cast(pa.large_string()).cast(pa.string())
            order_source.append(array)
            if col.kind == "decimal" and pa.types.is_string(array.type):
                arrays.append(array.cast(col.planned.arrow_type))  # MySQL's exact text
            else:
                arrays.append(convert_column(col, array))
    except (BinaryPathUnavailable, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        # Not decided here: pymysql reads the page again and fails with the planner's message.
        name = plan.columns[len(arrays)].planned.source.name
        raise BinaryPathUnavailable(f"column {name!r}: {str(exc)[:200]}") from None
    batch = pa.RecordBatch.from_arrays(arrays, schema=plan.schema)
    order = [order_source[i] for i in plan.order_indexes]
    return [
        BinaryChunk(batch.slice(start, CHUNK_ROWS), [o.slice(start, CHUNK_ROWS) for o in order])
        for start in range(0, rows, CHUNK_ROWS)
    ]


class WireReader:
    """Runs page queries of one MySQL source over kept pymysql connections (`connect()` opens
    one, with the source's settings and through its tunnel); thread-safe."""

    def __init__(
        self,
        name: str,
        *,
        connect: Callable[[], pymysql.connections.Connection],
        render: Callable[[str, Sequence[Any]], str],
        snapshot: Callable[[], pymysql.connections.Connection] | None = None,
    ) -> None:
        if _wire is None:
            raise BinaryPathUnavailable("the wire parser is not built")
        self.name = name
        self._connect, self._snapshot = connect, snapshot
        self.render = render
        self._idle: list[pymysql.connections.Connection] = []
        self._lock = threading.Lock()
        self.broken: str | None = None  # set when connecting fails: the source stays on pymysql
        keep_rss_flat(8 << 20)  # the parser's page buffers: multi-megabyte, in page threads

    def _take(self) -> pymysql.connections.Connection:
        if self._snapshot is not None:
            return self._snapshot()  # the snapshot's session, or SourceError: it is lost
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if conn.open:
                    return conn
        try:
            conn = self._connect()  # a session set up as the source's own (SESSION_SQL)
        except Exception as exc:  # noqa: BLE001 - any failure to connect: stay on pymysql
            self.broken = f"source {self.name!r}: the wire reader could not connect ({exc})"
            raise BinaryPathUnavailable(self.broken) from None
        return conn

    def _give_back(self, conn: pymysql.connections.Connection) -> None:
        if self._snapshot is not None:
            return  # the source's own
        with self._lock:
            self._idle.append(conn)

    def fetch(self, plan: BinaryPlan, sql: str) -> list[BinaryChunk]:
        """Run one query; its rows as converted chunks (in query order)."""
        if self.broken:
            raise BinaryPathUnavailable(self.broken)
        conn = self._take()
        try:
            rows, raw = _read_result(conn, sql, len(plan.columns), drain=self._snapshot is not None)
        except BaseException as exc:
            if isinstance(exc, _InStep):
                exc = exc.error  # the session is in step (in a snapshot): kept open
            elif self._snapshot is not None:
                raise self._lost(exc) from None
            else:
                _close_quietly(conn)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if _wire is not None and isinstance(exc, _wire.BadTemporal) and plan.binary_temporal:
                raise TemporalUnreadable(f"source {self.name!r}: {exc}") from None
            raise BinaryPathUnavailable(
                f"source {self.name!r}: the wire reader could not read a page "
                f"({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
        self._give_back(conn)
        if rows == 0:
            return []
        try:
            return convert_page(plan, rows, raw)
        except BinaryPathUnavailable as exc:
            raise BinaryPathUnavailable(f"source {self.name!r}: {exc}") from None

    def _lost(self, exc: BaseException) -> BaseException:
        if isinstance(exc, (KeyboardInterrupt, SystemExit, SourceError)):
            return exc
        return SourceError(
            f"source {self.name!r}: a page read in a consistent snapshot lost its session or "
            f"left it out of step ({type(exc).__name__}: {str(exc)[:200]}); the snapshot is "
            "lost, run the extraction again"
        )

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close_quietly(conn)


class _InStep(Exception):
    """A page failed, but its result was read to the end: the session is in step."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def _read_result(
    conn: pymysql.connections.Connection, sql: str, ncols: int, *, drain: bool = False
) -> tuple[int, list[pa.Array]]:
    """Prepare and execute `sql` on `conn` and read its whole result set: (rows, raw arrays).
    `drain`: after a failure that leaves the packets' framing whole, the rest of the result is
    read and `_InStep` raised (an error the server sent leaves the session in step too)."""
    try:
        return _execute(conn, sql, ncols, drain)
    except pymysql.err.MySQLError as exc:  # pymysql closes a session it lost or fell out of
        if drain and conn.open:  # step with: open, it read the server's error packet whole
            raise _InStep(exc) from None
        raise


def _execute(
    conn: pymysql.connections.Connection, sql: str, ncols: int, drain: bool
) -> tuple[int, list[pa.Array]]:
    assert _wire is not None
    session = cast(_Session, conn)
    session._execute_command(COM_STMT_PREPARE, sql)
    prepared = conn._read_packet().get_all_data()  # an error packet raises here
    if prepared[:1] != b"\x00" or len(prepared) < 9:
        raise _wire.WireError("unexpected answer to COM_STMT_PREPARE")
    statement, columns, params = struct.unpack_from("<IHH", prepared, 1)
    for count in (params, columns):  # their descriptions, each list closed by an EOF packet
        for _ in range(count + (1 if count else 0)):
            conn._read_packet()
    try:
        session._execute_command(COM_STMT_EXECUTE, struct.pack("<IBI", statement, 0, 1))
        count = conn._read_packet().read_length_encoded_integer()
        fields = [conn._read_packet(FieldDescriptorPacket) for _ in range(count or 0)]
        if not conn._read_packet().is_eof_packet():
            raise _wire.WireError("expected the end of the column descriptions")
        unexpected = [NOT_CARRIED[f.type_code] for f in fields if f.type_code in NOT_CARRIED]
        if count != ncols or unexpected:
            error = _wire.WireError(
                f"expected {ncols} columns, the server sent {count}"
                if count != ncols
                else f"a raw {unexpected[0]} column"
            )
            if drain:
                _skip_rows(session._rfile, b"")
                raise _InStep(error)
            raise error
        types = bytes(WIRE_TYPES.get(f.type_code, W_BYTES) for f in fields)
        unsigned = bytes(1 if f.flags & UNSIGNED_FLAG else 0 for f in fields)
        parser = _wire.RowParser(session._next_seq_id, types, unsigned)
        _read_rows(session._rfile, parser, drain)
    finally:
        if session._sock is not None:  # still in step with the server: free the statement
            session._execute_command(COM_STMT_CLOSE, struct.pack("<I", statement))
    rows, buffers = parser.take()
    return rows, raw_arrays(rows, fields, buffers)


def _read_rows(stream: io.BufferedReader, parser: _wire_types.RowParser, drain: bool) -> None:
    """Feed the parser from pymysql's buffered socket reader until the end of the rows.

    `read1` returns what the reader has already buffered before it reads the socket again
    (`readinto1` into a large buffer would wait for the socket even with bytes buffered, and
    the end of a result may be among them). `drain`: see `_read_result`."""
    assert _wire is not None
    pending = b""
    while not parser.done:
        chunk = stream.read1(READ_BYTES)
        if not chunk:
            raise OSError("the server closed the connection during the result")
        data = pending + chunk if pending else chunk  # starts at a packet
        try:
            used = parser.feed(data)
        except (_wire.BadTemporal, _wire.TooLarge) as exc:  # the framing is whole: skip on
            if not drain:
                raise
            _skip_rows(stream, data)
            raise _InStep(exc) from None
        except _wire.WireError as exc:  # (code, message): the server's error packet, the end
            if drain and exc.args and isinstance(exc.args[0], int):
                raise _InStep(exc) from None
            raise
        pending = data[used:]
    if pending:
        raise _wire.WireError(f"{len(pending)} bytes after the end of the result")


def _skip_rows(stream: io.BufferedReader, data: bytes) -> None:
    """Read and drop the rest of a result, from `data` (which starts at a packet) to its
    end-of-rows or error packet (a 16 MiB packet's continuations are never either)."""
    assert _wire is not None
    pos, continued = 0, False
    while True:
        while len(data) - pos < 4 or len(data) - pos < 4 + _size(data, pos):
            chunk = stream.read1(READ_BYTES)
            if not chunk:
                raise OSError("the server closed the connection during the result")
            data, pos = data[pos:] + chunk, 0
        size, first = _size(data, pos), data[pos + 4 : pos + 5]
        last = not continued and (first == b"\xff" or (first == b"\xfe" and size < 9))
        continued, pos = size == 0xFFFFFF, pos + 4 + size
        if last:
            if pos != len(data):
                raise _wire.WireError(f"{len(data) - pos} bytes after the end of the result")
            return


def _size(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 3], "little") if len(data) - pos >= 3 else 0


def _close_quietly(conn: pymysql.connections.Connection) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - already broken
        try:
            cast(_Session, conn)._force_close()
        except Exception:  # noqa: BLE001
            pass
