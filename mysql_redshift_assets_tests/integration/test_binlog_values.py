"""Every column type's values through the binlog stream equal a plain SELECT's (pymysql, session
time zone UTC): inserts' after images and updates' before images, value by value. Zero dates
are NULL on both sides (the extractors' rule: docs/guarantees.md). The writer's session is in
+05:30, so a TIMESTAMP decoded in the wrong zone would show."""

from __future__ import annotations

from typing import Any

import pymysql
import pytest

from mysql_redshift_assets.extract.binlog.stream import binlog_end, read_transactions
from mysql_redshift_assets_tests.integration.binlog_support import MINIMAL_GRANTS, binlog_account
from mysql_redshift_assets_tests.private_mariadb import MysqlServer

COLUMNS = {
    "i8": "TINYINT", "u8": "TINYINT UNSIGNED", "i16": "SMALLINT", "u24": "MEDIUMINT UNSIGNED",
    "i32": "INT", "i64": "BIGINT", "u64": "BIGINT UNSIGNED",
    "d_big": "DECIMAL(65,30)", "d_small": "DECIMAL(10,2)", "f": "FLOAT", "g": "DOUBLE",
    "bit1": "BIT(1)", "bit10": "BIT(10)", "bit64": "BIT(64)",
    "dt": "DATE", "dtm": "DATETIME", "dtm6": "DATETIME(6)", "ts": "TIMESTAMP NULL",
    "ts6": "TIMESTAMP(6) NULL", "tm": "TIME", "tm6": "TIME(6)", "tm3": "TIME(3)", "tm1": "TIME(1)",
    "yr": "YEAR", "ch": "CHAR(5)", "vc": "VARCHAR(30) CHARACTER SET utf8mb4",
    "lat": "TEXT CHARACTER SET latin1", "bin4": "BINARY(4)", "vbin": "VARBINARY(10)",
    "bl": "BLOB", "lt": "LONGTEXT", "js": "JSON", "en": "ENUM('small','large')",
    "st": "SET('a','b','c')",
}  # fmt: skip
ROWS = [
    {
        "i8": -128, "u8": 255, "i16": -32768, "u24": 16777215, "i32": -2147483648,
        "i64": -9223372036854775808, "u64": 18446744073709551615,
        "d_big": "12345678901234567890123456789012345.123456789012345678901234567890",
        "d_small": "-99999999.99", "f": 0.1, "g": 1.0000000000000002, "bit1": 1,
        "bit10": 0b1010101010, "bit64": 2**64 - 1, "dt": "2024-02-29", "dtm": "9999-12-31 23:59:59",
        "dtm6": "1000-01-01 00:00:00.000001", "ts": "2024-03-31 02:30:00", "ts6": "2038-01-19 08:44:07.999999",
        "tm": "-838:59:59", "tm6": "-00:00:00.000001", "tm3": "-838:59:58.125", "tm1": "12:00:00.5",
        "yr": 2155, "ch": "ab", "vc": "naïve € 😀", "lat": "café", "bin4": b"\x01\x02\x00\x00",
        "vbin": b"\x00\x00", "bl": bytes(range(256)), "lt": "x" * 70000,
        "js": '{"a": [1, 2.5, "x"], "b": null}', "en": "large", "st": "a,c",
    },
    {
        "i8": 0, "u8": 0, "i16": 1, "u24": 0, "i32": 7, "i64": 0, "u64": 9223372036854775808,
        "d_big": "-0.000000000000000000000000000001", "d_small": "0.10", "f": 16777217.0,
        "g": -1e300, "bit1": 0, "bit10": 0, "bit64": 1, "dt": "0000-00-00",
        "dtm": "0000-00-00 00:00:00", "dtm6": "2024-01-01 12:00:00", "ts": "1970-01-01 05:30:01",
        "ts6": None, "tm": "00:00:00", "tm6": "-12:34:56.5", "tm3": "-00:00:00.001", "tm1": "-00:00:01.9",
        "yr": 1901, "ch": "", "vc": "", "lat": "", "bin4": b"\xff\x00\x00\xff", "vbin": b"",
        "bl": b"", "lt": "", "js": "[]", "en": "small", "st": "",
    },
    {name: None for name in COLUMNS} | {"i32": 8},
]  # fmt: skip


@pytest.fixture
def mysql_server(private_mariadb: MysqlServer) -> MysqlServer:
    return private_mariadb


def _selected(mysql: Any) -> list[dict[str, Any]]:
    with mysql.cursor(pymysql.cursors.DictCursor) as cur:
        # FLOAT as the extractors read it (schema_types.py): the text protocol prints 6 digits.
        listed = ", ".join("`f` * 1E0 AS `f`" if n == "f" else f"`{n}`" for n in COLUMNS)
        cur.execute(f"SELECT {listed} FROM everything ORDER BY i32")
        rows = list(cur.fetchall())
    for row in rows:  # zero dates: NULL, the extractors' rule
        for name, value in row.items():
            if isinstance(value, str) and value.startswith("0000-00-00"):
                row[name] = None
    return rows


def test_every_type_through_the_stream_equals_a_select(
    mysql_server: MysqlServer, mysql_db: str, mysql: Any
) -> None:
    account = binlog_account(mysql_server, MINIMAL_GRANTS)
    columns = ", ".join(f"`{name}` {kind}" for name, kind in COLUMNS.items())
    with mysql.cursor() as cur:
        cur.execute(f"CREATE TABLE everything ({columns}, PRIMARY KEY (i32))")
    with mysql_server.root() as root:
        start = binlog_end(root)
    with mysql_server.connect(mysql_db) as writer, writer.cursor() as cur:
        cur.execute("SET time_zone = '+05:30', sql_mode = ''")
        names = ", ".join(f"`{n}`" for n in COLUMNS)
        marks = ", ".join(["%s"] * len(COLUMNS))
        for row in ROWS:
            cur.execute(f"INSERT INTO everything ({names}) VALUES ({marks})", list(row.values()))
        cur.execute("UPDATE everything SET i8 = i8 + 1 WHERE i32 IN (-2147483648, 7)")
    table = (mysql_db, "everything")
    changes = [c for t in read_transactions(account, start, {table}) for c in t.changes]
    inserted = sorted((c.after for c in changes if c.operation == "insert"), key=_key)
    before = sorted((c.before for c in changes if c.operation == "update"), key=_key)
    after = sorted((c.after for c in changes if c.operation == "update"), key=_key)
    selected = _selected(mysql)

    assert len(inserted) == len(ROWS) and len(before) == 2
    assert _mismatches(after, selected[:2]) == []  # after the update: i32 -2^31 and 7
    assert _mismatches(inserted, [*before, selected[2]]) == []  # an insert == the update's before
    for row in before:
        row["i8"] += 1
    assert _mismatches(before, after) == []


def _key(row: dict[str, Any] | None) -> int:
    assert row is not None
    return int(row["i32"])


def _mismatches(
    streamed: list[dict[str, Any] | None], selected: list[dict[str, Any] | None]
) -> list[tuple[Any, str, Any, Any]]:
    found = []
    for mine, theirs in zip(streamed, selected, strict=True):
        assert mine is not None and theirs is not None and mine.keys() == theirs.keys()
        for name in COLUMNS:
            if mine[name] != theirs[name] or type(mine[name]) is not type(theirs[name]):
                found.append((mine["i32"], name, mine[name], theirs[name]))
    return found
