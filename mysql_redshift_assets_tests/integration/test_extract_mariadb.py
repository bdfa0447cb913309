"""MariaDB -> Parquet in moto S3: every row exactly once, exact values, clear errors."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.extract.source import SourceError
from mysql_redshift_assets.naming import lease_key, table_base
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import FileRecord, Position, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import ORDER_COLUMN, read_footer
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD, free_port

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]

T0 = datetime(2024, 1, 1)


# -- helpers -------------------------------------------------------------------------------------
def run(
    project: Project, qualified: str, run_id: str, max_rows: int | None = None, **patch: Any
) -> ExtractResult:
    """One extraction run of one table, the way the asset does it (fresh clients each run)."""
    table = table_config(project.pipeline("testpipe"), qualified)
    store = open_store(project, table.store)
    source = open_source(project, table.source)
    for name, value in patch.items():
        setattr(source, name, value)
    try:
        return extract_table(
            source, store, WatermarkStore(store), table, run_id=run_id, max_rows=max_rows
        )
    finally:
        source.close()


def read_files(store: ObjectStore, files: list[FileRecord]) -> pa.Table:
    tables = []
    for record in files:
        fs, path = store.arrow_location(record.key)
        table = pq.read_table(path, filesystem=fs)
        assert table.num_rows == record.rows
        # The rows' values: the merge's order column is not one of them.
        tables.append(table.drop_columns([ORDER_COLUMN]))
    return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})


def parquet_keys(store: ObjectStore, table: TableConfig) -> list[str]:
    return sorted(o.key for o in store.list(table_base(table) + "/") if o.key.endswith(".parquet"))


def query(mysql, sql: str, params: Any = ()) -> list[tuple]:
    with mysql.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def execute(mysql, *statements: str) -> None:
    with mysql.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def footer(store: ObjectStore, key: str):
    filesystem, path = store.arrow_location(key)
    return read_footer(path, filesystem)


# -- 1. ties across page boundaries ------------------------------------------------------------
@pytest.mark.parametrize("key", ["single", "composite"])
def test_timestamp_ties_across_pages_every_row_once(mysql, mysql_db, make_project, key) -> None:
    composite = key == "composite"
    pk = "PRIMARY KEY (tenant, id)" if composite else "PRIMARY KEY (id)"
    execute(
        mysql,
        "CREATE TABLE orders (tenant INT NOT NULL, id INT NOT NULL, note VARCHAR(20), "
        f"updated_at DATETIME(6) NOT NULL, {pk}, KEY (updated_at))",
    )
    rng = random.Random(97)
    ids = rng.sample(range(1, 10_000), 138)
    # 97 rows share one timestamp; 20 share another one before it; 21 are distinct, later.
    stamps = ["2024-01-01 00:00:00"] * 97 + ["2023-12-31 23:59:59.999999"] * 20
    stamps += [f"2024-01-02 00:00:{i:02d}.5" for i in range(21)]
    rng.shuffle(stamps)
    tenants = [rng.randint(1, 3) if composite else 0 for _ in ids]
    rows = list(zip(tenants, ids, [f"n{i}" for i in ids], stamps, strict=True))
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s)", rows)
    project = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}},
        chunk_rows=10,
        file_rows=25,
        upper_bound_lag_seconds=0,
    )
    result = run(project, f"{mysql_db}.orders", "r1")

    assert result.rows == 138
    assert [f.rows for f in result.files] == [25, 25, 25, 25, 25, 13]
    store = open_store(project, "s3")
    data = read_files(store, result.files)
    got = list(zip(data["tenant"].to_pylist(), data["id"].to_pylist(), strict=True))
    expected = query(mysql, "SELECT tenant, id FROM orders ORDER BY updated_at, tenant, id")
    assert len(set(got)) == len(got)  # no duplicate
    assert got == [tuple(r) for r in expected]  # none missing, in keyset order
    assert [f.rows for f in result.files] == [footer(store, f.key).rows for f in result.files]

    # Each file records the positions of its own first and last rows.
    offset = 0
    for record in result.files:
        first, last = expected[offset], expected[offset + record.rows - 1]
        offset += record.rows
        for position, row in ((record.first, first), (record.last, last)):
            assert position is not None
            assert position.pk == ([str(row[0]), str(row[1])] if composite else [str(row[1])])
    last = query(mysql, "SELECT updated_at, tenant, id FROM orders ORDER BY 1 DESC, 2 DESC, 3 DESC")
    pk = [str(last[0][1]), str(last[0][2])] if composite else [str(last[0][2])]
    assert result.position_after == Position(cursor="2024-01-02 00:00:20.500000", pk=pk)

    again = run(project, f"{mysql_db}.orders", "r2")
    assert again.rows == 0 and again.files == []


# -- 2. values ---------------------------------------------------------------------------------
def test_values_round_trip_exactly(mysql, mysql_db, make_project) -> None:
    execute(
        mysql,
        "CREATE TABLE vals (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, txt VARCHAR(50) NULL, "
        "d DATE NULL, dt DATETIME(6) NULL, ts TIMESTAMP(6) NULL DEFAULT NULL, "
        "amount DECIMAL(30,10) NULL, big BIGINT UNSIGNED NULL, `190_time` INT NULL, "
        "flag TINYINT(1) NULL, raw VARBINARY(8) NULL, updated_at DATETIME(6) NOT NULL)",
    )
    big = 18446744073709551615
    with mysql.cursor() as cur:
        # A TIMESTAMP written in a +05:00 session: it must come out as the same instant in UTC.
        cur.execute("SET time_zone = '+05:00'")
        cur.execute(
            "INSERT INTO vals VALUES (1, %s, '2024-02-29', '2024-02-29 23:59:59.999999', "
            "'2024-03-10 17:34:56.123456', '12345678901234567890.0123456789', %s, 190, 1, "
            "X'00FF10', '2024-01-01')",
            ("naïve 日本語 🚀🦄 Ωmega", big),
        )
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(
            "INSERT INTO vals (id, updated_at) VALUES (2, '2024-01-01')"  # every nullable NULL
        )
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(
            "INSERT INTO vals VALUES (3, '', '0000-00-00', '0000-00-00 00:00:00', "
            "'0000-00-00 00:00:00', '-0.0000000001', 0, -5, 0, X'', '2024-01-01')"
        )
        cur.execute(
            "INSERT INTO vals VALUES (%s, '🦄', '2024-00-10', '2023-02-31 10:00:00', "
            "'1970-01-01 00:00:01', '99999999999999999999.9999999999', %s, 0, -128, NULL, "
            "'2024-01-01')",
            (big, big - 1),
        )
        cur.execute("SET SESSION sql_mode = DEFAULT")
        assert query(mysql, "SELECT COUNT(*) FROM vals WHERE d = '0000-00-00'")[0][0] == 1
    project = make_project(
        {f"{mysql_db}.vals": {"cursor": "updated_at"}}, chunk_rows=2, upper_bound_lag_seconds=0
    )
    result = run(project, f"{mysql_db}.vals", "r1")
    assert result.rows == 4 and len(result.files) == 1
    data = read_files(open_store(project, "s3"), result.files)

    schema = data.schema
    assert "col_190_time" in schema.names and "190_time" not in schema.names
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert schema.field("dt").type == pa.timestamp("us", tz="UTC")
    assert schema.field("d").type == pa.date32()
    assert schema.field("amount").type == pa.decimal128(30, 10)
    assert schema.field("big").type == pa.decimal128(20, 0)
    assert schema.field("id").type == pa.decimal128(20, 0)

    rows = {int(r["id"]): r for r in data.to_pylist()}
    assert sorted(rows) == [1, 2, 3, big]
    one = rows[1]
    assert one["txt"] == "naïve 日本語 🚀🦄 Ωmega"
    assert one["d"] == date(2024, 2, 29)
    assert one["dt"] == datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    assert one["ts"] == datetime(2024, 3, 10, 12, 34, 56, 123456, tzinfo=UTC)
    assert one["amount"] == Decimal("12345678901234567890.0123456789")
    assert one["big"] == Decimal(big)
    assert (one["col_190_time"], one["flag"], one["raw"]) == (190, 1, b"\x00\xff\x10")

    nulls = rows[2]
    assert {k for k, v in nulls.items() if v is None} == {
        "txt", "d", "dt", "ts", "amount", "big", "col_190_time", "flag", "raw",
    }  # fmt: skip

    zero = rows[3]
    assert (zero["d"], zero["dt"], zero["ts"]) == (None, None, None)  # zero dates -> NULL
    assert zero["txt"] == "" and zero["raw"] == b""  # empty is not NULL
    assert zero["amount"] == Decimal("-0.0000000001") and zero["big"] == Decimal(0)

    last = rows[big]
    assert (last["d"], last["dt"]) == (None, None)  # impossible dates -> NULL
    assert last["ts"] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert last["amount"] == Decimal("99999999999999999999.9999999999")
    assert last["big"] == Decimal(big - 1) and last["flag"] == -128
    assert result.position_after == Position(cursor="2024-01-01 00:00:00.000000", pk=[str(big)])


# -- 3. new and updated rows between runs; the upper bound -------------------------------------
def test_second_run_picks_up_inserted_and_updated_rows_once(mysql, mysql_db, make_project) -> None:
    execute(
        mysql,
        "CREATE TABLE ev (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL, "
        "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))",
    )
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO ev VALUES (%s, 'old', %s)",
            [(i, f"2024-01-01 10:00:{i % 7:02d}") for i in range(1, 51)],
        )
    project = make_project(
        {f"{mysql_db}.ev": {"cursor": "updated_at"}},
        chunk_rows=8,
        file_rows=20,
        upper_bound_lag_seconds=0,
    )
    store = open_store(project, "s3")
    first = run(project, f"{mysql_db}.ev", "r1")
    assert first.rows == 50 and [f.rows for f in first.files] == [20, 20, 10]

    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO ev VALUES (%s, 'new', '2024-01-02 00:00:00')",
            [(i,) for i in range(51, 61)],
        )
        cur.execute(
            "UPDATE ev SET v = 'upd', updated_at = '2024-01-02 00:00:00.5' WHERE id IN (5, 17)"
        )
    second = run(project, f"{mysql_db}.ev", "r2")
    assert second.position_before == first.position_after
    data = read_files(store, second.files)
    got = dict(zip(data["id"].to_pylist(), data["v"].to_pylist(), strict=True))
    assert len(got) == data.num_rows == second.rows == 12
    assert got == {**{i: "new" for i in range(51, 61)}, 5: "upd", 17: "upd"}
    assert [f.key.rsplit("/", 1)[1] for f in second.files] == ["0000000003.parquet"]

    before = parquet_keys(store, table_config(project.pipeline("testpipe"), f"{mysql_db}.ev"))
    third = run(project, f"{mysql_db}.ev", "r3")
    assert third.rows == 0 and third.files == []
    assert third.position_after == third.position_before == second.position_after
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.ev")
    assert parquet_keys(store, table) == before and len(before) == 4
    watermark = WatermarkStore(store).load(table)
    assert watermark is not None
    assert (watermark.cumulative.rows, watermark.cumulative.files, watermark.next_seq) == (62, 4, 4)
    assert watermark.session is not None and watermark.session.run_id == "r3"
    assert watermark.session.counts.rows == 0 and watermark.session.status == "success"
    assert watermark.status == "success"


def test_rows_stamped_at_or_after_the_upper_bound_wait(mysql, mysql_db, make_project) -> None:
    execute(mysql, "CREATE TABLE ev (id INT PRIMARY KEY, updated_at DATETIME(6) NOT NULL)")
    now = query(mysql, "SELECT UTC_TIMESTAMP(6)")[0][0]
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO ev VALUES (%s, %s - INTERVAL %s SECOND)",
            [(1, now, 7200), (2, now, 600), (3, now, -3600)],  # 2 h ago, 10 min ago, in 1 h
        )
    qualified = f"{mysql_db}.ev"
    # A table-level lag of one hour holds back the row from 10 minutes ago.
    project = make_project({qualified: {"cursor": "updated_at", "upper_bound_lag_seconds": 3600}})
    first = run(project, qualified, "r1")
    store = open_store(project, "s3")
    assert read_files(store, first.files)["id"].to_pylist() == [1]
    bound = datetime.fromisoformat(first.upper_bound or "")
    assert abs((now - bound).total_seconds() - 3600) < 60

    # Lag 0: the row from 10 minutes ago now comes, the one stamped in the future never does.
    project = make_project({qualified: {"cursor": "updated_at", "upper_bound_lag_seconds": 0}})
    second = run(project, qualified, "r2")
    assert read_files(store, second.files)["id"].to_pylist() == [2]
    assert run(project, qualified, "r3").rows == 0


def test_upper_bound_is_exclusive(mysql, mysql_db, make_project) -> None:
    """A row stamped exactly at NOW() - lag waits; one a microsecond earlier goes."""
    execute(mysql, "CREATE TABLE ev (id INT PRIMARY KEY, updated_at DATETIME(6) NOT NULL)")
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO ev VALUES (%s, %s)",
            [
                (1, "2024-06-01 11:59:59.999999"),
                (2, "2024-06-01 12:00:00"),
                (3, "2024-06-01 12:00:00.000001"),
            ],
        )
    qualified = f"{mysql_db}.ev"
    project = make_project({qualified: {"cursor": "updated_at"}}, upper_bound_lag_seconds=0)
    frozen = "2024-06-01 12:00:00.000000"
    first = run(project, qualified, "r1", now_minus=lambda seconds: frozen)
    assert first.upper_bound == frozen
    store = open_store(project, "s3")
    assert read_files(store, first.files)["id"].to_pylist() == [1]
    later = run(project, qualified, "r2", now_minus=lambda seconds: "2024-06-02 00:00:00")
    assert read_files(store, later.files)["id"].to_pylist() == [2, 3]


def test_integer_cursor_and_null_cursor_rows(mysql, mysql_db, make_project) -> None:
    execute(
        mysql,
        "CREATE TABLE ev (id INT PRIMARY KEY, seq BIGINT NULL, KEY (seq, id))",
    )
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO ev VALUES (%s, %s)",
            [(i, i // 3 if i % 10 else None) for i in range(1, 41)],
        )
    project = make_project({f"{mysql_db}.ev": {"cursor": "seq"}}, chunk_rows=4)
    result = run(project, f"{mysql_db}.ev", "r1")
    assert result.null_cursor_rows == 4  # ids 10, 20, 30, 40: reported, a keyset cannot see them
    ids = read_files(open_store(project, "s3"), result.files)["id"].to_pylist()
    assert sorted(ids) == [i for i in range(1, 41) if i % 10] and len(ids) == len(set(ids))
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO ev VALUES (41, 100), (42, 13)")
    # seq 13 is at the previous maximum: (13, 42) is after the position (13, 39) in keyset order.
    again = run(project, f"{mysql_db}.ev", "r2")
    assert sorted(read_files(open_store(project, "s3"), again.files)["id"].to_pylist()) == [41, 42]


# -- 4. max_rows -----------------------------------------------------------------------------------
def test_max_rows_caps_a_run_and_the_next_continues(mysql, mysql_db, make_project) -> None:
    execute(
        mysql,
        "CREATE TABLE big (id INT PRIMARY KEY, updated_at DATETIME NOT NULL, KEY (updated_at, id))",
    )
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO big VALUES (%s, %s)",
            [(i, f"2024-01-01 00:00:{(i * 7) % 5:02d}") for i in range(1, 96)],
        )
    qualified = f"{mysql_db}.big"
    project = make_project(
        {qualified: {"cursor": "updated_at"}}, chunk_rows=7, file_rows=20, upper_bound_lag_seconds=0
    )
    store = open_store(project, "s3")
    results = [
        run(project, qualified, "r1", max_rows=30),
        run(project, qualified, "r2", max_rows=30),
    ]
    assert [r.rows for r in results] == [30, 30]
    assert [[f.rows for f in r.files] for r in results] == [[20, 10], [20, 10]]
    assert results[1].position_before == results[0].position_after

    # The cap from YAML (table level) applies when the run gives none.
    project = make_project(
        {qualified: {"cursor": "updated_at", "max_rows": 25}},
        chunk_rows=7,
        file_rows=20,
        upper_bound_lag_seconds=0,
    )
    results.append(run(project, qualified, "r3"))
    results.append(run(project, qualified, "r4"))
    results.append(run(project, qualified, "r5"))
    assert [r.rows for r in results] == [30, 30, 25, 10, 0]
    for before, after in zip(results, results[1:], strict=False):
        assert after.position_before == before.position_after

    files = [f for r in results for f in r.files]
    ids = read_files(store, files)["id"].to_pylist()
    expected = [r[0] for r in query(mysql, "SELECT id FROM big ORDER BY updated_at, id")]
    assert ids == expected and len(set(ids)) == 95
    table = table_config(project.pipeline("testpipe"), qualified)
    assert parquet_keys(store, table) == sorted(f.key for f in files)
    assert len({f.key for f in files}) == len(files) == 7


# -- 5. full generations -------------------------------------------------------------------------
def _generation_rows(store: ObjectStore, files: list[FileRecord]) -> list[tuple]:
    data = read_files(store, files)
    return sorted(zip(*(data[c].to_pylist() for c in data.column_names), strict=True))


def test_full_mode_makes_a_complete_new_generation_each_run(mysql, mysql_db, make_project) -> None:
    execute(mysql, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2))")
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO items VALUES (%s, %s, %s)",
            [(i, f"item {i}", f"{i}.25") for i in range(1, 41)],
        )
    qualified = f"{mysql_db}.items"
    project = make_project({qualified: {"mode": "full"}}, chunk_rows=7, file_rows=15)
    store = open_store(project, "s3")
    table = table_config(project.pipeline("testpipe"), qualified)

    def current() -> list[tuple]:
        return sorted(tuple(r) for r in query(mysql, "SELECT id, name, price FROM items"))

    first = run(project, qualified, "11111111-aaaa")
    assert first.generation and [f.rows for f in first.files] == [15, 15, 10]
    assert all(f.generation == first.generation for f in first.files)
    assert all(f"/full/{first.generation}/" in f.key for f in first.files)
    before = current()
    assert _generation_rows(store, first.files) == before

    with mysql.cursor() as cur:
        cur.execute("DELETE FROM items WHERE id IN (3, 4, 5, 20, 40)")
        cur.execute("UPDATE items SET price = 0.01 WHERE id IN (1, 2)")
        cur.executemany("INSERT INTO items VALUES (%s, 'late', 9)", [(41,), (42,), (43,)])
    second = run(project, qualified, "22222222-bbbb")
    assert second.generation and second.generation != first.generation
    assert second.rows == 38 and [f.rows for f in second.files] == [15, 15, 8]
    assert _generation_rows(store, second.files) == current() != before
    assert _generation_rows(store, first.files) == before  # the old generation is left intact

    watermark = WatermarkStore(store).load(table)
    assert watermark is not None
    assert [(s.id, s.complete, s.rows, s.files) for s in watermark.generations] == [
        (first.generation, True, 40, 3),
        (second.generation, True, 38, 3),
    ]
    assert watermark.latest_complete_generation().id == second.generation  # type: ignore[union-attr]
    assert watermark.position is None and watermark.next_seq == 0
    assert len(parquet_keys(store, table)) == 6


def test_full_mode_without_primary_key_keeps_duplicates_and_nulls(
    mysql, mysql_db, make_project
) -> None:
    """A log table: no key, identical rows, NULLs in the ordering columns."""
    execute(mysql, "CREATE TABLE logs (a INT NULL, b VARCHAR(5) NULL, c INT NULL)")
    rows = [(1, "x", 1)] * 5 + [(1, None, 2)] * 3 + [(None, "y", 3)] * 4 + [(2, "z", None)] * 3
    rows += [(None, None, None)] * 2 + [(i, "w", i) for i in range(3, 9)]
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO logs VALUES (%s, %s, %s)", rows)
    qualified = f"{mysql_db}.logs"
    project = make_project({qualified: {"mode": "full"}}, chunk_rows=2, file_rows=4)
    result = run(project, qualified, "33333333")
    data = read_files(open_store(project, "s3"), result.files)
    got = list(
        zip(data["a"].to_pylist(), data["b"].to_pylist(), data["c"].to_pylist(), strict=True)
    )
    assert result.rows == len(rows) == 23
    assert Counter(got) == Counter(rows)


def test_full_mode_capped_by_max_rows_is_not_a_complete_generation(
    mysql, mysql_db, make_project
) -> None:
    """A partial copy must never replace the warehouse table as if it were the whole table."""
    execute(mysql, "CREATE TABLE items (id INT PRIMARY KEY)")
    with mysql.cursor() as cur:
        cur.executemany("INSERT INTO items VALUES (%s)", [(i,) for i in range(1, 31)])
    qualified = f"{mysql_db}.items"
    project = make_project({qualified: {"mode": "full"}}, chunk_rows=7, file_rows=10)
    store = open_store(project, "s3")
    table = table_config(project.pipeline("testpipe"), qualified)
    capped = run(project, qualified, "44444444", max_rows=12)
    assert capped.rows == 12
    watermark = WatermarkStore(store).load(table)
    assert watermark is not None and watermark.latest_complete_generation() is None

    whole = run(project, qualified, "55555555")
    watermark = WatermarkStore(store).load(table)
    assert watermark is not None
    latest = watermark.latest_complete_generation()
    assert latest is not None and latest.id == whole.generation and latest.rows == 30


# -- 6. errors that say what to fix ----------------------------------------------------------------
def test_unknown_table(mysql, mysql_db, make_project) -> None:
    project = make_project({f"{mysql_db}.nope": {"cursor": "updated_at"}})
    with pytest.raises(ConfigError) as err:
        run(project, f"{mysql_db}.nope", "r1")
    message = str(err.value)
    assert str(project.pipeline("testpipe").path) in message
    assert f"table {mysql_db}.nope" in message and "not found" in message and "'mysql'" in message


@pytest.mark.parametrize(
    "spec, key, column",
    [
        ({"cursor": "updated"}, "cursor", "updated"),
        ({"cursor": "updated_at", "primary_key": ["id", "idd"]}, "primary_key", "idd"),
    ],
)
def test_unknown_column(mysql, mysql_db, make_project, spec, key, column) -> None:
    execute(mysql, "CREATE TABLE t (id INT PRIMARY KEY, updated_at DATETIME NOT NULL)")
    project = make_project({f"{mysql_db}.t": spec})
    with pytest.raises(ConfigError) as err:
        run(project, f"{mysql_db}.t", "r1")
    message = str(err.value)
    assert message.startswith(
        f"{project.pipeline('testpipe').path}: table {mysql_db}.t, key {key}:"
    )
    assert f"unknown column(s) {column} " in message
    assert "(columns: id, updated_at)" in message


def test_table_without_primary_key_in_incremental_mode(mysql, mysql_db, make_project) -> None:
    execute(mysql, "CREATE TABLE t (id INT, updated_at DATETIME NOT NULL)")
    project = make_project({f"{mysql_db}.t": {"cursor": "updated_at"}})
    with pytest.raises(ConfigError) as err:
        run(project, f"{mysql_db}.t", "r1")
    message = str(err.value)
    assert message.startswith(
        f"{project.pipeline('testpipe').path}: table {mysql_db}.t, key primary_key:"
    )
    assert "no primary key" in message and "`primary_key:`" in message and "mode: full" in message
    # Naming the key in YAML is the fix.
    project = make_project({f"{mysql_db}.t": {"cursor": "updated_at", "primary_key": "id"}})
    assert run(project, f"{mysql_db}.t", "r2").rows == 0


def _reconnect(project: Project, **source: Any) -> Project:
    path = project.connections_path
    connections = yaml.safe_load(path.read_text())
    connections["sources"]["mysql"].update(source)
    path.write_text(yaml.safe_dump(connections))
    return load_project(project.root)


def test_unreachable_mysql_names_source_and_host_not_password(
    mysql_db, make_project, tmp_path: Path
) -> None:
    port = free_port()  # bound and released: nothing listens there
    project = _reconnect(make_project({f"{mysql_db}.t": {"append_only": True}}), port=port)
    with pytest.raises(SourceError) as err:
        run(project, f"{mysql_db}.t", "r1")
    message = str(err.value)
    assert "source 'mysql'" in message and f"127.0.0.1:{port}" in message
    assert TEST_PASSWORD not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__
    # Nothing was written for a run that never reached the source but the table's lease,
    # released (kept: the next holder's generation goes on from it).
    store = open_store(project, "s3")
    lease = lease_key(table_config(project.pipeline("testpipe"), f"{mysql_db}.t"))
    assert [o.key for o in store.list("")] == [lease]
    assert json.loads(store.get_bytes(lease) or b"{}")["released"] is True


def test_wrong_password_is_not_echoed(mysql_db, make_project, monkeypatch) -> None:
    wrong = "not-the-password-5c1e"
    project = make_project({f"{mysql_db}.t": {"append_only": True}})
    monkeypatch.setenv("MRA_TEST_MYSQL_PASSWORD", wrong)  # read when the source is opened
    with pytest.raises(SourceError) as err:
        run(project, f"{mysql_db}.t", "r1")
    message = str(err.value)
    assert "source 'mysql'" in message and "127.0.0.1:3306" in message and "1045" in message
    assert wrong not in message and TEST_PASSWORD not in message


# -- 7. a column added between runs --------------------------------------------------------------
def test_added_column_appears_in_later_files(mysql, mysql_db, make_project) -> None:
    execute(
        mysql,
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5), updated_at DATETIME(6) NOT NULL)",
    )
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO t VALUES (%s, 'a', '2024-01-01')", [(i,) for i in range(1, 11)]
        )
    qualified = f"{mysql_db}.t"
    project = make_project({qualified: {"cursor": "updated_at"}}, upper_bound_lag_seconds=0)
    store = open_store(project, "s3")
    first = run(project, qualified, "r1")

    execute(
        mysql,
        "ALTER TABLE t ADD COLUMN `Extra Note` DECIMAL(6,2) NULL",
        "INSERT INTO t VALUES (11, 'b', '2024-01-02', 1.50)",
        "UPDATE t SET updated_at = '2024-01-03', `Extra Note` = 2.25 WHERE id = 3",
    )
    second = run(project, qualified, "r2")
    assert second.rows == 2

    old = read_files(store, first.files)
    new = read_files(store, second.files)
    assert old.schema.names == ["id", "v", "updated_at"]
    assert new.schema.names == ["id", "v", "updated_at", "extra_note"]
    assert dict(zip(new["id"].to_pylist(), new["extra_note"].to_pylist(), strict=True)) == {
        11: Decimal("1.50"),
        3: Decimal("2.25"),
    }
    assert first.files[0].fingerprint != second.files[0].fingerprint
    meta = footer(store, second.files[0].key)
    assert meta.fingerprint == second.files[0].fingerprint
    assert [c.name for c in meta.columns] == ["id", "v", "updated_at", "extra_note"]
    watermark = WatermarkStore(store).load(table_config(project.pipeline("testpipe"), qualified))
    assert watermark is not None and watermark.columns["Extra Note"] == "extra_note"
