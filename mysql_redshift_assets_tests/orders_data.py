"""The `orders` table the load suites (DuckDB and PostgreSQL) arrange in MariaDB, and its checks."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pymysql

ORDERS_DDL = (
    "CREATE TABLE orders (id BIGINT NOT NULL PRIMARY KEY, amount DECIMAL(15,4) NOT NULL, "
    "note VARCHAR(40) NULL, updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
)
ORDERS_COLUMNS = "id, amount, note, updated_at"
BASE_TIME = datetime(2024, 1, 1)


def order_row(i: int, *, version: int = 0) -> tuple[Any, ...]:
    """A deterministic row; `version` > 0 is a later update of the same key."""
    note = None if i % 4 == 0 else f"note {i} v{version} é🚀"
    updated = BASE_TIME + timedelta(minutes=i, microseconds=i) + timedelta(days=30 * version)
    return (i, Decimal(f"{i}.{(i * 7 + version) % 10000:04d}"), note, updated)


def insert_orders(mysql: pymysql.Connection, ids: range | list[int], *, version: int = 0) -> None:
    with mysql.cursor() as cur:
        cur.executemany(
            f"REPLACE INTO orders ({ORDERS_COLUMNS}) VALUES (%s, %s, %s, %s)",
            [order_row(i, version=version) for i in ids],
        )


def mysql_rows(mysql: pymysql.Connection, sql: str) -> list[tuple[Any, ...]]:
    with mysql.cursor() as cur:
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


def all_orders(mysql: pymysql.Connection) -> list[tuple[Any, ...]]:
    return mysql_rows(mysql, f"SELECT {ORDERS_COLUMNS} FROM orders ORDER BY id")


def checksum_mysql(mysql: pymysql.Connection) -> tuple[Any, ...]:
    row = mysql_rows(
        mysql, "SELECT COUNT(*), SUM(id), SUM(amount), COUNT(note), MAX(updated_at) FROM orders"
    )[0]
    return (int(row[0]), int(row[1]), Decimal(row[2]), int(row[3]), row[4])
