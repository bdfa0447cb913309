"""One read of a server's row-based binlog: from a start position up to the binlog end as it was
when the read began, the committed transactions in commit order, each with the row changes of
the caller's tables and the position after it (the position to resume from).

- The end is `server.binlog_end` (`SHOW MASTER STATUS`) read before the stream opens; the read
  stops there and never waits for more (the dump is non-blocking, so the server also ends it at
  the newest event). Errors name the fix from `server`: the same GRANT as the preflight for the
  detected flavour (`grant_statement`), the same setting fixes.
- The binlog is written at commit, one transaction group at a time, so its order is commit
  order (not begin order), and an InnoDB transaction that rolls back never reaches it.
- A group ends with an XID event (InnoDB), or a `COMMIT` query (a non-transactional table, whose
  changes happened and are kept), or a `ROLLBACK` query: a group that rolled back after changing
  a non-transactional table the caller reads cannot be applied exactly (the table kept the
  changes, the group says rollback): an error naming the table. DDL is a group of its own,
  yielded with its statement and no changes (schema changes are for a later lane: issue 26).
- Rotation (`FLUSH BINARY LOGS`) is followed: the server sends the next file's events.
- Column names come from the table map's optional metadata (`binlog_row_metadata=FULL`); a table
  of the caller's without them is an error naming that setting, never a guess; so is a row image
  without every column (`binlog_row_image=FULL`).
- A purged start is an error naming resync (never a skip); a dropped dump connection is an error
  (the library would reconnect, and from a GTID start replay): the next read resumes after the
  last transaction yielded. `_DumpConnection` fixes the library's MariaDB GTID dump request.

Positions: a read started at a `FilePosition` resumes by file positions; one started at a
`MariaDbGtidPos` by MariaDB GTIDs (the GTID of each group advances its domain); a
`MysqlGtidSet` start adds each group's GTID to the set (MySQL cannot run here: untested).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import (
    GtidEvent,
    MariadbGtidEvent,
    QueryEvent,
    RotateEvent,
    XidEvent,
)
from pymysqlreplication.row_event import (
    DeleteRowsEvent,
    TableMapEvent,
    UpdateRowsEvent,
    WriteRowsEvent,
)

from mysql_redshift_assets.extract.binlog.positions import (
    BinlogPosition,
    FilePosition,
    MariaDbGtid,
    MariaDbGtidPos,
    MysqlGtidSet,
)
from mysql_redshift_assets.extract.binlog.server import (
    ACCESS_DENIED,
    KEEP_LONGER,
    ROW_IMAGE_FIX,
    ROW_METADATA_FIX,
    BinlogError,
    binlog_end,
    current_account,
    detect_server,
    grant_statement,
)
from mysql_redshift_assets.extract.binlog.values import column_fixes, fixed, missing_columns

TableName = tuple[str, str]
Operation = Literal["insert", "update", "delete"]
_EVENTS = [
    RotateEvent,
    GtidEvent,
    MariadbGtidEvent,
    QueryEvent,
    XidEvent,
    TableMapEvent,
    WriteRowsEvent,
    UpdateRowsEvent,
    DeleteRowsEvent,
]
_ER_MASTER_FATAL_READING_BINLOG = 1236  # the dump's error: e.g. the start was purged
_STANDALONE = 0x01  # MariaDB GTID flag: a group of one statement (DDL), no BEGIN/COMMIT


@dataclass(frozen=True)
class RowChange:
    """One row change of a committed transaction: the after image of an insert, both images of
    an update (a primary-key change shows in them), the before image of a delete."""

    table: TableName
    operation: Operation
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class Transaction:
    """A committed transaction group: its changes to the caller's tables, in binlog order; the
    position after it (`position`, of the start's kind, and `end`, the file position after its
    commit event); its GTID where the server has one; its DDL statement, if it was one."""

    position: BinlogPosition
    end: FilePosition
    gtid: str | None
    changes: tuple[RowChange, ...] = ()
    ddl: str | None = None


@dataclass
class _Group:
    gtid: str | None = None
    began: bool = False  # inside BEGIN ... COMMIT (else a statement of its own: DDL)
    changes: list[RowChange] = field(default_factory=list)


def read_transactions(
    connection: dict[str, Any],
    start: BinlogPosition,
    tables: set[TableName],
    *,
    server_id: int | None = None,
) -> Iterator[Transaction]:
    """Every transaction committed from `start` up to the binlog end at the call, in commit
    order, each with its changes to `tables` (schema, table). `connection`: pymysql keyword
    arguments (host, port, user, password). `server_id`: the id this reader registers as a
    replica with; it must differ from every real replica's (default: random in 2^30..2^32-1)."""
    with pymysql.connect(**connection) as conn:
        server = detect_server(conn)
        grant = grant_statement(server, current_account(conn))
        end = binlog_end(conn, server)
    reader = _reader(connection, start, tables, server_id or random.randint(1 << 30, 2**32 - 1))
    try:
        yield from _groups(reader, start, end, tables)
    except pymysql.err.OperationalError as exc:
        raise _stream_error(exc, start, grant) from exc
    finally:
        reader.close()


def _stream_error(
    exc: pymysql.err.OperationalError, start: BinlogPosition, grant: str
) -> BinlogError:
    if exc.args and exc.args[0] == _ER_MASTER_FATAL_READING_BINLOG:
        return BinlogError(
            f"the start position {start.format()} is no longer in the server's binlog (purged): "
            "the table needs a resync (`mysql-redshift resync`); nothing was skipped. Then "
            f"{KEEP_LONGER}: {exc}"
        )
    if exc.args and exc.args[0] in ACCESS_DENIED:
        return BinlogError(f"the binlog stream was refused: run {grant}: {exc}")
    return BinlogError(f"the binlog stream failed at {start.format()} or after it: {exc}")


def _reader(
    connection: dict[str, Any], start: BinlogPosition, tables: set[TableName], server_id: int
) -> BinLogStreamReader:
    common: dict[str, Any] = {
        "connection_settings": dict(connection),
        "pymysql_wrapper": _connect_once(),
        "server_id": server_id,
        "blocking": False,
        "only_events": _EVENTS,
        # Row events of other tables are not decoded ([] filters out every table).
        "only_schemas": sorted({schema for schema, _ in tables}),
        "only_tables": sorted({table for _, table in tables}),
        "enable_logging": False,
    }
    if isinstance(start, FilePosition):
        return BinLogStreamReader(
            **common, log_file=start.file, log_pos=start.offset, resume_stream=True
        )
    if isinstance(start, MariaDbGtidPos):
        return BinLogStreamReader(**common, auto_position=start.format(), is_mariadb=True)
    return BinLogStreamReader(**common, auto_position=start.format())


def _connect_once() -> Any:
    """pymysql.connect for the library, which reconnects by itself when its dump connection
    drops (a GTID read then restarts from its start; measured on MariaDB 10.11, the new
    connections kept dropping in a loop): a second dump connection is an error instead. The
    transactions yielded before it stand; the next read resumes after the last one."""
    dumps = 0

    def connect(**settings: Any) -> pymysql.connections.Connection:
        nonlocal dumps
        if "cursorclass" not in settings:  # the library's other connection sets a DictCursor
            dumps += 1
            if dumps > 1:
                raise BinlogError(
                    "the binlog connection dropped during the read: read again from the "
                    "position of the last transaction received"
                )
        return _DumpConnection(**settings)

    return connect


class _DumpConnection(pymysql.connections.Connection):
    """mysql-replication 1.0.17 declares its MariaDB GTID dump request (COM_BINLOG_DUMP after
    `@slave_connect_state`) one byte shorter than it writes; the stray byte later makes the
    server drop the connection mid-read (measured: a GTID read of 12 MB failed every time).
    Each packet written in one piece gets the length of what follows its header."""

    def _write_bytes(self, data: bytes) -> None:
        if len(data) > 4 and int.from_bytes(data[:3], "little") != len(data) - 4:
            data = (len(data) - 4).to_bytes(3, "little") + data[3:]
        super()._write_bytes(data)  # type: ignore[misc]  # private in pymysql, absent from its stub


def _groups(
    reader: BinLogStreamReader, start: BinlogPosition, end: FilePosition, tables: set[TableName]
) -> Iterator[Transaction]:
    position = start
    group: _Group | None = None
    for event in reader:
        if isinstance(event, RotateEvent):
            continue
        here = FilePosition(str(reader.log_file), int(reader.log_pos))
        if isinstance(event, MariadbGtidEvent | GtidEvent):
            if group is None and _at_end(here, end, event):
                return
            # MariaDB's GTID event opens the transaction itself; MySQL's is followed by BEGIN.
            began = isinstance(event, MariadbGtidEvent) and not _standalone(event)
            group = _Group(gtid=str(event.gtid), began=began)
        elif isinstance(event, TableMapEvent):
            _check_names(event, tables)
        elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
            group = group or _Group(began=True)
            group.changes.extend(_changes(event, tables))
        elif isinstance(event, XidEvent) or _is_query(event, "COMMIT"):
            if group is not None:
                position = _advanced(position, here, group.gtid)
                yield Transaction(position, here, group.gtid, tuple(group.changes))
            group = None
        elif _is_query(event, "ROLLBACK"):
            if group is not None and group.changes:
                names = sorted({".".join(c.table) for c in group.changes})
                raise BinlogError(
                    f"a transaction rolled back after changing the non-transactional table(s) "
                    f"{', '.join(names)} at {here.format()}: those changes stayed in the "
                    "table but cannot be read as committed; convert the table to InnoDB, then resync it"
                )
            group = None
        elif _is_query(event, "BEGIN"):
            group = group or _Group()
            group.began = True
        elif isinstance(event, QueryEvent) and (group is None or not group.began):
            gtid = group.gtid if group else None
            position = _advanced(position, here, gtid)
            yield Transaction(position, here, gtid, (), ddl=_text(event.query))
            group = None
        if group is None and here.at_or_after(end):
            return


def _at_end(here: FilePosition, end: FilePosition, event: Any) -> bool:
    """A group starting at or past the end was committed after the read began."""
    start_of_event = FilePosition(here.file, here.offset - int(event.event_size))
    return start_of_event.at_or_after(end)


def _standalone(event: Any) -> bool:
    return isinstance(event, MariadbGtidEvent) and bool(event.flags & _STANDALONE)


def _text(query: Any) -> str:
    return query.decode("utf-8", "replace") if isinstance(query, bytes) else str(query)


def _is_query(event: Any, word: str) -> bool:
    return isinstance(event, QueryEvent) and _text(event.query).strip().upper() == word


def _advanced(position: BinlogPosition, here: FilePosition, gtid: str | None) -> BinlogPosition:
    if isinstance(position, FilePosition):
        return here
    if gtid is None:
        raise BinlogError(f"a transaction without a GTID at {here.format()} in a GTID read")
    if isinstance(position, MariaDbGtidPos):
        return position.advanced(MariaDbGtid.parse(gtid))
    uuid, _, gno = gtid.rpartition(":")
    return position.added(uuid, int(gno)) if isinstance(position, MysqlGtidSet) else position


def _check_names(event: Any, tables: set[TableName]) -> None:
    if (event.schema, event.table) in tables and any(not c.name for c in event.columns):
        raise BinlogError(
            f"the binlog's row events of {event.schema}.{event.table} carry no column names: "
            f"{ROW_METADATA_FIX}; events written before the change stay without them (resync "
            "the table after it)"
        )


def _changes(event: Any, tables: set[TableName]) -> Iterator[RowChange]:
    table = (event.schema, event.table)
    if table not in tables:
        return
    fixes = column_fixes(event.columns)
    for row in event.rows:
        if isinstance(event, UpdateRowsEvent):
            before = _image(table, row["before_values"], row["before_none_sources"], fixes)
            after = _image(table, row["after_values"], row["after_none_sources"], fixes)
            yield RowChange(table, "update", before, after)
        else:
            image = _image(table, row["values"], row["none_sources"], fixes)
            if isinstance(event, WriteRowsEvent):
                yield RowChange(table, "insert", None, image)
            else:
                yield RowChange(table, "delete", image, None)


def _image(
    table: TableName, values: dict[str, Any], none_sources: dict[str, str], fixes: list[Any]
) -> dict[str, Any]:
    missing = missing_columns(none_sources)
    if missing:
        raise BinlogError(
            f"the binlog's row images of {'.'.join(table)} leave out {', '.join(missing)}: "
            f"{ROW_IMAGE_FIX} (then resync the table)"
        )
    return fixed(values, none_sources, fixes)
