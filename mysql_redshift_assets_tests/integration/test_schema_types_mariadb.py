"""The schema planner against the real MariaDB: information_schema in, text protocol out."""

import os
import struct
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pymysql
import pymysql.cursors
import pytest

from mysql_redshift_assets.extract.catalog import read_primary_key, read_source_columns
from mysql_redshift_assets.extract.mysql_text import raw_conversions, raw_to_arrow
from mysql_redshift_assets.extract.schema_types import PlannedColumn, arrow_schema, plan_columns
from mysql_redshift_assets.identifiers import quote_mysql_ident

pytestmark = pytest.mark.mariadb

SOCKET = os.environ.get("MARIADB_SOCKET", "/run/mysqld/mysqld.sock")

COLUMNS = """
  `id` int NOT NULL, `k2` varchar(8) NOT NULL,
  `ti` tinyint, `tb` tinyint(1), `tu` tinyint unsigned, `si` smallint, `su` smallint unsigned,
  `mi` mediumint, `mu` mediumint unsigned, `i` int, `iu` int unsigned, `bi` bigint,
  `bu` bigint unsigned, `d` decimal(10,2), `d38` decimal(38,18), `d65` decimal(65,30),
  `f` float, `db` double, `bt1` bit(1), `bt5` bit(5), `bt64` bit(64),
  `c` char(10), `vc` varchar(255), `tt` tinytext, `tx` text, `mt` mediumtext, `lt` longtext,
  `e` enum('a','bé'), `s` set('x','y','z'), `j` json,
  `bn` binary(4), `vb` varbinary(10), `tbl` tinyblob, `bl` blob, `mbl` mediumblob,
  `lbl` longblob, `da` date, `dt` datetime(6), `ts` timestamp(6) NULL, `tm` time(6),
  `y` year, `g` geometry, `pt` point, `ls` linestring, `pg` polygon, `mp` multipoint,
  `mls` multilinestring, `mpg` multipolygon, `gc` geometrycollection,
  `Order Total` decimal(12,2), `190_time` int,
  PRIMARY KEY (`k2`, `id`)
"""

EXPECTED_REDSHIFT = {
    "id": "INTEGER", "k2": "VARCHAR(32)", "ti": "SMALLINT", "tb": "SMALLINT", "tu": "SMALLINT",
    "si": "SMALLINT", "su": "INTEGER", "mi": "INTEGER", "mu": "INTEGER", "i": "INTEGER",
    "iu": "BIGINT", "bi": "BIGINT", "bu": "DECIMAL(20,0)", "d": "DECIMAL(10,2)",
    "d38": "DECIMAL(38,18)", "d65": "VARCHAR(67)", "f": "REAL", "db": "DOUBLE PRECISION",
    "bt1": "BOOLEAN", "bt5": "BIGINT", "bt64": "DECIMAL(20,0)", "c": "VARCHAR(40)",
    "vc": "VARCHAR(1020)", "tt": "VARCHAR(255)", "tx": "VARCHAR(65535)",
    "mt": "VARCHAR(65535)", "lt": "VARCHAR(65535)", "e": "VARCHAR(8)", "s": "VARCHAR(20)",
    "j": "VARCHAR(65535)", "bn": "VARBYTE(4)", "vb": "VARBYTE(10)", "tbl": "VARBYTE(255)",
    "bl": "VARBYTE(65535)", "mbl": "VARBYTE(16777215)", "lbl": "VARBYTE(16777216)",
    "da": "DATE", "dt": "TIMESTAMP", "ts": "TIMESTAMPTZ", "tm": "VARCHAR(17)",
    "y": "SMALLINT", "g": "VARBYTE(16777216)", "pt": "VARBYTE(16777216)",
    "ls": "VARBYTE(16777216)", "pg": "VARBYTE(16777216)", "mp": "VARBYTE(16777216)",
    "mls": "VARBYTE(16777216)", "mpg": "VARBYTE(16777216)", "gc": "VARBYTE(16777216)",
    "order_total": "DECIMAL(12,2)", "col_190_time": "INTEGER",
}  # fmt: skip

GEOMETRIES = {  # column: (WKT, WKB type code)
    "g": ("POINT(3 4)", 1),
    "pt": ("POINT(1 2)", 1),
    "ls": ("LINESTRING(0 0,1 1)", 2),
    "pg": ("POLYGON((0 0,1 0,1 1,0 0))", 3),
    "mp": ("MULTIPOINT(0 0,1 1)", 4),
    "mls": ("MULTILINESTRING((0 0,1 1),(2 2,3 3))", 5),
    "mpg": ("MULTIPOLYGON(((0 0,1 0,1 1,0 0)))", 6),
    "gc": ("GEOMETRYCOLLECTION(POINT(1 2))", 7),
}
EMOJI = "😀 héllo 日本"
BINARY_COLUMNS = {"bt1", "bt5", "bt64", "bn", "vb", "tbl", "bl", "mbl", "lbl", *GEOMETRIES}


def _connect(**kwargs) -> pymysql.Connection:
    try:
        return pymysql.connect(unix_socket=SOCKET, user="root", autocommit=True, **kwargs)
    except (pymysql.MySQLError, OSError) as exc:
        message = f"MariaDB not reachable on {SOCKET}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def database() -> Iterator[str]:
    name = f"test_schema_types_{uuid.uuid4().hex[:12]}"
    admin = _connect()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {quote_mysql_ident(name)} CHARACTER SET utf8mb4")
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {quote_mysql_ident(name)}")
        admin.close()


def _insert_rows(db: str) -> None:
    conn = _connect()
    geo = ", ".join(f"ST_GeomFromText('{wkt}')" for wkt, _ in GEOMETRIES.values())
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE `{db}`.`t` ({COLUMNS}) DEFAULT CHARSET=utf8mb4")
        cur.execute(f"CREATE TABLE `{db}`.`no_pk` (`a` int)")
        cur.execute("SET time_zone = '+00:00', sql_mode = ''")
        cur.execute(
            f"INSERT INTO `{db}`.`t` VALUES (1, 'max', 127, 1, 255, 32767, 65535, 8388607,"
            " 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615,"
            " 12345678.90, 12345678901234567890.123456789012345678,"
            " 12345678901234567890123456789012345.123456789012345678901234567890,"
            " 3.40282e38, 1.7976931348623157e308, b'1', b'10101', 0xFFFFFFFFFFFFFFFF,"
            " 'abc', %s, 't', 'tx', 'mt', %s, 'bé', 'x,z', %s,"
            " 'ab', x'000100', x'00', x'ff00', x'', %s,"
            " '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999',"
            f" '-838:59:59.000000', 2155, {geo}, 99.99, 190)",
            (EMOJI, "x" * 70000, '{"a": [1, "😀"]}', bytes(range(256)) * 300),
        )
        cur.execute(
            f"INSERT INTO `{db}`.`t` (id, k2, ti, tb, bi, d, f, db, bt1, bt64, c, s, da, dt, ts,"
            " tm, y, e) VALUES (2, 'min', -128, -5, -9223372036854775808, -0.01, 16777215, 0.1,"
            " b'0', 0, '', '', '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00',"
            " '838:59:59', 0, '')"
        )
        # A session zone other than UTC when writing proves TIMESTAMP is read back as UTC.
        cur.execute("SET time_zone = '+05:00'")
        cur.execute(
            f"INSERT INTO `{db}`.`t` (id, k2, da, dt, ts, f) VALUES"
            " (3, 'zone', '2024-00-00', '2024-01-00 10:00:00', '2024-06-01 05:00:00', 1.2345678)"
        )
        cur.execute("SET sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute(
            f"INSERT INTO `{db}`.`t` (id, k2, da, dt) VALUES"
            " (4, 'invalid', '2024-02-31', '2023-02-29 01:02:03')"
        )
        cur.execute(f"INSERT INTO `{db}`.`t` (id, k2) VALUES (5, 'nulls')")
    conn.close()


def _fetch(db: str, planned: list[PlannedColumn]) -> tuple[list[tuple], pa.Table]:
    """Stream the table the way the extractor does and convert it with raw_to_arrow."""
    conn = _connect(conv=raw_conversions(), cursorclass=pymysql.cursors.SSCursor)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        select = ", ".join(p.select_expr for p in planned)
        cur.execute(f"SELECT {select} FROM `{db}`.`t` ORDER BY `id`")
        rows = list(cur.fetchall())
    conn.close()
    columns = list(zip(*rows, strict=True))
    arrays = [raw_to_arrow(p, values) for p, values in zip(planned, columns, strict=True)]
    return rows, pa.Table.from_arrays(arrays, schema=arrow_schema(planned))


def test_information_schema_and_values(database: str) -> None:
    _insert_rows(database)
    conn = _connect()
    with conn.cursor() as cur:
        source = read_source_columns(cur, database, "t")
        assert read_primary_key(cur, database, "t") == ["k2", "id"]
        assert read_primary_key(cur, database, "no_pk") == []
        assert read_source_columns(cur, database, "missing") == []
    conn.close()

    assert [c.ordinal for c in source] == list(range(1, len(source) + 1))
    by_name = {c.name: c for c in source}
    assert by_name["bu"].column_type == "bigint(20) unsigned"
    assert by_name["vc"].char_octet_length == 1020
    assert by_name["j"].data_type == "longtext"  # MariaDB's JSON is longtext + CHECK
    assert by_name["id"].nullable is False and by_name["ti"].nullable is True

    planned = plan_columns(source, table=f"{database}.t")
    assert {p.name: p.redshift_type for p in planned} == EXPECTED_REDSHIFT

    rows, table = _fetch(database, planned)
    # With raw_conversions() every value is str, or bytes for binary-charset columns.
    for row in rows:
        for p, value in zip(planned, row, strict=True):
            if value is not None:
                expected = bytes if p.source.name in BINARY_COLUMNS else str
                assert type(value) is expected, (p.source.name, value)

    col = {name: table.column(name).to_pylist() for name in table.column_names}
    assert col["id"] == [1, 2, 3, 4, 5]
    assert col["ti"][:2] == [127, -128] and col["tb"][:2] == [1, -5]
    assert col["tu"][0] == 255 and col["su"][0] == 65535 and col["mu"][0] == 16777215
    assert col["mi"][0] == 8388607 and col["i"][0] == 2147483647
    assert col["iu"][0] == 4294967295
    assert col["bi"][:2] == [2**63 - 1, -(2**63)]
    assert col["bu"][0] == Decimal("18446744073709551615")
    assert col["d"][:2] == [Decimal("12345678.90"), Decimal("-0.01")]
    assert col["d38"][0] == Decimal("12345678901234567890.123456789012345678")
    assert col["d65"][0] == "12345678901234567890123456789012345.123456789012345678901234567890"
    # Plain FLOAT text would be '3.40282e38', '16777200', '1.23457': 6 digits only.
    float32 = [pa.scalar(v, pa.float32()).as_py() for v in (3.40282e38, 16777215, 1.2345678)]
    assert col["f"][:3] == float32 and float32[1] == 16777215
    assert col["db"][:2] == [1.7976931348623157e308, 0.1]
    assert col["bt1"] == [True, False, None, None, None]
    assert col["bt5"][0] == 21
    assert col["bt64"][:2] == [Decimal(2**64 - 1), Decimal(0)]
    assert col["c"][:2] == ["abc", ""]
    assert col["vc"][0] == EMOJI and col["lt"][0] == "x" * 70000
    assert col["e"][:2] == ["bé", ""] and col["s"][:2] == ["x,z", ""]
    assert col["j"][0] == '{"a": [1, "😀"]}'
    assert col["bn"][0] == b"ab\x00\x00" and col["vb"][0] == b"\x00\x01\x00"
    assert col["tbl"][0] == b"\x00" and col["bl"][0] == b"\xff\x00" and col["mbl"][0] == b""
    assert col["lbl"][0] == bytes(range(256)) * 300
    assert col["da"] == [date(9999, 12, 31), None, None, None, None]
    assert col["dt"] == [
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
        None,
        None,
        None,
    ]
    assert col["ts"] == [
        datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC),
        None,
        datetime(2024, 6, 1, 0, 0, tzinfo=UTC),
        None,
        None,
    ]
    assert col["tm"][:2] == ["-838:59:59.000000", "838:59:59.000000"]
    assert col["y"][:3] == [2155, 0, None]
    assert col["order_total"][0] == Decimal("99.99") and col["col_190_time"][0] == 190
    assert col["pt"][0] == b"\x01" + struct.pack("<Idd", 1, 1.0, 2.0)
    for name, (_, code) in GEOMETRIES.items():
        wkb = col[name][0]
        assert wkb[0] == 1 and struct.unpack("<I", wkb[1:5])[0] == code, name
    assert all(v is None for name in table.column_names[2:] for v in col[name][4:])
