"""Row changes per second through the binlog stream (extract/binlog/stream.py): a measurement,
not a test. Starts a private MariaDB with the binlog on (mysql_redshift_assets_tests/private_mariadb.py),
writes CHANGES row changes to an orders-like table (inserts, updates touching one column,
deletes; 100 rows a transaction), then reads them once through the stream and prints the
reader's CPU seconds and wall seconds.

    .venv/bin/python -m bench.binlog_rate [--changes 50000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pymysql

from mysql_redshift_assets.extract.binlog.stream import binlog_end, read_transactions
from mysql_redshift_assets_tests.integration.binlog_support import MINIMAL_GRANTS, binlog_account
from mysql_redshift_assets_tests.private_mariadb import MysqlServer, start_private_mariadb

TABLE = """CREATE TABLE {db}.orders (
    id BIGINT UNSIGNED PRIMARY KEY, customer VARCHAR(40) NOT NULL, status VARCHAR(16) NOT NULL,
    amount DECIMAL(15,4) NOT NULL, qty DECIMAL(10,3), paid TINYINT(1) NOT NULL,
    created_at DATETIME NOT NULL, updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    note TEXT CHARACTER SET utf8mb4, attrs JSON, score DOUBLE)"""
BATCH = 100


def _write(root: pymysql.connections.Connection, changes: int, db: str = "bench") -> None:
    inserts, updates = changes * 2 // 5, changes * 2 // 5
    deletes = changes - inserts - updates
    with root.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(TABLE.format(db=db))
        for first in range(0, inserts, BATCH):
            values = ", ".join(
                f"({i}, 'customer-{i % 977}', 'new', {i}.1234, 1.5, 0, '2024-01-01 00:00:00', "
                f"DEFAULT, 'note ünïcode {i}', '{{\"k\": {i}}}', {i / 7})"
                for i in range(first, min(first + BATCH, inserts))
            )
            cur.execute(f"INSERT INTO {db}.orders VALUES {values}")
        for first in range(0, updates, BATCH):
            cur.execute(
                f"UPDATE {db}.orders SET status = 'paid' WHERE id >= %s AND id < %s",
                (first, first + BATCH),
            )
        for first in range(0, deletes, BATCH):
            cur.execute(
                f"DELETE FROM {db}.orders WHERE id >= %s AND id < %s", (first, first + BATCH)
            )


def measure(server: MysqlServer, changes: int, db: str = "bench") -> dict[str, float]:
    """Write `changes` row changes to `db`.orders (dropped first), read them once through the
    stream: the count, the reader's CPU and wall seconds."""
    account = binlog_account(server, MINIMAL_GRANTS)
    with server.root() as root:
        start = binlog_end(root)
        _write(root, changes, db)
    cpu, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    count = sum(len(t.changes) for t in read_transactions(account, start, {(db, "orders")}))
    after = resource.getrusage(resource.RUSAGE_SELF)
    seconds = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return {"changes": count, "cpu_seconds": seconds, "seconds": time.perf_counter() - wall}


def rate_text(out: dict[str, float]) -> str:
    count, cpu, wall = out["changes"], out["cpu_seconds"], out["seconds"]
    return (
        f"{count:,.0f} row changes: {cpu:.2f} CPU s ({count / cpu:,.0f}/CPU s), "
        f"{wall:.2f} s wall ({count / wall:,.0f}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, start_private_mariadb(Path(folder)) as server:
        print(rate_text(measure(server, args.changes)))


if __name__ == "__main__":
    main()
