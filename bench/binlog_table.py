"""The tables of `python -m bench.binlog`: `bench.orders_<rows>` on the bench's private MariaDB,
built once (kept in its persistent datadir) by INSERT ... SELECT from MariaDB's SEQUENCE
engine, doubling up to 2M rows a statement, with the binlog off
for the building session (`sql_log_bin = 0`: the rows are the table's, not changes to stream);
and the 1,000 changes a round commits.

`updated_at` is old on every built row (the cursor's re-read window sees none of them) and is
`ON UPDATE CURRENT_TIMESTAMP(6)`: an update names no timestamp, the server moves it, so the
cursor run sees the same changes as the binlog run (a column no update sets would be the case
only the binlog captures, which the tests cover; here the two runs' costs are compared).
"""

from __future__ import annotations

import time

import pymysql

DATABASE = "binlog_bench"
DDL = """CREATE TABLE `{table}` (
    id BIGINT UNSIGNED NOT NULL PRIMARY KEY, customer VARCHAR(40) NOT NULL,
    status VARCHAR(16) NOT NULL, amount DECIMAL(15,4) NOT NULL, qty DECIMAL(10,3),
    paid TINYINT(1) NOT NULL, created_at DATETIME NOT NULL,
    updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    note TEXT CHARACTER SET utf8mb4, attrs JSON, score DOUBLE,
    KEY idx_updated (updated_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
# Rows `lo`..`hi` (id = seq), computed by the server from MariaDB's SEQUENCE engine.
ROWS_SQL = """INSERT INTO `{table}` SELECT seq, CONCAT('customer-', seq % 977),
    ELT(1 + seq % 3, 'new', 'paid', 'shipped'), seq * 7919 % 100000000 / 100, seq % 1000 / 8,
    seq % 2, TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND,
    TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND,
    IF(seq % 2 = 0, NULL, CONCAT('note ünïcode 配送 ', seq)), JSON_OBJECT('k', seq), seq / 7
    FROM seq_{lo}_to_{hi}"""
FIRST, MOST = 1000, 2_000_000  # rows of the first statement; at most a statement
INSERTS, UPDATES, DELETES, BATCH = 400, 400, 200, 100


def name(rows: int) -> str:
    return f"orders_{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"orders_{rows}"


def _count(cur, table: str) -> int | None:
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND "
        "TABLE_NAME = %s",
        (DATABASE, table),
    )
    if not cur.fetchone()[0]:
        return None
    cur.execute(f"SELECT COUNT(*) FROM `{table}`")
    return int(cur.fetchone()[0])


def ensure(root: pymysql.connections.Connection, rows: int) -> tuple[str, float | None]:
    """The table of `rows` rows (kept when within 1 % of it: the rounds add 200 rows each);
    its name and the seconds a build took (None: reused)."""
    table = name(rows)
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
        cur.execute(f"USE `{DATABASE}`")
        have = _count(cur, table)
        if have is not None and abs(have - rows) <= rows // 100:
            return table, None
        started = time.perf_counter()
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute(f"DROP TABLE IF EXISTS `{table}`")
        cur.execute(DDL.format(table=table))
        have = 0
        while have < rows:  # doubling up to MOST a statement: ids 1..have
            take = min(max(have, FIRST), MOST, rows - have)
            cur.execute(ROWS_SQL.format(table=table, lo=have + 1, hi=have + take))
            have += take
            print(f"  {table}: {have:,} rows, {time.perf_counter() - started:.0f} s", flush=True)
        cur.execute(f"ANALYZE TABLE `{table}`")
        cur.fetchall()
        cur.execute("SET SESSION sql_log_bin = 1")
        return table, time.perf_counter() - started


def commit_changes(conn: pymysql.connections.Connection, table: str, rows: int) -> None:
    """1,000 changes in 10 transactions of 100 rows: 400 inserts past the largest id, 400
    updates (`status`, `amount`: no timestamp named) and 200 deletes spread over the table.
    Updates take odd ids and deletes even ones, shifted each round (the rounds so far, kept
    with the table, are counted from its largest id): never the same row twice."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT MAX(id) FROM `{DATABASE}`.`{table}`")
        top = int(cur.fetchone()[0])
        round_no = max(0, top - rows) // INSERTS
        for first in range(top + 1, top + 1 + INSERTS, BATCH):
            values = ", ".join(
                f"({i}, 'customer-{i % 977}', 'new', {i % 100000}.1234, 1.5, 0, NOW(), "
                f"DEFAULT, 'note ünïcode {i}', '{{\"k\": {i}}}', {i / 7})"
                for i in range(first, first + BATCH)
            )
            cur.execute(f"INSERT INTO `{DATABASE}`.`{table}` VALUES {values}")
        for ids in _spread(rows, UPDATES, 2 * round_no + 1):
            cur.execute(
                f"UPDATE `{DATABASE}`.`{table}` SET status = 'paid', amount = amount + 1 "
                f"WHERE id IN ({ids})"
            )
        for ids in _spread(rows, DELETES, 2 * round_no + 2):
            cur.execute(f"DELETE FROM `{DATABASE}`.`{table}` WHERE id IN ({ids})")


def _spread(rows: int, count: int, offset: int) -> list[str]:
    """`count` ids spread over 1..rows from `offset` (an even stride keeps the parity), as
    id lists of BATCH."""
    stride = max(2, rows // count) // 2 * 2
    ids = [offset + i * stride for i in range(count)]
    return [", ".join(map(str, ids[i : i + BATCH])) for i in range(0, count, BATCH)]


def totals(conn: pymysql.connections.Connection, table: str) -> tuple[int, str]:
    """(rows, SUM(amount)) of the MySQL table."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT COUNT(*), SUM(amount) FROM `{DATABASE}`.`{table}`")
        count, total = cur.fetchone()
    return int(count), str(total)
