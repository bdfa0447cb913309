"""The binlog stream (extract/binlog/stream.py) against a private MariaDB with the binlog on
(row-based, full metadata), with real writers in other sessions: committed transactions only,
in commit order (not begin order), a transaction open across two reads, rotation between and
during reads, the minimal grants, and a row-by-row comparison of the changes applied to an
initial copy with the table itself."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from mysql_redshift_assets.extract.binlog.changes import applied, table_changes
from mysql_redshift_assets.extract.binlog.positions import FilePosition, MariaDbGtidPos
from mysql_redshift_assets.extract.binlog.preflight import check_grants
from mysql_redshift_assets.extract.binlog.server import BinlogPreflightError, detect_server
from mysql_redshift_assets.extract.binlog.stream import (
    BinlogError,
    Transaction,
    binlog_end,
    read_transactions,
)
from mysql_redshift_assets_tests.integration.binlog_support import (
    BINLOG_USER,
    MINIMAL_GRANTS,
    binlog_account,
)
from mysql_redshift_assets_tests.private_mariadb import MysqlServer


@pytest.fixture
def mysql_server(private_mariadb: MysqlServer) -> MysqlServer:
    return private_mariadb


def _rows(conn: pymysql.connections.Connection, db: str) -> dict[Any, dict[str, Any]]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(f"SELECT * FROM `{db}`.items ORDER BY id")
        return {(row["id"],): row for row in cur.fetchall()}


def _applied(initial: dict[Any, Any], transactions: list[Transaction], table: Any) -> Any:
    return applied(initial, table_changes(transactions, table, ["id"]))


def _end(server: MysqlServer) -> FilePosition:
    with server.root() as root:
        return binlog_end(root)


def _read(account: dict[str, Any], start: Any, table: tuple[str, str]) -> list[Transaction]:
    return list(read_transactions(account, start, {table}))


def _ops(transactions: list[Transaction]) -> list[tuple[str, Any, Any]]:
    return [
        (c.operation, (c.before or {}).get("id"), (c.after or {}).get("id"))
        for t in transactions
        for c in t.changes
    ]


def test_committed_changes_in_commit_order_applied_equal_the_table(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any, mysql_sessions: Any
) -> None:
    account = binlog_account(mysql_server, MINIMAL_GRANTS)
    table = (mysql_db, "items")
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20), "
            "updated_at DATETIME(6) NOT NULL DEFAULT '2020-01-01 00:00:00')"
        )
        cur.executemany(
            "INSERT INTO items (id, v) VALUES (%s, %s)", [(i, f"v{i}") for i in range(1, 9)]
        )
    start = _end(mysql_server)  # nothing writes this table between here and the SELECT
    initial = _rows(mysql, mysql_db)
    gtid_start = MariaDbGtidPos.parse(_gtid_binlog_pos(mysql_server))

    a, b, c, d = (mysql_sessions() for _ in range(4))
    a.begin()
    _run(a, f"UPDATE `{mysql_db}`.items SET v = 'a1' WHERE id = 1")  # A begins first ...
    b.begin()
    _run(b, f"UPDATE `{mysql_db}`.items SET v = 'b2' WHERE id = 2")
    _run(b, f"INSERT INTO `{mysql_db}`.items (id, v) VALUES (20, 'b20')")
    b.commit()  # ... B commits first
    _run(a, f"UPDATE `{mysql_db}`.items SET v = 'a2' WHERE id = 2")  # after B's row lock
    a.commit()  # so id 2 ends 'a2' only if A's changes apply after B's
    c.begin()
    _run(c, f"UPDATE `{mysql_db}`.items SET v = 'c3' WHERE id = 3")  # open across the first read
    d.begin()
    _run(d, f"DELETE FROM `{mysql_db}`.items WHERE id = 4")
    d.rollback()
    _run(mysql, f"UPDATE `{mysql_db}`.items SET id = 105 WHERE id = 5")  # a key change
    _run(mysql, f"DELETE FROM `{mysql_db}`.items WHERE id = 6")

    first = _read(account, start, table)
    assert _ops(first) == [
        ("update", 2, 2), ("insert", None, 20),  # B: committed first
        ("update", 1, 1), ("update", 2, 2),  # A: began first, committed second
        ("update", 5, 105), ("delete", 6, None),
    ]  # fmt: skip
    assert [t.changes[0].after["v"] for t in first[:2] if t.changes] == ["b2", "a1"]
    assert first[0].changes[0].before == initial[(2,)]  # a full before image, untouched timestamp
    by_gtid = _read(account, gtid_start, table)  # the same changes read from a GTID position
    assert _ops(by_gtid) == _ops(first)
    assert by_gtid[-1].position.format() == _gtid_binlog_pos(mysql_server)

    _flush(mysql_server)  # rotation between the reads
    c.commit()  # C commits now: its change appears in the second read, after all of the first
    _run(mysql, f"INSERT INTO `{mysql_db}`.items (id, v) VALUES (30, 'x')")
    _flush(mysql_server)
    _run(mysql, f"UPDATE `{mysql_db}`.items SET v = 'y' WHERE id = 30")
    second = _read(account, first[-1].position, table)
    assert _ops(second) == [("update", 3, 3), ("insert", None, 30), ("update", 30, 30)]
    assert second[0].end.at_or_after(first[-1].end) and second[0].end.file != first[-1].end.file
    # Up to the end (a binlog checkpoint event may follow a rotation's last transaction).
    assert _end(mysql_server).at_or_after(second[-1].end)
    assert _read(account, second[-1].position, table) == []

    assert _applied(initial, first + second, table) == _rows(mysql, mysql_db)
    # Begin order (A's changes before B's) would leave id 2 at 'b2': the comparison sees order.
    begin_order = [first[1], first[0], *first[2:], *second]
    assert _applied(initial, begin_order, table)[(2,)]["v"] == "b2"
    assert _rows(mysql, mysql_db)[(2,)]["v"] == "a2"


@pytest.mark.parametrize("kind", ["file", "gtid"])
def test_a_read_stops_at_the_end_it_saw_when_rotation_and_commits_come_during_it(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any, kind: str
) -> None:
    """12 MB of binlog before the end: the server is still sending it (the socket is full)
    when the log rotates and a new commit lands, so the server would send that one too."""
    account = binlog_account(mysql_server, MINIMAL_GRANTS)
    table = (mysql_db, "items")
    _run(mysql, "CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20), pad LONGBLOB)")
    start = _start(mysql_server, kind)
    with mysql.cursor() as cur:
        for i in range(1, BEFORE + 1):
            cur.execute("INSERT INTO items VALUES (%s, 'before', REPEAT('x', 40000))", (i,))
    reading = read_transactions(account, start, {table})
    seen = [next(reading)]  # the read has begun (its end is fixed) ...
    _flush(mysql_server)  # ... when the log rotates and more commits arrive
    _run(mysql, "INSERT INTO items VALUES (100000, 'during', '')")
    seen += list(reading)
    ids = [c.after["id"] for t in seen for c in t.changes]
    assert ids == list(range(1, BEFORE + 1))  # not 100000: the read never goes past its end
    later = _read(account, seen[-1].position, table)
    assert [c.after["id"] for t in later for c in t.changes] == [100000]
    assert later[-1].end.file != seen[-1].end.file  # followed the rotation
    assert _read(account, later[-1].position, table) == []  # nothing new: an empty read


BEFORE = 300


@pytest.mark.parametrize("kind", ["file", "gtid"])
def test_a_dropped_connection_is_an_error_and_the_next_read_resumes_exactly(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any, kind: str
) -> None:
    """mysql-replication reconnects by itself when its dump connection drops (a GTID read from
    its start again, and here in a loop): the read fails instead, and a read from the last
    transaction received yields the rest, each transaction once."""
    account = binlog_account(mysql_server, MINIMAL_GRANTS)
    table = (mysql_db, "items")
    _run(mysql, "CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(20), pad LONGBLOB)")
    start = (
        _end(mysql_server)
        if kind == "file"
        else MariaDbGtidPos.parse(_gtid_binlog_pos(mysql_server))
    )
    with mysql.cursor() as cur:
        for i in range(1, BEFORE + 1):
            cur.execute("INSERT INTO items VALUES (%s, 'before', REPEAT('x', 40000))", (i,))
    reading = read_transactions(account, start, {table})
    seen = [next(reading)]
    with mysql_server.root() as root, root.cursor() as cur:
        cur.execute(
            "SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'"
        )
        (dump,) = cur.fetchall()
        cur.execute(f"KILL {dump[0]}")
    with pytest.raises(BinlogError, match="the binlog connection dropped during the read"):
        for transaction in reading:
            seen.append(transaction)
    assert len(seen) < BEFORE
    rest = _read(account, seen[-1].position, table)
    assert [c.after["id"] for t in seen + rest for c in t.changes] == list(range(1, BEFORE + 1))


def test_the_minimal_grants_and_a_clear_error_for_each_missing_one(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any
) -> None:
    table = (mysql_db, "items")
    _run(mysql, "CREATE TABLE items (id INT PRIMARY KEY)")
    start = _end(mysql_server)
    _run(mysql, "INSERT INTO items VALUES (1)")
    full = binlog_account(mysql_server, MINIMAL_GRANTS)
    assert _ops(_read(full, start, table)) == [("insert", None, 1)]
    grant = f"GRANT {MINIMAL_GRANTS} ON *.* TO '{BINLOG_USER}'@'"
    for missing in ("REPLICATION SLAVE", "BINLOG MONITOR"):
        lacking = binlog_account(mysql_server, MINIMAL_GRANTS.replace(missing, "").strip(", "))
        with pytest.raises(BinlogError) as caught:
            _read(lacking, start, table)
        # The exact GRANT the preflight names for this server and account.
        with pymysql.connect(**lacking) as conn, pytest.raises(BinlogPreflightError) as checked:
            check_grants(conn, detect_server(conn))
        named = str(checked.value).split(": run ")[1]
        assert named.startswith(grant) and f"run {named}: " in str(caught.value)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("binlog_row_metadata", "MINIMAL", "carry no column names: set `binlog_row_metadata=FULL`"),
        ("binlog_row_image", "MINIMAL", "leave out v: set `binlog_row_image=FULL`"),
    ],
)
def test_row_events_without_names_or_full_images_are_an_error_naming_the_setting(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any, setting: str, value: str, message: str
) -> None:
    account = binlog_account(mysql_server, MINIMAL_GRANTS)
    _run(mysql, "CREATE TABLE items (id INT PRIMARY KEY, v INT)")
    _run(mysql, "INSERT INTO items VALUES (1, 1)")
    start = _end(mysql_server)
    with mysql_server.root() as root:
        _run(root, f"SET GLOBAL {setting} = '{value}'")
        try:
            with mysql_server.connect(mysql_db) as writer:  # a new session takes the new value
                _run(writer, "DELETE FROM items WHERE id = 1")
        finally:
            _run(root, f"SET GLOBAL {setting} = 'FULL'")
    with pytest.raises(BinlogError, match=message) as caught:
        _read(account, start, (mysql_db, "items"))
    assert f"{mysql_db}.items" in str(caught.value)


def test_a_non_transactional_change_is_kept_when_its_transaction_rolls_back(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any
) -> None:
    """MyISAM keeps the change whatever the transaction does; in a ROW binlog the server writes
    it as a group of its own ending in COMMIT, and the InnoDB part never appears."""
    account = binlog_account(mysql_server, MINIMAL_GRANTS)
    _run(mysql, "CREATE TABLE plain (id INT PRIMARY KEY) ENGINE=MyISAM")
    _run(mysql, "CREATE TABLE items (id INT PRIMARY KEY) ENGINE=InnoDB")
    start = _end(mysql_server)
    mysql.begin()
    _run(mysql, "INSERT INTO items VALUES (1)")
    _run(mysql, "INSERT INTO plain VALUES (1)")
    mysql.rollback()
    tables = {(mysql_db, "plain"), (mysql_db, "items")}
    read = list(read_transactions(account, start, tables))
    assert [(c.table[1], c.after) for t in read for c in t.changes] == [("plain", {"id": 1})]
    assert _rows_of(mysql, "plain") == [(1,)] and _rows_of(mysql, "items") == []


@pytest.mark.parametrize("kind", ["file", "gtid"])
def test_a_purged_start_position_is_an_error_naming_resync_never_a_skip(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any, kind: str
) -> None:
    account = binlog_account(mysql_server, MINIMAL_GRANTS)
    _run(mysql, "CREATE TABLE items (id INT PRIMARY KEY)")
    start = (
        _end(mysql_server)
        if kind == "file"
        else MariaDbGtidPos.parse(_gtid_binlog_pos(mysql_server))
    )
    _run(mysql, "INSERT INTO items VALUES (1)")  # in the file about to be purged
    _flush(mysql_server)
    _run(mysql, "INSERT INTO items VALUES (2)")
    with mysql_server.root() as root:
        _run(root, f"PURGE BINARY LOGS TO '{binlog_end(root).file}'")
    with pytest.raises(BinlogError, match=r"is no longer in the server's binlog .* needs a resync"):
        _read(account, start, (mysql_db, "items"))


def _rows_of(conn: pymysql.connections.Connection, table: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        return list(cur.fetchall())


def _run(conn: pymysql.connections.Connection, sql: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql)


def _start(server: MysqlServer, kind: str) -> FilePosition | MariaDbGtidPos:
    return _end(server) if kind == "file" else MariaDbGtidPos.parse(_gtid_binlog_pos(server))


def _flush(server: MysqlServer) -> None:
    with server.root() as root:
        _run(root, "FLUSH BINARY LOGS")


def _gtid_binlog_pos(server: MysqlServer) -> str:
    with server.root() as root, root.cursor() as cur:
        cur.execute("SELECT @@gtid_binlog_pos")
        return str(cur.fetchone()[0])
