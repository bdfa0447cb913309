"""The snapshot of the initial copy and its binlog position, on a private MariaDB with the binlog on,
while writers in other sessions commit: the rows read in the snapshot, with the binlog's row
changes after the reported position replayed on them, are MySQL's table at the end, row by row.

The replay is strict, so that a position off in either direction fails: an insert of a key the
state already has, or an update / delete whose before image is not the state's row, is a
mismatch (a change applied twice: the position was before the snapshot); a change missing from
the replay leaves a row that differs at the end (the position was after it). A writer commits
deterministically in the gap between `START TRANSACTION WITH CONSISTENT SNAPSHOT` and the next
statement; the two variants that read `SHOW MASTER STATUS` beside the snapshot (before it, after
it) are run too, and must fail."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from mysql_redshift_assets.extract.binlog import snapshot
from mysql_redshift_assets.extract.binlog.positions import FilePosition, MariaDbGtidPos
from mysql_redshift_assets.extract.binlog.snapshot import SnapshotStart, open_snapshot
from mysql_redshift_assets_tests.private_mariadb import MysqlServer

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.filterwarnings("ignore:'db' is deprecated:DeprecationWarning"),
]
Row = tuple[Any, ...]
SEED_ROWS = 300
GAP_ID = 7


@pytest.fixture
def mysql_server(private_mariadb: MysqlServer) -> MysqlServer:
    return private_mariadb


class _GapCursor:
    """A cursor that, right after a statement starting with `after`, commits a change from
    another session: the commit lands between that statement and the next one."""

    def __init__(self, cur: Any, after: str, gap: Callable[[], None]) -> None:
        self._cur, self._after, self._gap = cur, after, gap

    def execute(self, sql: str, args: Any = None) -> int:
        count = self._cur.execute(sql, args)
        if sql.startswith(self._after):
            self._gap()
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)

    def __enter__(self) -> _GapCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cur.close()


class _GapConnection:
    def __init__(self, conn: pymysql.connections.Connection, after: str, gap: Callable[[], None]):
        self._conn, self._after, self._gap = conn, after, gap

    def cursor(self) -> _GapCursor:
        return _GapCursor(self._conn.cursor(), self._after, self._gap)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _writer(server: MysqlServer, db: str, number: int, stop: threading.Event) -> None:
    """Commits, rolls back, updates without any timestamp, deletes, inserts and changes keys."""
    rng = random.Random(number)
    conn = server.connect(db)
    conn.autocommit(False)
    next_id = 10_000 * (number + 1)
    try:
        with conn.cursor() as cur:
            while not stop.is_set():
                op = rng.random()
                target = rng.randrange(1, SEED_ROWS + 1)
                try:
                    if op < 0.4:
                        cur.execute("UPDATE t SET v = v + 1 WHERE id = %s", (target,))
                    elif op < 0.55:
                        cur.execute("DELETE FROM t WHERE id = %s", (target,))
                    elif op < 0.75:
                        next_id += 1
                        cur.execute("INSERT INTO t VALUES (%s, %s, 'new')", (next_id, number))
                    elif op < 0.85:
                        next_id += 1
                        cur.execute("UPDATE t SET id = %s WHERE id = %s", (next_id, target))
                    else:
                        cur.execute("UPDATE t SET v = -1 WHERE id = %s", (target,))
                        conn.rollback()
                        continue
                    conn.commit()
                except pymysql.err.MySQLError:
                    conn.rollback()  # a deadlock or a key taken by another writer
    finally:
        conn.close()


def _gap_commit(server: MysqlServer, db: str) -> Callable[[], None]:
    def gap() -> None:
        with server.connect(db) as other, other.cursor() as cur:
            cur.execute("UPDATE t SET v = v + 1000, note = 'gap' WHERE id = %s", (GAP_ID,))
            cur.execute("INSERT INTO t VALUES (999999, 0, 'gap')")

    return gap


def _rows(conn: Any) -> list[Row]:
    with conn.cursor() as cur:
        cur.execute("SELECT id, v, note FROM t ORDER BY id")
        return [tuple(row) for row in cur.fetchall()]


def replay(
    server: MysqlServer, db: str, start: list[Row], **where: Any
) -> tuple[list[Row], list[str]]:
    """Apply the binlog's row changes of `db`.t from `where` (log_file/log_pos or auto_position)
    to `start`, strictly: returns the rows and every change that did not fit the state."""
    state = {row[0]: row for row in start}
    problems = []
    stream = BinLogStreamReader(
        connection_settings={"unix_socket": server.socket, "user": "root"},
        server_id=random.randrange(100_000, 1_000_000),
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_schemas=[db],
        only_tables=["t"],
        **where,
    )
    try:
        for event in stream:
            for change in event.rows:
                problems += _apply(state, event, change)
    finally:
        stream.close()
    return sorted(state.values()), problems


def _apply(state: dict[Any, Row], event: Any, change: dict[str, Any]) -> list[str]:
    def row(values: dict[str, Any]) -> Row:
        return (values["id"], values["v"], values["note"])

    if isinstance(event, WriteRowsEvent):
        after = row(change["values"])
        problem = (
            [f"insert of {after}: key already there as {state[after[0]]}"]
            if after[0] in state
            else []
        )
        state[after[0]] = after
        return problem
    before = row(
        change["before_values"] if isinstance(event, UpdateRowsEvent) else change["values"]
    )
    problem = (
        []
        if state.get(before[0]) == before
        else [f"before image {before} != {state.get(before[0])}"]
    )
    state.pop(before[0], None)
    if isinstance(event, UpdateRowsEvent):
        after = row(change["after_values"])
        state[after[0]] = after
    return problem


@pytest.fixture
def seeded(mysql_server: MysqlServer, mysql_db: str) -> Iterator[str]:
    with mysql_server.connect(mysql_db) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(20))")
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, 'seed')", [(i, i) for i in range(1, SEED_ROWS + 1)]
        )
    yield mysql_db


def run_initial_copy(
    server: MysqlServer, db: str, gap_after: str = "START TRANSACTION"
) -> tuple[SnapshotStart, list[Row], list[Row]]:
    """Writers run before, during and after the snapshot; a transaction is open across it; one
    commit lands in the gap. Returns the position, the snapshot's rows and the final rows."""
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(server, db, n, stop)) for n in range(3)]
    for thread in writers:
        thread.start()
    across = server.connect(db)
    across.autocommit(False)
    try:
        with across.cursor() as cur:
            cur.execute("UPDATE t SET note = 'across' WHERE id = %s", (SEED_ROWS,))
        threading.Event().wait(0.3)
        conn = server.connect(db)
        with conn:
            gapped = _GapConnection(conn, gap_after, _gap_commit(server, db))
            position, in_snapshot = open_snapshot(gapped)
            rows = _rows(in_snapshot)
            in_snapshot.commit()
        across.commit()
        threading.Event().wait(0.3)
    finally:
        across.close()  # first: a writer may wait for its row lock
        stop.set()
        for thread in writers:
            thread.join()
    with server.connect(db) as conn:
        return position, rows, _rows(conn)


def test_the_snapshot_plus_the_binlog_after_its_position_is_the_table(
    mysql_server: MysqlServer, seeded: str
) -> None:
    position, rows, final = run_initial_copy(mysql_server, seeded)
    assert 999999 not in {r[0] for r in rows}  # the gap commit is after the snapshot
    replayed, problems = replay(
        mysql_server, seeded, rows, log_file=position.file.file, log_pos=position.file.offset
    )
    assert problems == []
    assert replayed == final
    assert len(set(final) - set(rows)) > 50, "the writers changed the table after the snapshot"
    assert isinstance(position.gtid, MariaDbGtidPos), "MariaDB converts it to a GTID position"
    assert position.position == position.gtid  # the stream's start where there is a GTID
    by_gtid, problems = replay(
        mysql_server, seeded, rows, auto_position=position.gtid.format(), is_mariadb=True
    )
    assert problems == []
    assert by_gtid == final


def _master_status(server: MysqlServer) -> Callable[[Any], SnapshotStart]:
    """A position read by `SHOW MASTER STATUS` in a separate session (BINLOG MONITOR)."""

    def read(conn: Any) -> SnapshotStart:
        with server.root() as root, root.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            file, offset = cur.fetchone()[:2]
        with conn.cursor() as cur:
            cur.execute("SELECT 'position read'")  # the statement after which the gap commits
        return SnapshotStart(FilePosition(str(file), int(offset)), None)

    return read


def test_a_position_read_after_the_snapshot_opened_misses_the_gap_commit(
    mysql_server: MysqlServer, seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "_mariadb_position", _master_status(mysql_server))
    position, rows, final = run_initial_copy(mysql_server, seeded)
    replayed, problems = replay(
        mysql_server, seeded, rows, log_file=position.file.file, log_pos=position.file.offset
    )
    assert replayed != final
    missing = {row for row in final if row[0] == 999999} - set(replayed)
    assert missing == {(999999, 0, "gap")}


def test_a_position_read_before_the_snapshot_opened_replays_the_gap_commit_twice(
    mysql_server: MysqlServer, seeded: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def status_then_snapshot(conn: Any) -> SnapshotStart:
        position = _master_status(mysql_server)(conn)
        with conn.cursor() as cur:
            cur.execute(snapshot.SNAPSHOT)
        return position

    monkeypatch.setattr(snapshot, "_open_mariadb", status_then_snapshot)
    position, rows, _ = run_initial_copy(mysql_server, seeded, gap_after="SELECT 'position read'")
    _, problems = replay(
        mysql_server, seeded, rows, log_file=position.file.file, log_pos=position.file.offset
    )
    assert any("insert of (999999, 0, 'gap')" in problem for problem in problems)


def test_a_snapshot_without_a_binlog_names_log_bin(mariadb_server: None) -> None:
    """The shared server runs without a binlog: there is no position to start the stream at."""
    from mysql_redshift_assets.extract.binlog.server import BinlogPreflightError
    from mysql_redshift_assets_tests.conftest import mysql_connect

    with mysql_connect() as conn:
        with pytest.raises(BinlogPreflightError, match="the binary log is off .* log_bin"):
            open_snapshot(conn)
        with conn.cursor() as cur:
            cur.execute("SELECT @@in_transaction")
            assert cur.fetchone()[0] == 0  # the snapshot's transaction was rolled back
