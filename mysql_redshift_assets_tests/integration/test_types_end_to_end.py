"""Every MySQL type the planner names, edge values, MariaDB -> Parquet -> DuckDB and -> the
PostgreSQL-backed Redshift loader, compared value by value. Each lossy case has its rule here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.load.base import LoadError
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]

DDL = """CREATE TABLE every_type (
  id INT PRIMARY KEY,
  t_tiny TINYINT, t_bool TINYINT(1), t_tiny_u TINYINT UNSIGNED, t_small SMALLINT,
  t_small_u SMALLINT UNSIGNED, t_medium MEDIUMINT, t_int INT, t_int_u INT UNSIGNED,
  t_big BIGINT, t_big_u BIGINT UNSIGNED,
  t_dec65 DECIMAL(65,30), t_dec38 DECIMAL(38,10), t_dec DECIMAL(15,4),
  t_float FLOAT, t_double DOUBLE, t_bit1 BIT(1), t_bit64 BIT(64),
  t_char CHAR(3), t_varchar VARCHAR(10), t_text TEXT, t_long LONGTEXT,
  t_enum ENUM('a','b','c'), t_set SET('a','b','c'), t_json JSON,
  t_blob BLOB, t_varbinary VARBINARY(8),
  t_date DATE, t_datetime DATETIME(6), t_timestamp TIMESTAMP(6) NULL DEFAULT NULL,
  t_time TIME(6), t_year YEAR, t_geo GEOMETRY,
  `190_time` INT
) CHARACTER SET utf8mb4"""

ROWS = [
    # maxima, multibyte at full length, a text longer than Redshift's VARCHAR, far dates
    "(1, 127, 2, 255, 32767, 65535, 8388607, 2147483647, 4294967295, 9223372036854775807,"
    " 18446744073709551615, 99999999999999999999999999999999999.999999999999999999999999999999,"
    " 9999999999999999999999999999.9999999999, 99999999999.9999, 3.40282e38,"
    " 1.7976931348623157e308, b'1', b'1111111111111111111111111111111111111111111111111111111111111111',"
    " 'abc', REPEAT('🚀', 10), 'short', REPEAT('é', 40000), 'b', 'a,c', '{\"k\": \"välue 🚀\"}',"
    " X'00010000FF', X'0000', '9999-12-31', '9999-12-31 23:59:59.999999',"
    " '2038-01-19 03:14:07.999999', '838:59:59.000000', 2155, ST_GeomFromText('POINT(1 2)'), 190)",
    # minima, zero dates, tiny floats, negative TIME
    "(2, -128, 0, 0, -32768, 0, -8388608, -2147483648, 0, -9223372036854775808, 0,"
    " -99999999999999999999999999999999999.999999999999999999999999999999,"
    " -9999999999999999999999999999.9999999999, -0.0001, 1.17549e-38, 2.2250738585072014e-308,"
    " b'0', b'0', '', '', '', '', 'a', '', '[]', X'', X'', '0000-00-00', '0000-00-00 00:00:00',"
    " '1970-01-01 00:00:01', '-838:59:59.000000', 1901, ST_GeomFromText('POINT(0 0)'), -1)",
    # NULL in every column but the key
    "(3" + ", NULL" * 33 + ")",
]

UTC_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999)
EXPECTED = {  # column: (row 1, row 2); row 3 is all NULL. Rules in the comments.
    "t_tiny": (127, -128),
    "t_bool": (2, 0),  # TINYINT(1) stays a number: MySQL stores -128..127 in it
    "t_tiny_u": (255, 0),
    "t_small": (32767, -32768),
    "t_small_u": (65535, 0),
    "t_medium": (8388607, -8388608),
    "t_int": (2147483647, -2147483648),
    "t_int_u": (4294967295, 0),
    "t_big": (9223372036854775807, -9223372036854775808),
    "t_big_u": (Decimal("18446744073709551615"), Decimal("0")),  # DECIMAL(20,0)
    # DECIMAL(p > 38) is exact text: no warehouse DECIMAL holds it
    "t_dec65": (
        "99999999999999999999999999999999999.999999999999999999999999999999",
        "-99999999999999999999999999999999999.999999999999999999999999999999",
    ),
    "t_dec38": (
        Decimal("9999999999999999999999999999.9999999999"),
        Decimal("-9999999999999999999999999999.9999999999"),
    ),
    "t_dec": (Decimal("99999999999.9999"), Decimal("-0.0001")),
    "t_double": (1.7976931348623157e308, 2.2250738585072014e-308),
    "t_bit1": (True, False),
    "t_bit64": (Decimal("18446744073709551615"), Decimal("0")),
    "t_char": ("abc", ""),
    "t_varchar": ("🚀" * 10, ""),  # 40 bytes: VARCHAR(40) in Redshift, sized in bytes
    "t_text": ("short", ""),
    "t_enum": ("b", "a"),
    "t_set": ("a,c", ""),
    "t_json": ('{"k": "välue 🚀"}', "[]"),
    "t_blob": (b"\x00\x01\x00\x00\xff", b""),
    "t_varbinary": (b"\x00\x00", b""),
    "t_date": (date(9999, 12, 31), None),  # zero date -> NULL
    "t_datetime": (UTC_MAX, None),  # zero datetime -> NULL; wall clock kept
    "t_time": ("838:59:59.000000", "-838:59:59.000000"),  # TIME as its exact text
    "t_year": (2155, 1901),
    "col_190_time": (190, -1),  # a leading digit gets `col_`
}


@pytest.fixture
def extracted(mysql, mysql_db, make_project, request):
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # zero dates, as old MySQL data has them
        cur.execute(DDL)
        for row in ROWS:
            cur.execute(f"INSERT INTO every_type VALUES {row}")
    target = request.param
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "wh"
    tables = {f"{mysql_db}.every_type": {"append_only": True}}
    project = make_project(tables, target=target, target_schema=schema)
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.every_type")
    store = open_store(project, "s3")
    source = open_source(project, "mysql")
    try:
        extract_table(source, store, WatermarkStore(store), table, run_id="types-1")
    finally:
        source.close()
    return project, table, store, target, schema, make_project, tables


def _load(project, table, store, target):
    warehouse = open_warehouse(project, target)
    result, _ = load_table(warehouse, store, WatermarkStore(store), table, run_id="types-load")
    return warehouse, result


def _rows(warehouse, schema: str) -> dict[int, dict]:
    cur = warehouse.execute(f"SELECT * FROM {warehouse.ref(schema, 'every_type')} ORDER BY id")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def _same(expected, got) -> bool:
    if isinstance(expected, float):
        return got == pytest.approx(expected, rel=1e-15)
    if isinstance(expected, bytes):
        return bytes(got) == expected
    if isinstance(expected, datetime) and isinstance(got, datetime):
        return got.replace(tzinfo=None) == expected
    return got == expected


@pytest.mark.parametrize("extracted", ["duckdb"], indirect=True)
def test_every_type_into_duckdb(extracted):
    project, table, store, target, schema, *_ = extracted
    warehouse, result = _load(project, table, store, target)
    try:
        assert result.rows_loaded == 3
        rows = _rows(warehouse, schema)
        for column, values in EXPECTED.items():
            for row_id, expected in zip((1, 2), values, strict=True):
                got = rows[row_id][column]
                assert _same(expected, got), f"{column} row {row_id}: {got!r} != {expected!r}"
            assert rows[3][column] is None, column
        # DuckDB has no VARCHAR limit: text longer than Redshift's 65,535 bytes arrives whole.
        assert rows[1]["t_long"] == "é" * 40000
        # FLOAT keeps its 32-bit value (read as `col * 1E0`, not MySQL's 6-digit text).
        assert rows[1]["t_float"] == pytest.approx(3.40282e38, rel=1e-6)
        assert rows[2]["t_float"] == pytest.approx(1.17549e-38, rel=1e-6)
        # TIMESTAMP is UTC, microseconds intact.
        ts = rows[1]["t_timestamp"]
        assert ts == datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC)
        # GEOMETRY is WKB (no MySQL SRID prefix): little-endian POINT(1 2).
        assert (
            bytes(rows[1]["t_geo"])[:5] == b"\x01\x01\x00\x00\x00"
            and len(bytes(rows[1]["t_geo"])) == 21
        )
    finally:
        warehouse.close()


@pytest.mark.parametrize("extracted", ["postgres"], indirect=True)
def test_every_type_into_the_redshift_loader_refuses_oversize_text_then_truncates(
    extracted, mysql_db
):
    project, table, store, target, schema, make_project, tables = extracted
    warehouse = open_warehouse(project, target)
    try:
        with pytest.raises(LoadError) as err:
            load_table(warehouse, store, WatermarkStore(store), table, run_id="types-load")
        message = str(err.value)
        assert "t_long: 1 value(s)" in message and "text_overflow: truncate" in message
        assert warehouse.row_count(schema, "every_type") == 0  # nothing half-loaded
    finally:
        warehouse.close()

    # Opt in to truncation: re-extract (a full re-read of this table) and load.
    tables[f"{mysql_db}.every_type"] = {"text_overflow": "truncate", "append_only": True}
    project = make_project(tables, target=target, target_schema=schema)
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.every_type")
    watermarks = WatermarkStore(store)
    from mysql_redshift_assets.maintenance.watermarks import reset

    reset(watermarks, table)
    source = open_source(project, "mysql")
    try:
        extract_table(source, store, watermarks, table, run_id="types-2")
    finally:
        source.close()
    # The first extraction's file still holds the over-long value: clear it from the list.
    watermark = watermarks.load(table)
    watermark.files = [f for f in watermark.files if f.run_id == "types-2"]
    watermarks.save(table, watermark)
    warehouse, result = _load(project, table, store, target)
    try:
        assert result.rows_loaded == 3 and result.truncated == {"t_long": 1}
        rows = _rows(warehouse, schema)
        assert len(rows[1]["t_long"].encode()) == 65534  # cut at a character boundary
        for column, values in EXPECTED.items():
            for row_id, expected in zip((1, 2), values, strict=True):
                got = rows[row_id][column]
                assert _same(expected, got), f"{column} row {row_id}: {got!r} != {expected!r}"
            assert rows[3][column] is None, column
        assert rows[1]["t_timestamp"] == datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC)
    finally:
        warehouse.close()
