import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mysql_redshift_assets.extract.catalog import (
    read_primary_key,
    read_primary_key_parts,
    read_source_columns,
)
from mysql_redshift_assets.extract.mysql_text import raw_conversions, raw_to_arrow
from mysql_redshift_assets.extract.schema_types import (
    PlannedColumn,
    SourceColumn,
    UnsupportedTypeError,
    arrow_schema,
    plan_column,
    plan_columns,
)
from mysql_redshift_assets.identifiers import IdentifierError

TS = pa.timestamp("us", tz="UTC")
U64 = pa.decimal128(20, 0)


def source(
    data_type: str,
    column_type: str | None = None,
    *,
    octets: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    fsp: int | None = None,
    name: str = "c",
    ordinal: int = 1,
) -> SourceColumn:
    return SourceColumn(
        name=name,
        data_type=data_type,
        column_type=column_type or data_type,
        nullable=True,
        char_octet_length=octets,
        numeric_precision=precision,
        numeric_scale=scale,
        datetime_precision=fsp,
        ordinal=ordinal,
    )


def plan(data_type: str, column_type: str | None = None, **kwargs) -> PlannedColumn:
    return plan_column(source(data_type, column_type, **kwargs), "c")


# (source column, arrow, redshift, duckdb, postgres): one row per line of the mapping table.
MAPPING = [
    (source("tinyint", "tinyint(4)"), pa.int16(), "SMALLINT", "SMALLINT", "SMALLINT"),
    (source("tinyint", "tinyint(1)"), pa.int16(), "SMALLINT", "SMALLINT", "SMALLINT"),
    (source("tinyint", "tinyint(3) unsigned"), pa.int16(), "SMALLINT", "SMALLINT", "SMALLINT"),
    (source("smallint", "smallint(6)"), pa.int16(), "SMALLINT", "SMALLINT", "SMALLINT"),
    (source("smallint", "smallint(5) unsigned"), pa.int32(), "INTEGER", "INTEGER", "INTEGER"),
    (source("mediumint", "mediumint(9)"), pa.int32(), "INTEGER", "INTEGER", "INTEGER"),
    (source("mediumint", "mediumint unsigned"), pa.int32(), "INTEGER", "INTEGER", "INTEGER"),
    (source("int", "int(11)"), pa.int32(), "INTEGER", "INTEGER", "INTEGER"),
    (source("int", "int(10) unsigned"), pa.int64(), "BIGINT", "BIGINT", "BIGINT"),
    (source("int", "int(10) unsigned zerofill"), pa.int64(), "BIGINT", "BIGINT", "BIGINT"),
    (source("bigint", "bigint(20)"), pa.int64(), "BIGINT", "BIGINT", "BIGINT"),
    (source("bigint", "bigint(20) unsigned"), U64, "DECIMAL(20,0)", "DECIMAL(20,0)",
     "NUMERIC(20,0)"),
    (source("decimal", "decimal(10,2)", precision=10, scale=2), pa.decimal128(10, 2),
     "DECIMAL(10,2)", "DECIMAL(10,2)", "NUMERIC(10,2)"),
    (source("decimal", "decimal(38,18)", precision=38, scale=18), pa.decimal128(38, 18),
     "DECIMAL(38,18)", "DECIMAL(38,18)", "NUMERIC(38,18)"),
    (source("decimal", "decimal(12,0) unsigned", precision=12, scale=0), pa.decimal128(12, 0),
     "DECIMAL(12,0)", "DECIMAL(12,0)", "NUMERIC(12,0)"),
    (source("decimal", "decimal(65,30)", precision=65, scale=30), pa.string(), "VARCHAR(67)",
     "VARCHAR", "VARCHAR(67)"),
    (source("decimal", "decimal(39,0)", precision=39, scale=0), pa.string(), "VARCHAR(41)",
     "VARCHAR", "VARCHAR(41)"),
    (source("float"), pa.float32(), "REAL", "REAL", "REAL"),
    (source("double"), pa.float64(), "DOUBLE PRECISION", "DOUBLE", "DOUBLE PRECISION"),
    (source("real"), pa.float64(), "DOUBLE PRECISION", "DOUBLE", "DOUBLE PRECISION"),
    (source("bit", "bit(1)", precision=1), pa.bool_(), "BOOLEAN", "BOOLEAN", "BOOLEAN"),
    (source("bit", "bit(2)", precision=2), pa.int64(), "BIGINT", "BIGINT", "BIGINT"),
    (source("bit", "bit(63)", precision=63), pa.int64(), "BIGINT", "BIGINT", "BIGINT"),
    (source("bit", "bit(64)", precision=64), U64, "DECIMAL(20,0)", "DECIMAL(20,0)",
     "NUMERIC(20,0)"),
    (source("char", "char(10)", octets=40), pa.string(), "VARCHAR(40)", "VARCHAR", "VARCHAR(40)"),
    (source("char", "char(0)", octets=0), pa.string(), "VARCHAR(1)", "VARCHAR", "VARCHAR(1)"),
    (source("varchar", "varchar(255)", octets=1020), pa.string(), "VARCHAR(1020)", "VARCHAR",
     "VARCHAR(1020)"),
    (source("varchar", "varchar(255)", octets=255), pa.string(), "VARCHAR(255)", "VARCHAR",
     "VARCHAR(255)"),
    (source("tinytext", octets=255), pa.string(), "VARCHAR(255)", "VARCHAR", "VARCHAR(255)"),
    (source("text", octets=65535), pa.string(), "VARCHAR(65535)", "VARCHAR", "VARCHAR(65535)"),
    (source("mediumtext", octets=16777215), pa.string(), "VARCHAR(65535)", "VARCHAR",
     "VARCHAR(65535)"),
    (source("longtext", octets=4294967295), pa.string(), "VARCHAR(65535)", "VARCHAR",
     "VARCHAR(65535)"),
    (source("enum", "enum('a','bé')", octets=8), pa.string(), "VARCHAR(8)", "VARCHAR",
     "VARCHAR(8)"),
    (source("set", "set('x','y')", octets=12), pa.string(), "VARCHAR(12)", "VARCHAR",
     "VARCHAR(12)"),
    (source("json", octets=4294967295), pa.string(), "VARCHAR(65535)", "VARCHAR",
     "VARCHAR(65535)"),
    (source("binary", "binary(16)", octets=16), pa.binary(), "VARBYTE(16)", "BLOB", "BYTEA"),
    (source("varbinary", "varbinary(10)", octets=10), pa.binary(), "VARBYTE(10)", "BLOB",
     "BYTEA"),
    (source("varbinary", "varbinary(0)", octets=0), pa.binary(), "VARBYTE(1)", "BLOB", "BYTEA"),
    (source("tinyblob", octets=255), pa.binary(), "VARBYTE(255)", "BLOB", "BYTEA"),
    (source("blob", octets=65535), pa.binary(), "VARBYTE(65535)", "BLOB", "BYTEA"),
    (source("mediumblob", octets=16777215), pa.binary(), "VARBYTE(16777215)", "BLOB", "BYTEA"),
    (source("longblob", octets=4294967295), pa.binary(), "VARBYTE(16777216)", "BLOB", "BYTEA"),
    (source("date"), pa.date32(), "DATE", "DATE", "DATE"),
    (source("datetime", fsp=0), TS, "TIMESTAMP", "TIMESTAMP", "TIMESTAMP"),
    (source("datetime", "datetime(6)", fsp=6), TS, "TIMESTAMP", "TIMESTAMP", "TIMESTAMP"),
    (source("timestamp", fsp=0), TS, "TIMESTAMPTZ", "TIMESTAMPTZ", "TIMESTAMPTZ"),
    (source("timestamp", "timestamp(3)", fsp=3), TS, "TIMESTAMPTZ", "TIMESTAMPTZ",
     "TIMESTAMPTZ"),
    (source("time"), pa.string(), "VARCHAR(17)", "VARCHAR", "VARCHAR(17)"),
    (source("time", "time(6)", fsp=6), pa.string(), "VARCHAR(17)", "VARCHAR", "VARCHAR(17)"),
    (source("year", "year(4)"), pa.int16(), "SMALLINT", "SMALLINT", "SMALLINT"),
] + [
    (source(kind), pa.binary(), "VARBYTE(16777216)", "BLOB", "BYTEA")
    for kind in [
        "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
        "multipolygon", "geometrycollection", "geomcollection",
    ]
]  # fmt: skip

GEOMETRY = {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
            "multipolygon", "geometrycollection", "geomcollection"}  # fmt: skip


@pytest.mark.parametrize(
    ("col", "arrow", "redshift", "duck", "postgres"),
    MAPPING,
    ids=[row[0].column_type + ("/" + str(row[0].char_octet_length)) for row in MAPPING],
)
def test_mapping(col: SourceColumn, arrow, redshift: str, duck: str, postgres: str) -> None:
    planned = plan_column(col, "the_name")
    assert planned.source is col
    assert planned.name == "the_name"
    assert planned.arrow_type == arrow
    assert planned.redshift_type == redshift
    assert planned.duckdb_type == duck
    assert planned.postgres_type == postgres
    assert planned.rule and planned.rule.endswith(".")
    if col.data_type in GEOMETRY:
        assert planned.select_expr == "ST_AsBinary(`c`)"
    elif col.data_type == "float":
        assert planned.select_expr == "(`c` * 1E0)"  # FLOAT prints 6 digits; DOUBLE all
    else:
        assert planned.select_expr == "`c`"


@pytest.mark.parametrize(
    ("col", "words"),
    [
        (source("tinyint", "tinyint(1)"), ["-128..127", "BOOLEAN"]),
        (source("longtext", octets=4294967295), ["65535", "fail"]),
        (source("longblob", octets=4294967295), ["16777216", "fail"]),
        (source("decimal", "decimal(65,30)", precision=65, scale=30), ["text"]),
        (source("date"), ["NULL"]),
        (source("datetime"), ["declared zone", "time_zone", "UTC", "NULL"]),
        (source("timestamp"), ["+00:00", "NULL"]),
        (source("time"), ["-838:59:59"]),
        (source("point"), ["WKB"]),
        (source("float"), ["double"]),
    ],
)
def test_rules_explain_lossy_cases(col: SourceColumn, words: list[str]) -> None:
    rule = plan_column(col, "c").rule
    for word in words:
        assert word in rule


def test_select_expr_quotes_awkward_names() -> None:
    assert plan_column(source("int", name="we`ird"), "we_ird").select_expr == "`we``ird`"
    assert plan_column(source("point", name="a b"), "a_b").select_expr == "ST_AsBinary(`a b`)"


@pytest.mark.parametrize("data_type", ["uuid", "inet6", "vector", "sdo_geometry", ""])
def test_unsupported_type_names_column_and_type(data_type: str) -> None:
    col = source(data_type, f"{data_type}(7)", name="odd_col")
    with pytest.raises(UnsupportedTypeError) as info:
        plan_column(col, "odd_col")
    assert "odd_col" in str(info.value)
    assert f"{data_type}(7)" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_plan_columns_orders_by_ordinal_and_normalizes() -> None:
    cols = [
        source("int", name="Total Amount", ordinal=3),
        source("bigint", name="ID", ordinal=1),
        source("date", name="190_day", ordinal=2),
    ]
    planned = plan_columns(cols, table="shop.orders")
    assert [p.name for p in planned] == ["id", "col_190_day", "total_amount"]
    assert [p.select_expr for p in planned] == ["`ID`", "`190_day`", "`Total Amount`"]
    schema = arrow_schema(planned)
    assert schema.names == ["id", "col_190_day", "total_amount"]
    assert schema.types == [pa.int64(), pa.date32(), pa.int32()]
    assert all(field.nullable for field in schema)


def test_plan_columns_collision() -> None:
    cols = [source("int", name="Amount", ordinal=1), source("int", name="amount", ordinal=2)]
    with pytest.raises(IdentifierError, match="shop.orders"):
        plan_columns(cols, table="shop.orders")


MAX_TS = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
EMOJI = "😀 héllo 日本"

# (source column, raw values as pymysql delivers them with raw_conversions(), expected values)
CONVERSIONS = [
    (source("tinyint", "tinyint(4)"), ["-128", "127", None], [-128, 127, None]),
    (source("tinyint", "tinyint(1)"), ["1", "0", "-5"], [1, 0, -5]),
    (source("tinyint", "tinyint unsigned"), ["255", "0"], [255, 0]),
    (source("smallint"), ["-32768", "32767"], [-32768, 32767]),
    (source("smallint", "smallint unsigned"), ["65535"], [65535]),
    (source("mediumint"), ["-8388608", "8388607"], [-8388608, 8388607]),
    (source("mediumint", "mediumint unsigned"), ["16777215"], [16777215]),
    (source("int"), ["-2147483648", "2147483647"], [-2147483648, 2147483647]),
    (source("int", "int unsigned"), ["4294967295"], [4294967295]),
    (source("bigint"), ["-9223372036854775808", "9223372036854775807", None],
     [-(2**63), 2**63 - 1, None]),
    (source("bigint", "bigint(20) unsigned"), ["18446744073709551615", "0", None],
     [Decimal("18446744073709551615"), Decimal(0), None]),
    (source("decimal", "decimal(10,2)", precision=10, scale=2),
     ["12345678.90", "-0.01", "0.00", None],
     [Decimal("12345678.90"), Decimal("-0.01"), Decimal("0.00"), None]),
    (source("decimal", "decimal(38,18)", precision=38, scale=18),
     ["12345678901234567890.123456789012345678", "-0.000000000000000001"],
     [Decimal("12345678901234567890.123456789012345678"), Decimal("-0.000000000000000001")]),
    (source("decimal", "decimal(65,30)", precision=65, scale=30),
     ["12345678901234567890123456789012345.123456789012345678901234567890", None],
     ["12345678901234567890123456789012345.123456789012345678901234567890", None]),
    # What `(f * 1E0)` delivers: the float32's exact value printed as a double.
    (source("float"), ["-1.5", "0", "16777215", "1.2345677614212036", "3.4028234663852886e38",
                       None],
     [-1.5, 0.0, 16777215.0, 1.2345677614212036, 3.4028234663852886e38, None]),
    (source("double"), ["1.7976931348623157e308", "0.1", "-2.5e-300"],
     [1.7976931348623157e308, 0.1, -2.5e-300]),
    (source("bit", "bit(1)", precision=1), [b"\x01", b"\x00", None], [True, False, None]),
    (source("bit", "bit(5)", precision=5), [b"\x05", b"\x1f", b"\x00"], [5, 31, 0]),
    (source("bit", "bit(10)", precision=10), [b"\x03\xff", None], [1023, None]),
    (source("bit", "bit(63)", precision=63), [b"\x7f" + b"\xff" * 7], [2**63 - 1]),
    (source("bit", "bit(64)", precision=64), [b"\xff" * 8, b"\x00" * 8, None],
     [Decimal(2**64 - 1), Decimal(0), None]),
    (source("varchar", "varchar(255)", octets=1020), [EMOJI, "", None, "é".encode()],
     [EMOJI, "", None, "é"]),
    (source("longtext", octets=4294967295), ["x" * 70000], ["x" * 70000]),
    (source("enum", "enum('a','bé')", octets=8), ["a", "bé", ""], ["a", "bé", ""]),
    (source("set", "set('x','y')", octets=12), ["x,y", "", None], ["x,y", "", None]),
    (source("json"), ['{"a": [1, "😀"]}', None], ['{"a": [1, "😀"]}', None]),
    (source("varbinary", "varbinary(10)", octets=10), [b"\x00\x01\x00", b"", None],
     [b"\x00\x01\x00", b"", None]),
    (source("longblob", octets=4294967295), [bytes(range(256)) * 4], [bytes(range(256)) * 4]),
    (source("date"),
     ["2024-02-29", "0000-00-00", "2024-00-00", "2024-01-00", "2023-02-29", "1000-01-01",
      "9999-12-31", None],
     [date(2024, 2, 29), None, None, None, None, date(1000, 1, 1), date(9999, 12, 31), None]),
    (source("datetime", "datetime(6)", fsp=6),
     ["2024-01-02 03:04:05.123456", "9999-12-31 23:59:59.999999", "0000-00-00 00:00:00.000000",
      "2024-00-00 00:00:00.000000", "1000-01-01 00:00:00.000000", None],
     [datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), MAX_TS, None, None,
      datetime(1000, 1, 1, tzinfo=UTC), None]),
    (source("datetime", fsp=0), ["2024-01-02 03:04:05", "1970-01-01 00:00:00"],  # all valid
     [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)]),
    (source("datetime", fsp=0), ["2024-01-02 03:04:05", "0000-00-00 00:00:00"],
     [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None]),
    (source("timestamp", "timestamp(3)", fsp=3),
     ["1970-01-01 00:00:01.000", "2038-01-19 03:14:07.999", "0000-00-00 00:00:00.000", None],
     [datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
      datetime(2038, 1, 19, 3, 14, 7, 999000, tzinfo=UTC), None, None]),
    (source("time", "time(6)", fsp=6),
     ["-838:59:59.000000", "838:59:59.000000", "00:00:00.500000", None],
     ["-838:59:59.000000", "838:59:59.000000", "00:00:00.500000", None]),
    (source("time"), ["-00:00:01", "25:00:00"], ["-00:00:01", "25:00:00"]),
    (source("year", "year(4)"), ["2024", "1901", "2155", "0000", None],
     [2024, 1901, 2155, 0, None]),
    (source("point"), [b"\x01\x01\x00\x00\x00" + b"\x00" * 16, None],
     [b"\x01\x01\x00\x00\x00" + b"\x00" * 16, None]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("col", "raw", "expected"),
    CONVERSIONS,
    ids=[f"{i}-{row[0].column_type}" for i, row in enumerate(CONVERSIONS)],
)
def test_raw_to_arrow(col: SourceColumn, raw: list, expected: list) -> None:
    planned = plan_column(col, "c")
    array = raw_to_arrow(planned, raw)
    assert array.type == planned.arrow_type
    assert array.to_pylist() == expected


def test_raw_to_arrow_accepts_tuples_and_empty() -> None:
    planned = plan("int")
    assert raw_to_arrow(planned, ("1", None)).to_pylist() == [1, None]
    empty = raw_to_arrow(plan("datetime"), [])
    assert empty.type == TS
    assert len(empty) == 0


@pytest.mark.parametrize(
    ("col", "raw"),
    [
        (source("smallint", name="flag"), ["40000"]),  # out of range never wraps silently
        (source("int", name="flag"), ["12abc"]),
        (source("decimal", "decimal(5,2)", precision=5, scale=2, name="flag"), ["12345.67"]),
        (source("varchar", octets=40, name="flag"), [b"\xff\xfe"]),
    ],
)
def test_raw_to_arrow_errors_name_the_column(col: SourceColumn, raw: list) -> None:
    with pytest.raises(ValueError, match="flag"):
        raw_to_arrow(plan_column(col, "flag"), raw)


def test_parquet_round_trip(tmp_path) -> None:
    cols = [
        source(c.data_type, c.column_type, octets=c.char_octet_length,
               precision=c.numeric_precision, scale=c.numeric_scale,
               fsp=c.datetime_precision, name=f"Col {i}", ordinal=i)
        for i, (c, _, _) in enumerate(CONVERSIONS)
    ]  # fmt: skip
    planned = plan_columns(cols, table="t")
    rows = max(len(raw) for _, raw, _ in CONVERSIONS)

    def padded(values: list) -> list:
        return values + [None] * (rows - len(values))

    arrays = [
        raw_to_arrow(p, padded(raw)) for p, (_, raw, _) in zip(planned, CONVERSIONS, strict=True)
    ]
    table = pa.Table.from_arrays(arrays, schema=arrow_schema(planned))
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    back = pq.read_table(path)

    assert back.schema.equals(table.schema)
    for field in back.schema:
        assert not pa.types.is_unsigned_integer(field.type), field
        if pa.types.is_timestamp(field.type):
            assert field.type.unit == "us"
            assert field.type.tz == "UTC"
    for p, (_, _, expected) in zip(planned, CONVERSIONS, strict=True):
        assert back.column(p.name).to_pylist() == padded(expected), p.name


def test_duckdb_accepts_the_types_and_keeps_the_values(tmp_path) -> None:
    cols = [row[0] for row in MAPPING]
    cols = [
        source(c.data_type, c.column_type, octets=c.char_octet_length,
               precision=c.numeric_precision, scale=c.numeric_scale, name=f"c{i}", ordinal=i)
        for i, c in enumerate(cols)
    ]  # fmt: skip
    planned = plan_columns(cols, table="t")
    ddl = ", ".join(f'"{p.name}" {p.duckdb_type}' for p in planned)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE t ({ddl})")

    by_type = {c.column_type: raw for c, raw, _ in CONVERSIONS}
    arrays = [raw_to_arrow(p, by_type.get(p.source.column_type, [None])[:1]) for p in planned]
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, schema=arrow_schema(planned)), path)
    con.execute(f"INSERT INTO t SELECT * FROM read_parquet('{path}')")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)
    names = {p.source.column_type: p.name for p in planned}
    row = con.execute(
        f'SELECT "{names["datetime(6)"]}", "{names["bigint(20) unsigned"]}", '
        f"\"{names['timestamp(3)']}\" = TIMESTAMPTZ '1970-01-01 00:00:01+00' FROM t"
    ).fetchone()
    # The datetime wall clock survives the UTC-typed Parquet column unchanged.
    assert row == (datetime(2024, 1, 2, 3, 4, 5, 123456), Decimal(2**64 - 1), True)


class _FakeCursor:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows
        self.executed: list[tuple[str, tuple]] = []

    def execute(self, sql: str, params: tuple) -> None:
        self.executed.append((sql, params))

    def fetchall(self) -> list[tuple]:
        return self.rows


def test_read_source_columns_parses_typed_and_raw_rows() -> None:
    cursor = _FakeCursor(
        [
            ("Id", "BIGINT", "bigint(20) unsigned", "NO", None, 20, 0, None, 1, None, None),
            (
                b"name",
                b"varchar",
                b"varchar(255)",
                "YES",
                "1020",
                None,
                None,
                None,
                "2",
                b"utf8mb4",
                "utf8mb4_general_ci",
            ),
        ]
    )
    cols = read_source_columns(cursor, "shop", "orders")
    sql, params = cursor.executed[0]
    assert params == ("shop", "orders")
    assert "%s" in sql and "ORDER BY ORDINAL_POSITION" in sql
    assert cols == [
        SourceColumn("Id", "bigint", "bigint(20) unsigned", False, None, 20, 0, None, 1),
        SourceColumn(
            "name", "varchar", "varchar(255)", True, 1020, None, None, None, 2,
            charset="utf8mb4", collation="utf8mb4_general_ci",
        ),
    ]  # fmt: skip


def test_read_primary_key() -> None:
    cursor = _FakeCursor([("b", None), (b"a", b"16")])
    assert read_primary_key(cursor, "shop", "orders") == ["b", "a"]
    # A key indexed on a prefix (`PRIMARY KEY (b, a(16))`) says how long.
    assert read_primary_key_parts(_FakeCursor([("b", None), (b"a", b"16")]), "s", "t") == {
        "b": None,
        "a": 16,
    }
    assert cursor.executed[0][1] == ("shop", "orders")
    assert read_primary_key(_FakeCursor([]), "shop", "orders") == []


def test_raw_conversions_keeps_encoders_only() -> None:
    conv = raw_conversions()
    assert conv
    assert str in conv
    assert not any(isinstance(key, int) for key in conv)


# -- Redshift's VARCHAR counts UTF-8 bytes, whatever MySQL's character set ----------------------
@pytest.mark.parametrize(
    ("data_type", "column_type", "octets", "charset", "redshift"),
    [
        ("varchar", "varchar(10)", 10, "latin1", "VARCHAR(30)"),  # cp1252: € is 3 UTF-8 bytes
        ("char", "char(10)", 10, "latin1", "VARCHAR(30)"),
        ("varchar", "varchar(10)", 20, "ucs2", "VARCHAR(30)"),
        ("varchar", "varchar(10)", 20, "gbk", "VARCHAR(30)"),
        ("varchar", "varchar(10)", 40, "utf16", "VARCHAR(40)"),
        ("varchar", "varchar(10)", 10, "ascii", "VARCHAR(10)"),
        ("varchar", "varchar(10)", 40, "utf8mb4", "VARCHAR(40)"),
        ("varchar", "varchar(10)", 30, "utf8mb3", "VARCHAR(30)"),
        ("tinytext", "tinytext", 255, "latin1", "VARCHAR(765)"),
        ("text", "text", 65535, "latin1", "VARCHAR(65535)"),  # capped: checked per value
        ("enum", "enum('é','x')", 1, "latin1", "VARCHAR(3)"),
    ],
)
def test_text_width_counts_utf8_bytes(
    data_type: str, column_type: str, octets: int, charset: str, redshift: str
) -> None:
    col = dataclasses.replace(
        source(data_type, column_type, octets=octets), charset=charset, collation=None
    )
    planned = plan_column(col, "c")
    assert (planned.redshift_type, planned.postgres_type) == (redshift, redshift)
