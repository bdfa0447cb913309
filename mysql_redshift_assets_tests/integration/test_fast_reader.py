"""Both fast paths (the wire reader and connectorx) give exactly what the pymysql path gives,
and fall back cleanly. Every test runs once with each reader (the source's `reader:`).

Both paths read the same real MariaDB rows: every planner type with its edge values is compared
batch against batch (schema, types and values), then whole extractions are compared file by
file (keys, row counts, first/last positions, fingerprints, contents), on the concurrent
integer-key path and the sequential (cursor, pk) keyset path. Fallbacks: a type the fast path
does not cover, connectorx failing before or in the middle of a run, a snapshot copy (connectorx;
the wire reader reads on the snapshot's session: test_wire_snapshot.py), the
environment switch, an impossible date. A run killed on the fast path resumes exactly once.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.extract import readers
from mysql_redshift_assets.extract.mysql_text import raw_to_arrow
from mysql_redshift_assets.extract.readers import binary_client
from mysql_redshift_assets.extract.readers.binary import (
    BinaryPathUnavailable,
    TemporalUnreadable,
    plan_binary,
)
from mysql_redshift_assets.extract.readers.connectorx import ConnectorxReader
from mysql_redshift_assets.extract.readers.wire import WireReader
from mysql_redshift_assets.extract.schema_types import arrow_schema, plan_columns
from mysql_redshift_assets.extract.source import MySQLSource
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets_tests.integration.test_key_shapes import SHAPES, T0, _create, _insert

pytestmark = pytest.mark.mariadb


@pytest.fixture(autouse=True, params=["wire", "connectorx"])
def mysql_reader(request) -> str:
    """Each test once through each fast reader (the wire one must be built: it fails if not)."""
    return request.param


@pytest.fixture
def active_reader(mysql_reader: str) -> type:
    """The class whose `fetch` the page loop calls with this test's reader."""
    return WireReader if mysql_reader == "wire" else ConnectorxReader


ALL_TYPES = """CREATE TABLE t (
  id INT PRIMARY KEY,
  ti TINYINT, tu TINYINT UNSIGNED, b1 TINYINT(1), si SMALLINT, su SMALLINT UNSIGNED,
  mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
  zf INT(5) ZEROFILL,
  d154 DECIMAL(15,4), d103 DECIMAL(10,3), d3810 DECIMAL(38,10), d380 DECIMAL(38,0),
  d2015 DECIMAL(20,15), d55 DECIMAL(5,5), d6530 DECIMAL(65,30), d2810 DECIMAL(28,10),
  d180 DECIMAL(18,0), d2911 DECIMAL(29,11),
  f FLOAT, dbl DOUBLE,
  bt1 BIT(1), bt5 BIT(5), bt64 BIT(64),
  c CHAR(3), v VARCHAR(20), tx TEXT, e ENUM('a','b'), st SET('x','y'), j JSON,
  bn BINARY(4), vb VARBINARY(10), bl BLOB,
  dt DATE, dtt DATETIME, dt6 DATETIME(6), ts TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL,
  tm TIME(6), yr YEAR, g GEOMETRY
) CHARACTER SET utf8mb4"""

ROWS = [
    "(1, -128, 255, 1, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,"
    " -9223372036854775808, 18446744073709551615, 42,"
    " -99999999999.9999, 9999999.999, 9999999999999999999999999999.9999999999,"
    " 99999999999999999999999999999999999999, 12345.123456789012345, 0.12345,"
    " 12345678901234567890123456789012345.123456789012345678901234567890,"
    " 999999999999999999.9999999999, -999999999999999999, 123456789012345678.12345678901,"
    " 16777215, 1.7976931348623157e308, b'1', b'10101', b'1111111111111111111111111111111111111111111111111111111111111111',"
    " 'é', 'ñ日本 🚚', 'x🚚\\n\\t\"', 'b', 'x,y', '{\"a\": [1, 2.5, null]}',"
    " 0x00010203, 0xff, 0x00ff, '2024-02-29', '2024-01-01 12:34:56',"
    " '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '1970-01-01 00:00:01.001',"
    " '-838:59:59.000000', 2024, ST_GeomFromText('POINT(1 2)'))",
    "(2" + ", NULL" * 44 + ")",
    "(3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,"
    " -0.000000000000000000000000000001, -0.0000000000, 0, -0.00000000001, 1.5e-7, 5e-324, b'0', b'0', b'0', '', '', '',"
    " 'a', '', '[]', 0x00000000, '', '', '0000-00-00', '0000-00-00 00:00:00',"
    " '2024-00-00 00:00:00', '0000-00-00 00:00:00', NULL, '00:00:00', 0, NULL)",
    "(4, 127, 1, -1, 1, 1, 1, 1, 1, 1, 1, 9223372036854775808, 1, 0.0001, -0.001,"
    " -0.0000000001, -1, 0.000000000000001, -0.00001, 1,"
    " -999999999999999999.9999999999, 999999999999999999, -0.00000000001, -3.4e38, 0.1, b'1', b'11111',"
    " b'1000000000000000000000000000000000000000000000000000000000000000', 'abc', 'x', NULL,"
    " 'a', 'y', '\"s\"', 0x61626364, 0x00, 0x00, '0000-01-01', '2024-01-00 10:00:00',"
    " '1000-01-01 00:00:00.000001', '2024-06-01 00:00:00', '2024-06-01 12:00:00.125',"
    " '838:59:59', 1901, ST_GeomFromText('LINESTRING(0 0, 1 1)'))",
]


def both_paths(
    source: MySQLSource,
    schema: str,
    table: str,
    *,
    binary_temporal: bool = True,
    retry_as_text: bool = True,
) -> tuple[pa.Table, pa.Table]:
    """(the pymysql path's batch, the fast path's batch) for the whole table, in id order."""
    planned = plan_columns(source.columns(schema, table), table=table)
    ref = source.table_ref(schema, table)
    select = ", ".join(c.select_expr for c in planned)
    rows = [
        r for page in source.stream(f"SELECT {select} FROM {ref} ORDER BY 1", [], 100) for r in page
    ]
    columns = list(zip(*rows, strict=True))
    slow = pa.Table.from_arrays(
        [raw_to_arrow(c, list(v)) for c, v in zip(planned, columns, strict=True)],
        schema=arrow_schema(planned),
    )
    binary_plan = plan_binary(planned, [0], binary_temporal=binary_temporal)
    assert binary_plan is not None
    reader = binary_client(source)
    assert reader is not None
    try:
        sql = f"SELECT {', '.join(binary_plan.select_list)} FROM {ref} ORDER BY 1"
        chunks = reader.fetch(binary_plan, sql)
    except TemporalUnreadable:
        if not retry_as_text:
            raise
        binary_plan = (
            binary_plan.text_temporal()
        )  # what readers.binary.BinaryPages does on this error
        sql = f"SELECT {', '.join(binary_plan.select_list)} FROM {ref} ORDER BY 1"
        chunks = reader.fetch(binary_plan, sql)
    fast = pa.Table.from_batches([c.batch for c in chunks], schema=binary_plan.schema)
    return slow, fast


def assert_identical(slow: pa.Table, fast: pa.Table) -> None:
    assert fast.schema.equals(slow.schema, check_metadata=True)
    for name in slow.column_names:
        a, b = slow[name].combine_chunks(), fast[name].combine_chunks()
        assert a.type == b.type, name
        assert a.equals(b), f"{name}: pymysql {a} != fast {b}"
        if pa.types.is_floating(a.type):  # bit for bit: -0.0 is not 0.0 here
            bits = pa.int64() if a.type == pa.float64() else pa.int32()
            assert a.view(bits).equals(b.view(bits)), name


# -- every planner type --------------------------------------------------------------------------
def test_every_planner_type_and_edge_value_reads_identically(mysql, mysql_db, source) -> None:
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # zero dates, as legacy data has them
        cur.execute(ALL_TYPES)
        cur.execute("INSERT INTO t VALUES " + ", ".join(ROWS))
    slow, fast = both_paths(source, mysql_db, "t")
    assert slow.num_rows == 4
    assert_identical(slow, fast)
    # The values the planner promises, on both paths.
    row = {n: fast[n].to_pylist() for n in fast.column_names if n not in ("dt", "dt6")}
    row["dt"] = fast["dt"].is_null().to_pylist()  # year 0 has no Python date
    row["dt6"] = fast["dt6"].is_null().to_pylist()
    assert row["bu"][0] == 18446744073709551615 and fast.schema.field("bu").type == pa.decimal128(
        20, 0
    )
    assert str(row["d2015"][0]) == "12345.123456789012345"  # connectorx alone returns 100000
    assert fast.schema.field("d6530").type == pa.string()
    assert str(row["d2810"][0]) == "999999999999999999.9999999999"  # binary, at its limit
    assert str(row["d2911"][0]) == "123456789012345678.12345678901"  # scale 11: as text
    assert row["dt"][2] and row["dtt"][2] is None and row["dt6"][2]  # zero dates
    assert row["ts"][2] is None and row["dtt"][3] is None  # '2024-01-00': a zero day
    assert str(row["ts"][0]) == "2038-01-19 03:14:07+00:00"  # UTC, tz-aware
    assert row["tm"][0] == "-838:59:59.000000" and row["zf"][0] == 42
    assert row["bt64"][0] == 18446744073709551615 and row["bt1"][:2] == [True, None]
    assert row["g"][0] is not None and row["f"][0] == 16777215.0


def test_temporal_columns_read_as_text_match_too(mysql, mysql_db, source) -> None:
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(ALL_TYPES)
        cur.execute("INSERT INTO t VALUES " + ", ".join(ROWS))
    assert_identical(*both_paths(source, mysql_db, "t", binary_temporal=False))


def test_zero_dates_travel_as_binary_values(mysql, mysql_db, source) -> None:
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(
            "CREATE TABLE z (id INT PRIMARY KEY, d DATE NOT NULL, dt DATETIME(6), ts TIMESTAMP NULL)"
        )
        cur.execute(
            "INSERT INTO z VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'),"
            " (2, '0000-01-01', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07'),"
            " (3, '2024-02-29', NULL, '1970-01-01 00:00:01'), (4, '1000-01-01', '2024-01-01', NULL)"
        )
    slow, fast = both_paths(source, mysql_db, "z", retry_as_text=False)  # no fallback needed
    assert_identical(slow, fast)
    assert fast["d"].null_count == 1 and fast["dt"].null_count == 2 and fast["ts"].null_count == 2


def test_an_impossible_date_switches_to_text_with_identical_values(mysql, mysql_db, source):
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'ALLOW_INVALID_DATES'")
        cur.execute("CREATE TABLE d (id INT PRIMARY KEY, dt DATE, dtt DATETIME(3))")
        cur.execute(
            "INSERT INTO d VALUES (1, '2024-02-31', '2024-04-31 10:00:00.5'), "
            "(2, '2024-02-29', '2023-02-29 00:00:00'), (3, '2024-03-01', '2024-03-01 00:00:00'), "
            "(4, '2024-00-05', '2024-07-00 12:00:00'), (5, '0000-00-00', '0000-00-00 00:00:00')"
        )
    with pytest.raises(TemporalUnreadable):
        both_paths(source, mysql_db, "d", retry_as_text=False)
    assert binary_client(source).broken is None  # not a reason to leave the fast path
    slow, fast = both_paths(source, mysql_db, "d", binary_temporal=False)
    assert_identical(slow, fast)
    assert fast["dt"].to_pylist()[:2] == [None, datetime(2024, 2, 29).date()]
    assert fast["dt"].to_pylist()[3:] == [None, None] and fast["dtt"].null_count == 4


def test_order_columns_the_fast_path_cannot_render_fall_back(source) -> None:
    from mysql_redshift_assets.extract.schema_types import SourceColumn

    def col(name: str, data_type: str, column_type: str, ordinal: int) -> SourceColumn:
        return SourceColumn(name, data_type, column_type, True, 16, 10, 0, 0, ordinal)

    cols = [col("k", "float", "float", 1), col("n", "int", "int(11)", 2)]
    planned = plan_columns(cols, table="t")
    assert plan_binary(planned, [0]) is None  # a float key: its text is not what pymysql returns
    assert plan_binary(planned, [1]) is not None
    binary = plan_columns([col("b", "varbinary", "varbinary(16)", 1)], table="t")
    assert plan_binary(binary, [0]) is not None  # bytes, held as hex in positions
    zerofill = plan_columns([col("z", "int", "int(5) unsigned zerofill", 1)], table="t")
    assert plan_binary(zerofill, [0]) is None  # '00042' in MySQL's text, 42 from connectorx
    assert plan_binary(planned, []) is None  # keyless tables stay on the streaming path


# -- whole extractions: fast path == pymysql path -------------------------------------------------
@pytest.fixture
def orders(mysql, mysql_db) -> str:
    """3,001 rows, ids with gaps, heavy ties on the cursor, a legacy zero date, NULLs."""
    rng = random.Random(7)
    ids = sorted(rng.sample(range(1, 20_000), 3001))
    t0 = datetime(2024, 1, 1)
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(
            "CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, note VARCHAR(40), "
            "amount DECIMAL(15,4), shipped DATE, updated_at DATETIME(6) NOT NULL, "
            "ts TIMESTAMP NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    i,
                    None if i % 5 == 0 else f"note {i} é🚚",
                    f"{rng.randint(-(10**9), 10**9)}.{rng.randint(0, 9999):04d}",
                    "0000-00-00" if i % 97 == 0 else (t0 + timedelta(days=i % 400)).date(),
                    t0 + timedelta(seconds=rng.randint(0, 40)),
                    None if i % 3 == 0 else t0 + timedelta(minutes=i),
                )
                for i in ids
            ],
        )
    return f"{mysql_db}.orders"


def run(
    project: Project, qualified: str, run_id: str, reader: str | None = None, **kwargs: Any
) -> ExtractResult:
    table = table_config(project.pipeline("testpipe"), qualified)
    store = open_store(project, table.store)
    source = open_source(project, table.source)
    source.reader = reader or source.reader
    try:
        return extract_table(source, store, WatermarkStore(store), table, run_id=run_id, **kwargs)
    finally:
        source.close()


def stored(project: Project, qualified: str) -> tuple[list[dict[str, Any]], pa.Table]:
    """The watermark's file records (without run- and lineage-specific parts) and all rows, in
    file order."""
    table = table_config(project.pipeline("testpipe"), qualified)
    store = open_store(project, table.store)
    watermark = WatermarkStore(store).load(table)
    assert watermark is not None
    records, tables = [], []
    for f in watermark.files:
        record = f.model_dump(exclude={"run_id", "written_at", "bytes"})
        # Each watermark's lineage is its own (a store started over never reuses a key).
        record["key"] = record["key"].replace(f"/{watermark.lineage}/", "/")
        records.append(record)
        fs, path = store.arrow_location(f.key)
        tables.append(pq.read_table(path, filesystem=fs))
    return records, pa.concat_tables(tables)


@pytest.fixture
def small_pages(monkeypatch) -> None:
    """Use the fast path even for the tiny pages of these tests."""
    monkeypatch.setattr(readers, "BINARY_MIN_CHUNK_ROWS", 1)


def fetches(monkeypatch, active_reader: type) -> list[str]:
    """Record every page query of the fast reader."""
    calls: list[str] = []
    real = active_reader.fetch

    def spy(self, plan, sql):
        calls.append(sql)
        return real(self, plan, sql)

    monkeypatch.setattr(active_reader, "fetch", spy)
    return calls


@pytest.mark.parametrize(
    "spec",
    [
        {"append_only": True},  # the primary key: concurrent `id > a AND id <= b` pages
        {"cursor": "updated_at"},  # (cursor, pk) keyset, pages in sequence
    ],
    ids=["integer-key", "cursor-keyset"],
)
def test_fast_and_pymysql_extractions_write_identical_files(
    orders, make_project, monkeypatch, small_pages, spec, active_reader
) -> None:
    kwargs = dict(store="local", chunk_rows=170, file_rows=400, upper_bound_lag_seconds=0)
    fast_project = make_project({orders: spec}, name="testpipe", **kwargs)
    calls = fetches(monkeypatch, active_reader)
    fast = run(fast_project, orders, "fast")
    assert calls and fast.rows == 3001
    fast_records, fast_rows = stored(fast_project, orders)

    import shutil

    shutil.rmtree(fast_project.root.parent / "store")  # the same pipeline, from scratch
    calls.clear()
    slow = run(fast_project, orders, "slow", reader="pymysql")
    assert calls == [] and slow.rows == 3001
    slow_records, slow_rows = stored(fast_project, orders)

    assert fast_records == slow_records  # keys, rows, first/last positions, fingerprints
    assert [r["rows"] for r in fast_records] == [400] * 7 + [201]
    assert fast.position_after == slow.position_after
    assert fast_rows.equals(slow_rows)
    assert fast_rows.schema.equals(slow_rows.schema, check_metadata=True)


@pytest.mark.parametrize(
    "spec", [{"append_only": True}, {"cursor": "updated_at"}], ids=["key", "cursor"]
)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_key_shape_reads_identically_on_both_paths(
    mysql, make_project, monkeypatch, small_pages, active_reader, mysql_db, shape, spec
) -> None:
    """Positions (first/last of every file, the watermark's) and values of every accepted key
    shape are the pymysql path's, with the keyset on the key alone and on (cursor, key)."""
    qualified = f"{mysql_db}.t"
    _create(mysql, SHAPES[shape])
    _insert(mysql, SHAPES[shape], SHAPES[shape].initial + SHAPES[shape].inserts, T0, 1)
    kwargs = dict(store="local", chunk_rows=3, file_rows=4, upper_bound_lag_seconds=0)
    project = make_project({qualified: spec}, name="testpipe", **kwargs)
    calls = fetches(monkeypatch, active_reader)
    fast = run(project, qualified, "fast")
    assert len(calls) > 2  # the fast path read the pages
    fast_records, fast_rows = stored(project, qualified)

    import shutil

    shutil.rmtree(project.root.parent / "store")
    slow = run(project, qualified, "slow", reader="pymysql")
    slow_records, slow_rows = stored(project, qualified)
    assert fast.rows == slow.rows == len(SHAPES[shape].initial + SHAPES[shape].inserts)
    assert fast_records == slow_records
    assert fast.position_after == slow.position_after
    assert fast_rows.equals(slow_rows)


def test_max_rows_and_resume_on_the_fast_path(
    orders, make_project, monkeypatch, small_pages, active_reader
):
    project = make_project(
        {orders: {"append_only": True}},
        store="local",
        chunk_rows=170,
        file_rows=400,
        upper_bound_lag_seconds=0,
    )
    calls = fetches(monkeypatch, active_reader)
    first = run(project, orders, "r1", max_rows=1000)
    assert first.rows == 1000 and calls  # a capped run pages in sequence, never past the cap
    second = run(project, orders, "r2")
    assert second.rows == 2001 and second.position_before == first.position_after
    _, rows = stored(project, orders)
    ids = rows["id"].to_pylist()
    assert ids == sorted(ids) and len(set(ids)) == 3001


def test_a_run_failing_mid_stream_on_the_fast_path_resumes_exactly_once(
    orders, make_project, monkeypatch, small_pages, active_reader
) -> None:
    project = make_project(
        {orders: {"cursor": "updated_at"}},
        store="local", chunk_rows=170, file_rows=400, upper_bound_lag_seconds=0,
    )  # fmt: skip
    real = active_reader.fetch
    count = 0

    def dies(self, plan, sql):
        nonlocal count
        count += 1
        if count == 7:  # pages 1-6 read, 2 files published, the third half written
            raise KeyboardInterrupt("killed")
        return real(self, plan, sql)

    monkeypatch.setattr(active_reader, "fetch", dies)
    with pytest.raises(KeyboardInterrupt):
        run(project, orders, "crash")
    table = table_config(project.pipeline("testpipe"), orders)
    watermark = WatermarkStore(open_store(project, table.store)).load(table)
    assert [f.rows for f in watermark.files] == [400, 400]
    assert watermark.position == watermark.files[-1].last

    monkeypatch.setattr(active_reader, "fetch", real)
    resumed = run(project, orders, "resume")
    assert resumed.position_before == watermark.position and resumed.rows == 3001 - 800
    _, rows = stored(project, orders)
    with _connect(table.source_schema) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM orders ORDER BY updated_at, id")
        expected = [r[0] for r in cur.fetchall()]
    assert rows["id"].to_pylist() == expected  # no gap, no duplicate, keyset order


def _connect(database: str):
    from mysql_redshift_assets_tests.conftest import mysql_connect

    return mysql_connect(database)


def test_key_ranges_denser_than_expected_are_read_to_their_end(
    mysql, mysql_db, make_project, monkeypatch, small_pages, active_reader
) -> None:
    """Ranges are sized from the density seen so far: sparse keys, then dense ones, make a
    range page reach its LIMIT; the rest of that range is read before the next range."""
    ids = [*range(10, 2001, 10), *range(2001, 6001), *range(10_000, 400_000, 997)]
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE k (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.executemany("INSERT INTO k VALUES (%s, %s)", [(i, f"v{i}") for i in ids])
    qualified = f"{mysql_db}.k"
    project = make_project(
        {qualified: {"append_only": True}}, store="local", chunk_rows=100, file_rows=1000
    )
    sizes: list[int] = []
    real = active_reader.fetch

    def spy(self, plan, sql):
        chunks = real(self, plan, sql)
        sizes.append(sum(c.num_rows for c in chunks))
        return chunks

    monkeypatch.setattr(active_reader, "fetch", spy)
    result = run(project, qualified, "r1")
    assert result.rows == len(ids)
    assert max(sizes) == 200 and sizes.count(200) >= 2  # capped at twice chunk_rows, continued
    _, rows = stored(project, qualified)
    assert rows["id"].to_pylist() == ids  # every key once, in order
    table = table_config(project.pipeline("testpipe"), qualified)
    watermark = WatermarkStore(open_store(project, table.store)).load(table)
    assert watermark.position.pk == [str(ids[-1])]
    assert [f.last.pk for f in watermark.files] == [
        [str(ids[i])] for i in range(999, len(ids), 1000)
    ] + ([[str(ids[-1])]] if len(ids) % 1000 else [])


def test_key_ranges_start_at_the_first_key_with_pages_in_flight_from_the_start(
    mysql, mysql_db, make_project, monkeypatch, small_pages, active_reader
) -> None:
    """No page is read alone to find where the keys start: the first ranges begin at the first
    key (ids far from zero here) and FETCHERS of them are in flight at once."""
    base = 10**12
    ids = [base + i for i in range(1, 1001)]
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE far (id BIGINT PRIMARY KEY, v VARCHAR(20))")
        cur.executemany("INSERT INTO far VALUES (%s, %s)", [(i, f"v{i}") for i in ids])
    qualified = f"{mysql_db}.far"
    project = make_project(
        {qualified: {"append_only": True}}, store="local", chunk_rows=100, file_rows=400
    )
    real = active_reader.fetch
    calls: list[str] = []
    second_started = threading.Event()

    def spy(self, plan, sql):
        calls.append(sql)
        if len(calls) == 2:
            second_started.set()
        if len(calls) == 1:  # the first page waits for the second to be asked for
            assert second_started.wait(10), "the second page was not fetched alongside the first"
        return real(self, plan, sql)

    monkeypatch.setattr(active_reader, "fetch", spy)
    result = run(project, qualified, "r1")
    assert result.rows == 1000
    assert len(calls) == 10  # dense keys: ranges of 100 keys, 100 rows each, none wasted
    assert f"> {base}" in calls[0] and f"<= {base + 100}" in calls[0]
    _, rows = stored(project, qualified)
    assert rows["id"].to_pylist() == ids


# -- fallbacks -------------------------------------------------------------------------------------
def test_connectorx_failing_mid_run_falls_back_to_pymysql_from_the_position(
    orders, make_project, monkeypatch, small_pages, caplog, active_reader
) -> None:
    project = make_project(
        {orders: {"cursor": "updated_at"}},
        store="local", chunk_rows=170, file_rows=400, upper_bound_lag_seconds=0,
    )  # fmt: skip
    real = active_reader.fetch
    count = 0

    def fails(self, plan, sql):
        nonlocal count
        count += 1
        if count == 4:
            raise BinaryPathUnavailable("source 'x': connectorx could not read a page (boom)")
        return real(self, plan, sql)

    monkeypatch.setattr(active_reader, "fetch", fails)
    with caplog.at_level(logging.WARNING, logger="mysql_redshift_assets.extract.table"):
        result = run(project, orders, "r1")
    assert result.rows == 3001 and count == 4  # the rest came through pymysql
    assert "reading on with pymysql" in caplog.text
    _, rows = stored(project, orders)
    with _connect(table_config(project.pipeline("testpipe"), orders).source_schema) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM orders ORDER BY updated_at, id")
            assert rows["id"].to_pylist() == [r[0] for r in cur.fetchall()]


def test_connectorx_errors_never_carry_the_password(monkeypatch) -> None:
    import connectorx

    secret = "s3cr/t p@ss"
    reader = ConnectorxReader(
        "src",
        url=lambda: (
            f"mysql://u:{secret.replace('/', '%2F').replace(' ', '%20').replace('@', '%40')}@h:1/"
        ),
        render=lambda sql, params: sql,
        secrets=[secret],
    )

    def explode(url, *args, **kwargs):
        raise RuntimeError(f"cannot connect to {url} (password {secret!r})")

    monkeypatch.setattr(connectorx, "read_sql", explode)
    plan = plan_binary(
        plan_columns([_int_col()], table="t"),
        [0],
    )
    with pytest.raises(BinaryPathUnavailable) as info:
        reader.fetch(plan, "SELECT 1")
    text = str(info.value) + repr(info.value.__cause__) + repr(info.value.__context__)
    assert "s3cr" not in text and "%40" not in text and "***" in str(info.value)
    assert info.value.__cause__ is None
    assert reader.broken  # the source stays on pymysql for the rest of the process


def _int_col():
    from mysql_redshift_assets.extract.schema_types import SourceColumn

    return SourceColumn("id", "int", "int(11)", False, None, 10, 0, None, 1)


def test_the_url_is_tcp_to_the_source_and_escapes_the_credentials() -> None:
    src = MySQLSource(
        "s", host="db.example", port=3307, user="u@x", password="p:/@ %", database="d"
    )
    url = src.connectorx_url()
    assert url.startswith("mysql://u%40x:p%3A%2F%40%20%25@db.example:3307/d?")
    assert "prefer_socket=false" in url and "cxprotocol=binary" in url
    assert "p:/@" not in repr(src)


def test_snapshot_copies_stay_on_the_snapshot_connection(source, mysql_reader) -> None:
    """A consistent view lives on one connection only: the wire reader reads its pages there
    (test_wire_snapshot.py), connectorx's sessions are its own, so pymysql reads them."""
    assert binary_client(source) is not None
    with source.snapshot():
        client = binary_client(source)
        if mysql_reader == "wire":
            assert isinstance(client, WireReader) and client._snapshot is not None
        else:
            assert client is None
    source.reader = "pymysql"
    assert binary_client(source) is None


def test_a_full_copy_reads_through_the_snapshot_connection(
    orders, make_project, monkeypatch, small_pages, active_reader, mysql_reader
) -> None:
    project = make_project({orders: {"mode": "full"}}, store="local", chunk_rows=500)
    calls = fetches(monkeypatch, active_reader)
    result = run(project, orders, "11111111-full")
    assert result.rows == 3001 and len(calls) == (7 if mysql_reader == "wire" else 0)


def test_the_demo_source_has_no_fast_reader(tmp_path) -> None:
    from mysql_redshift_assets.extract.demo_source import DemoSource

    assert binary_client(DemoSource("demo", tmp_path)) is None
