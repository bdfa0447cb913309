"""Every column type the planner maps, through `capture: binlog` end to end: the values the
stream path writes (`extract/binlog/convert.py`) equal, row by row and value by value, what the
SELECT-based copy writes for the same rows, on DuckDB and the PostgreSQL stand-in.

Rows inserted before the initial copy are all updated after it (their after images carry every
column through the stream); more rows are inserted and rewritten after it by writer sessions in
+05:30 and -08:00. The reference is a copy of the MySQL table at the end (`INSERT ... SELECT`)
synced by the initial copy alone: the two warehouse tables must be identical (nothing rounded,
truncated or changed). The columns a driver reads alike on both sides are also compared with
MySQL itself (`assert_same_rows`). The table's `time_zone:` is not UTC: DATETIME wall clocks are
instants in Asia/Kolkata, on both paths."""

from __future__ import annotations

from typing import Any

import pytest

from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb

ZONE = "Asia/Kolkata"
COLUMNS = {
    "i8": "TINYINT", "u8": "TINYINT UNSIGNED", "i16": "SMALLINT", "u24": "MEDIUMINT UNSIGNED",
    "i32": "INT", "i64": "BIGINT", "u64": "BIGINT UNSIGNED",
    "d_big": "DECIMAL(65,30)", "d_mid": "DECIMAL(12,4)", "f": "FLOAT", "g": "DOUBLE",
    "bit1": "BIT(1)", "bit10": "BIT(10)", "bit64": "BIT(64)",
    "dt": "DATE", "dtm": "DATETIME", "dtm6": "DATETIME(6)", "ts": "TIMESTAMP NULL",
    "ts6": "TIMESTAMP(6) NULL", "tm": "TIME", "tm6": "TIME(6)", "tm3": "TIME(3)", "tm1": "TIME(1)",
    "yr": "YEAR", "ch": "CHAR(5)", "vc": "VARCHAR(30) CHARACTER SET utf8mb4",
    "lat": "TEXT CHARACTER SET latin1", "bin4": "BINARY(4)", "vbin": "VARBINARY(10)",
    "bl": "BLOB", "lt": "LONGTEXT", "js": "JSON", "en": "ENUM('small','large')",
    "st": "SET('a','b','c')", "geo": "GEOMETRY",
}  # fmt: skip
EDGES = [
    {
        "i8": -128, "u8": 255, "i16": -32768, "u24": 16777215, "i32": -2147483648,
        "i64": -9223372036854775808, "u64": 18446744073709551615,
        "d_big": "12345678901234567890123456789012345.123456789012345678901234567890",
        "d_mid": "-99999999.9999", "f": 0.1, "g": 1.0000000000000002, "bit1": 1,
        "bit10": 0b1010101010, "bit64": 2**64 - 1, "dt": "2024-02-29", "dtm": "9999-12-31 23:59:59",
        "dtm6": "1000-01-01 00:00:00.000001", "ts": "2024-03-31 02:30:00", "ts6": "2038-01-19 08:44:07.999999",
        "tm": "-838:59:59", "tm6": "-00:00:00.000001", "tm3": "-838:59:58.125", "tm1": "12:00:00.5",
        "yr": 2155, "ch": "ab", "vc": "naïve € 😀", "lat": "café", "bin4": b"\x01\x02\x00\x00",
        "vbin": b"\x00\x00", "bl": bytes(range(256)), "lt": "x" * 60000,
        "js": '{"a": [1, 2.5, "x"], "b": null}', "en": "large", "st": "a,c", "geo": "POINT(1 2)",
    },
    {
        "i8": 0, "u8": 0, "i16": 1, "u24": 0, "i32": 7, "i64": 0, "u64": 9223372036854775808,
        "d_big": "-0.000000000000000000000000000001", "d_mid": "0.0001", "f": 16777217.0,
        "g": -1e300, "bit1": 0, "bit10": 0, "bit64": 1, "dt": "0000-00-00",
        "dtm": "0000-00-00 00:00:00", "dtm6": "2024-03-10 02:30:00.5", "ts": "1970-01-01 05:30:01",
        "ts6": None, "tm": "00:00:00", "tm6": "-12:34:56.5", "tm3": "-00:00:00.001", "tm1": "-00:00:01.9",
        "yr": 1901, "ch": "", "vc": "", "lat": "", "bin4": b"\xff\x00\x00\x00", "vbin": b"",
        "bl": b"", "lt": "", "js": "[]", "en": "small", "st": "",
        "geo": "POLYGON((0 0,10 0,10 10,0 0))",
    },
    {
        "i8": 1, "u8": 2, "i16": 3, "u24": 4, "i32": 5, "i64": 6, "u64": 7, "d_big": "0.5",
        "d_mid": "12345678.1230", "f": 3.40282e38, "g": 2.2250738585072014e-308, "bit1": 1,
        "bit10": 1023, "bit64": 2**63, "dt": "1000-01-01", "dtm": "2024-12-31 23:59:59",
        "dtm6": "2024-06-01 00:00:00.999999", "ts": "1970-01-01 00:00:01", "ts6": "2024-01-01 00:00:00.000001",
        "tm": "838:59:59", "tm6": "838:59:58.999999", "tm3": "-00:00:01.999", "tm1": "-838:59:58.9",
        "yr": 0, "ch": "😀😀😀😀😀", "vc": "ü" * 30, "lat": "ÿ" * 100, "bin4": b"\x00\x00\x00\x00",
        "vbin": b"\x00" * 10, "bl": b"\x00", "lt": "🚀" * 1000, "js": '{"k": "välue 🚀"}',
        "en": "small", "st": "a,b,c", "geo": "LINESTRING(0 0,1.5 -2.25)",
    },
    dict.fromkeys(COLUMNS),  # NULL in every column
]  # fmt: skip
KEY = ["id"]
NAMES = ["id", "n", *COLUMNS]
# Read alike by pymysql and the warehouse drivers (the rest: DECIMAL(65,30) is text, BIT a number,
# TIME text, FLOAT the float32's value, GEOMETRY WKB, zero dates NULL, in the warehouse).
PLAIN = ["id", "n", "i8", "u8", "i16", "u24", "i32", "i64", "u64", "d_mid", "g", "dtm6", "ts6",
         "yr", "ch", "vc", "lat", "bin4", "vbin", "bl", "lt", "js", "en", "st"]  # fmt: skip


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _write(session: Any, sql: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
    """INSERT (`sql` "insert") or UPDATE ... WHERE id (`sql` "update") each (id, values)."""
    with session.cursor() as cur:
        cur.execute("SET sql_mode = ''")  # zero dates, as old applications wrote them
        for id_, row in rows:
            marks = [("ST_GeomFromText(%s)" if c == "geo" else "%s") for c in COLUMNS]
            values = list(row.values())
            if sql == "insert":
                names = ", ".join(f"`{c}`" for c in COLUMNS)
                cur.execute(
                    f"INSERT INTO everything (id, {names}) VALUES (%s, {', '.join(marks)})",
                    [id_, *values],
                )
            else:
                sets = ", ".join(f"`{c}` = {m}" for c, m in zip(COLUMNS, marks, strict=True))
                cur.execute(f"UPDATE everything SET {sets} WHERE id = %s", [*values, id_])
    session.commit()


def _sync(make_project, mysql_db, request, target, table) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    spec = {"capture": "binlog", "time_zone": ZONE}
    return Sync.of(
        make_project, mysql_db, table, spec, target=target, target_schema=schema, chunk_rows=3,
        file_rows=4,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_every_type_through_the_stream_equals_the_copy(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    columns = ", ".join(f"`{name}` {kind}" for name, kind in COLUMNS.items())
    with mysql.cursor() as cur:
        cur.execute(f"CREATE TABLE everything (id INT PRIMARY KEY, n INT DEFAULT 0, {columns})")
    _write(mysql, "insert", list(enumerate(EDGES, start=1)))
    sync = _sync(make_project, mysql_db, request, target, "everything")
    copied, _ = sync.run("copy")
    assert copied.rows == len(EDGES) and copied.generation is not None

    india, pacific = mysql_sessions("+05:30"), mysql_sessions("-08:00")
    with india.cursor() as cur:  # every copied row again, through the stream: its after image
        cur.execute("UPDATE everything SET n = n + 1")
    india.commit()
    _write(pacific, "insert", list(enumerate(EDGES, start=11)))
    _write(india, "insert", list(enumerate(EDGES, start=21)))
    # rewrites: each row's values become another row's (both images in the stream)
    _write(pacific, "update", [(21 + i, EDGES[(i + 1) % len(EDGES)]) for i in range(len(EDGES))])
    _write(india, "update", [(11, EDGES[3]), (14, EDGES[0])])
    with pacific.cursor() as cur:
        cur.execute("DELETE FROM everything WHERE id = 12")
    pacific.commit()
    streamed, _ = sync.run("changes")
    assert streamed.generation is None and streamed.rows >= 3 * len(EDGES)

    with mysql.cursor() as cur:  # the reference: the same rows, through the SELECT-based copy
        cur.execute("CREATE TABLE reference LIKE everything")
        cur.execute("SET sql_mode = ''")
        cur.execute("INSERT INTO reference SELECT * FROM everything")
    reference = _sync(make_project, mysql_db, request, target, "reference")
    reference.run("reference")
    want = reference.warehouse_rows(NAMES, KEY)
    got = sync.warehouse_rows(NAMES, KEY)
    assert len(got) == len(want) == 3 * len(EDGES) - 1
    assert [r[0] for r in got] == [r[0] for r in want]
    mismatches = [
        (w[0], name, g[i], w[i])
        for g, w in zip(got, want, strict=True)
        for i, name in enumerate(NAMES)
        if g[i] != w[i] or type(g[i]) is not type(w[i])
    ]
    assert mismatches == []  # (id, column, stream's value, copy's value)
    assert_same_rows(mysql, sync, PLAIN, KEY, datetime_zone=ZONE)
