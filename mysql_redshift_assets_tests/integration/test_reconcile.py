"""The bucket comparison on real servers: every planner type hashes to the same canonical text
in MariaDB, DuckDB and PostgreSQL (so equal tables compare equal), a one-microsecond, one-digit,
one-byte or one-character change is found, `validate` reports stale values, and the descent reads
only the keys of the buckets that differ."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.maintenance.validate import reconcile_table
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.reconcile.buckets import Shape
from mysql_redshift_assets.reconcile.compare import Diff, MySQLSide, WarehouseSide, compare
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(private_mariadb):
    """Each edit is restored by `UPDATE ... updated_at = NOW(6)` and one sync: a write
    transaction open elsewhere on a shared server would hold that sync's bound (INNODB_TRX is
    server-wide), so these run on a server of their own."""
    return private_mariadb


TYPES = """CREATE TABLE t (
  id INT PRIMARY KEY, ti TINYINT, b1 BIT(1), b5 BIT(5), y YEAR, ub BIGINT UNSIGNED,
  d DECIMAL(12,4), dbig DECIMAL(50,10), f DOUBLE, vc VARCHAR(20),
  lat VARCHAR(20) CHARACTER SET latin1, e ENUM('a','b'), s SET('x','y'), j JSON, tm TIME(3),
  bin BINARY(4), vb VARBINARY(10), dt DATE, dtm DATETIME(6), ts TIMESTAMP(6) NULL,
  bl BLOB, updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"""
ROWS = [
    "(1, -128, b'1', b'10101', 2024, 18446744073709551615, -0.5, "
    "12345678901234567890123456789012345678.0123456789, 1.5, 'zoë 😀 ', 'café', 'b', 'x,y', "
    "'{\"k\": [1, 2]}', '-838:59:59.5', x'00ff', x'00', '2024-02-29', "
    "'2024-01-01 00:00:00.000001', '2024-06-30 23:59:59.999999', x'01', '2024-01-01')",
    "(2, 0, b'0', b'0', 0, 0, 0, 0, 0, '', '', 'a', '', '[]', '00:00:00', x'', x'', "
    "'0000-00-00', '0000-00-00 00:00:00', '1970-01-01 00:00:01', x'', '2024-01-01')",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, NULL, NULL, NULL, NULL, '2024-01-01')",
]


def _sync(mysql, mysql_db, make_project, request, target) -> Sync:
    with mysql.cursor() as cur:
        cur.execute(TYPES)
        cur.execute("SET SESSION sql_mode = ''")  # zero dates, as legacy applications write them
        cur.execute("INSERT INTO t VALUES " + ", ".join(ROWS))
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    # No re-read window: a value changed behind the cursor's back must stay stale for
    # validate to find (a window re-reads recent rows and would carry it).
    sync = Sync.of(
        make_project, mysql_db, "t", {"cursor": "updated_at"}, target=target, target_schema=schema,
        late_commit_window_seconds=0,
    )  # fmt: skip
    sync.run()
    return sync


def _diff(sync: Sync, **kwargs) -> Diff:
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        plan = plan_table(source, sync.table)
        key = [plan.column(k) for k in plan.primary_key]
        mine = Shape.of("mysql", plan.table_ref, source.placeholder, key, plan.columns)
        ref = warehouse.ref(*target_table(sync.table))
        theirs = Shape.of(warehouse.dialect, ref, warehouse.ph, key, plan.columns)
        return compare(MySQLSide(source, mine), WarehouseSide(warehouse, theirs), **kwargs)
    finally:
        source.close()
        warehouse.close()


def _edit_warehouse(sync: Sync, column: str, value: object, key: int = 1) -> None:
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        ref = warehouse.ref(*target_table(sync.table))
        warehouse.execute(
            f'UPDATE {ref} SET "{column}" = {warehouse.ph} WHERE "id" = {key}', [value]
        )
        warehouse.commit()
    finally:
        warehouse.close()


EDITS = [
    ("d", Decimal("-0.4999")),
    ("dbig", "12345678901234567890123456789012345678.0123456788"),
    ("vc", "zoë 😀"),  # the trailing space gone
    ("lat", "cafe"),
    ("bin", b"\x00\xfe\x00\x00"),
    ("dtm", datetime(2024, 1, 1, 0, 0, 0, 2)),
    ("tm", "-838:59:59.499"),
    ("b1", False),
    ("ub", Decimal("18446744073709551614")),
    ("dt", None),
]


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_every_type_hashes_alike_and_every_change_is_found(
    mysql, mysql_db, make_project, request, target
):
    sync = _sync(mysql, mysql_db, make_project, request, target)
    # What the shared comparison normalises (BIT, TIME, zero dates it reads as MySQL's raw text);
    # the hash comparison below covers every column.
    columns = ["id", "ti", "y", "d", "vc", "lat", "e", "s", "bin", "vb", "ts"]
    assert_same_rows(mysql, sync, columns, ["id"])
    diff = _diff(sync)
    assert diff.same and diff.mysql_rows == diff.warehouse_rows == 3, diff
    for column, value in EDITS:
        _edit_warehouse(sync, column, value)
        diff = _diff(sync)
        assert diff.changed == 1 and diff.examples["changed"] == [diff.examples["changed"][0]], (
            column
        )
        with mysql.cursor() as cur:  # restore row 1: extract it again, the merge replaces it
            cur.execute("UPDATE t SET updated_at = NOW(6) WHERE id = 1")
        sync.run()
        assert _diff(sync).same, column


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_validate_reports_a_row_updated_behind_the_cursors_back(
    mysql, mysql_db, make_project, request, target
):
    sync = _sync(mysql, mysql_db, make_project, request, target)
    counts = _validate(sync)
    assert counts.verdict == "ok" and counts.values_compared, counts
    assert counts.columns_not_compared.keys() == {"f", "bl"}
    with mysql.cursor() as cur:  # the cursor column kept: incremental runs never see it
        cur.execute("UPDATE t SET d = 7, updated_at = updated_at WHERE id = 2")
    sync.run()
    counts = _validate(sync)
    assert counts.verdict == "mismatch" and counts.changed == 1, counts
    assert "stale or changed" in counts.note and "+0 rows" in counts.note
    with mysql.cursor() as cur:  # a real update, past the watermark: pending, not wrong
        cur.execute("UPDATE t SET d = 8, updated_at = NOW(6) WHERE id = 3")
    assert _validate(sync).changed == 1


def _validate(sync: Sync):
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    store = open_store(sync.project, sync.table.store)
    try:
        return reconcile_table(source, WatermarkStore(store), warehouse, sync.table)
    finally:
        source.close()
        warehouse.close()


def test_the_descent_reads_only_the_keys_of_differing_buckets(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v INT, updated_at DATETIME NOT NULL)")
        cur.execute("INSERT INTO t SELECT seq, seq % 97, '2024-01-01' FROM seq_1_to_20000")
    sync = Sync.of(make_project, mysql_db, "t", {"cursor": "updated_at", "deletes": "ignore"})
    sync.run()
    same = _diff(sync, top_buckets=64, fanout=16, leaf_width=64)
    assert same.same and same.keys_fetched == 0 and same.levels == 1
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id IN (17, 9000, 19999)")
    diff = _diff(sync, top_buckets=64, fanout=16, leaf_width=64)
    assert sorted(k[0] for k in diff.extra_keys) == [17, 9000, 19999]
    # 64 buckets of 313 keys; 3 differ, split into 16 of 20 keys; 3 of those read on both sides
    assert diff.levels == 2 and diff.keys_fetched <= 3 * 20 * 2, diff
    assert diff.buckets_compared <= 64 + 3 * 16
