"""`where:` row filters end to end: after every sync the warehouse holds exactly MySQL's rows
where the filter holds, for a cursor table and a binlog table (private MariaDB with the binlog
on), on DuckDB and the PostgreSQL stand-in: rows in and out of the filter, NULLs (unknown: out),
a row updated into it (arrives), a row updated out of it (leaves; stays with `deletes: ignore`,
as a deleted row does), a key change, then `validate` agrees. A time-partitioned table with a
filter too. Each ends in a row-by-row comparison with MySQL's filtered rows, read by MySQL
evaluating the filter text itself (not our rendering of it)."""

from __future__ import annotations

from typing import Any

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.maintenance.validate import TableCounts, reconcile_table
from mysql_redshift_assets.maintenance.windows import window_of
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.exactness import Sync, read_mysql

pytestmark = pytest.mark.mariadb
TARGETS = ["duckdb", "postgres"]
COLUMNS, KEY = ["id", "region", "amount", "updated_at"], ["id"]
# utf8mb4_bin: a binlog table's filter compares text in Python too (exact, PAD SPACE).
TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, region VARCHAR(10) COLLATE utf8mb4_bin, "
    "amount DECIMAL(10,2), updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
)
WHERE = "region IN ('eu', 'us') AND (amount >= 10 OR amount IS NULL) AND NOT id BETWEEN 90 AND 99"
ROWS = [
    (1, "eu", 20), (2, "us", None), (3, "asia", 50), (4, None, 50), (5, "eu", 5),
    (6, "us", 30), (7, "eu", 40), (8, "asia", 60), (9, "eu", 70), (10, "us", 80),
    (11, "EU", 50), (12, "eu ", 50), (13, "us", 10), (95, "eu", 50),
]  # fmt: skip
CHANGES = [
    "UPDATE t SET amount = 1, updated_at = NOW(6) WHERE id = 6",  # out of the filter
    "UPDATE t SET region = NULL, updated_at = NOW(6) WHERE id = 7",  # out: NULL is unknown
    "UPDATE t SET region = 'us', updated_at = NOW(6) WHERE id = 8",  # into the filter
    "DELETE FROM t WHERE id = 9",
    "UPDATE t SET amount = 81, updated_at = NOW(6) WHERE id = 10",  # in, changed
    "UPDATE t SET amount = 51, updated_at = NOW(6) WHERE id = 3",  # out, changed
    "UPDATE t SET id = 30, updated_at = NOW(6) WHERE id = 1",  # a key change, in -> in
    "INSERT INTO t VALUES (20, 'us', 15, NOW(6)), (21, 'asia', 15, NOW(6)), "
    "(22, NULL, NULL, NOW(6)), (23, 'eu', NULL, NOW(6)), (96, 'us', 99, NOW(6)), "
    "(24, 'us  ', 12, NOW(6)), (25, 'Eu', 12, NOW(6))",  # PAD SPACE: 'us  ' in; 'Eu' out
]
LEFT = {1, 6, 7, 9}  # keys the warehouse held that leave MySQL's filtered rows


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _filtered(mysql, where: str, columns: list[str] = COLUMNS) -> list[tuple[Any, ...]]:
    """MySQL's rows where `where` holds, evaluated by MySQL from the text itself."""
    return read_mysql(mysql, f"(SELECT * FROM t WHERE {where}) AS f", columns, KEY)


def _sync(make_project, mysql_db, request, target, spec) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, "t", spec, target=target, target_schema=schema,
        chunk_rows=3, file_rows=5,
    )  # fmt: skip


def _validate(sync: Sync) -> TableCounts:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return reconcile_table(source, WatermarkStore(store), warehouse, sync.table)
    finally:
        source.close()
        warehouse.close()


def _changes_through_the_filter(mysql, sync: Sync, deletes: str) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, '2024-01-01 00:00:00')",
            [(i, region, amount) for i, region, amount in ROWS],
        )
    extracted, _ = sync.run("run-1")
    assert extracted.rows == 8  # only the filtered rows are read (not loaded, then deleted)
    first = sync.warehouse_rows(COLUMNS, KEY)
    assert first == _filtered(mysql, WHERE)
    # NULL amount in (IS NULL), 'eu ' in (PAD SPACE), 'EU' out (binary), NULL region out
    assert [r[0] for r in first] == [1, 2, 6, 7, 9, 10, 12, 13]

    with mysql.cursor() as cur:
        for statement in CHANGES:
            cur.execute(statement)
    sync.run("run-2")
    got = sync.warehouse_rows(COLUMNS, KEY)
    want = _filtered(mysql, WHERE)
    assert [r[0] for r in want] == [2, 8, 10, 12, 13, 20, 23, 24, 30]
    if deletes == "propagate":
        assert got == want
        counts = _validate(sync)
        assert counts.verdict == "ok", counts.note
        assert (counts.source_rows, counts.warehouse_rows) == (9, 9)
    else:  # the rows that left stay as they were, as deleted rows do
        stayed = [r for r in first if r[0] in LEFT]
        assert got == sorted(want + stayed)
        counts = _validate(sync)
        assert counts.verdict == "ok" and f"{len(LEFT)} key(s) deleted in MySQL kept" in counts.note

    sync.run("run-3")  # nothing changed: the same rows
    assert sync.warehouse_rows(COLUMNS, KEY) == got
    if deletes == "propagate":  # validate reads MySQL through the filter too
        with mysql.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (40, 'asia', 99, NOW(6))")  # out: not expected
        assert _validate(sync).verdict == "ok"
        with mysql.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (41, 'eu', 99, NOW(6))")  # in: not synced yet
        counts = _validate(sync)
        if sync.table.binlog:  # MySQL has a row we lack, and the binlog is past our position:
            # behind (maintenance/validate.py `binlog_verdict`), not yet a mismatch
            assert counts.verdict == "behind" and counts.missing == 1, counts
        else:  # past the cursor's position: not yet extracted
            assert counts.verdict == "ok" and counts.not_yet_extracted == 1, counts


@pytest.mark.parametrize("deletes", ["propagate", "ignore"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_cursor_table_holds_mysqls_filtered_rows(
    mysql, mysql_db, make_project, request, target, deletes
):
    spec = {"cursor": "updated_at", "where": WHERE, "deletes": deletes}
    sync = _sync(make_project, mysql_db, request, target, spec)
    _changes_through_the_filter(mysql, sync, deletes)


@pytest.mark.parametrize("deletes", ["propagate", "ignore"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_binlog_table_holds_mysqls_filtered_rows(
    mysql, mysql_db, make_project, request, target, deletes
):
    spec = {"capture": "binlog", "where": WHERE, "deletes": deletes}
    sync = _sync(make_project, mysql_db, request, target, spec)
    _changes_through_the_filter(mysql, sync, deletes)


def _sync_window(sync: Sync, key: str) -> None:
    window = window_of(sync.table, key)
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        watermarks = WatermarkStore(store)
        extract_table(source, store, watermarks, sync.table, run_id=f"r-{key}", window=window)
        load_table(warehouse, store, watermarks, sync.table, run_id=f"r-{key}", window=window)
    finally:
        source.close()
        warehouse.close()


@pytest.mark.parametrize("target", TARGETS)
def test_a_time_partitioned_table_holds_mysqls_filtered_rows(
    mysql, mysql_db, make_project, request, target
):
    where = "kind <> 'test' AND amount > 0"
    columns = ["id", "kind", "amount", "updated_at"]
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, kind VARCHAR(10), amount DECIMAL(10,2), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, %s)",
            [
                (d * 100 + i, ["click", "test", None][i % 3], i - 2, f"{day} {i:02d}:30:00")
                for d, day in enumerate(["2024-03-01", "2024-03-02"])
                for i in range(12)
            ],
        )
    spec = {
        "mode": "time", "cursor": "updated_at", "where": where,
        "partitions": {"granularity": "daily", "start": "2024-03-01"},
    }  # fmt: skip
    sync = _sync(make_project, mysql_db, request, target, spec)
    for day in ["2024-03-01", "2024-03-02"]:
        _sync_window(sync, day)
    assert sync.warehouse_rows(columns, KEY) == _filtered(mysql, where, columns)
    assert len(sync.warehouse_rows(columns, KEY)) == 6  # 'click' and amount > 0, two days
    assert _validate(sync).verdict == "ok"

    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET kind = 'test' WHERE id = 3")  # out of the filter
        cur.execute("UPDATE t SET kind = 'click' WHERE id = 4")  # into it (amount 2)
        cur.execute("UPDATE t SET amount = 0 WHERE id = 106")  # out
    _sync_window(sync, "2024-03-01")
    _sync_window(sync, "2024-03-02")
    assert sync.warehouse_rows(columns, KEY) == _filtered(mysql, where, columns)
    counts = _validate(sync)
    assert counts.verdict == "ok", counts.note
    assert counts.source_rows == counts.warehouse_rows == 5


def _resync(sync: Sync) -> None:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        resync_table(source, store, warehouse, sync.table, run_id="resync-1")
    finally:
        warehouse.close()
        source.close()


@pytest.mark.parametrize("capture", ["cursor", "binlog"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_resync_and_a_full_table_copy_exactly_the_filtered_rows(
    mysql, mysql_db, make_project, request, target, capture
):
    """A generation reads through the filter: a resync of a `deletes: ignore` table leaves
    exactly MySQL's filtered rows (the rows kept after leaving the filter are gone); a full
    table's every run does."""
    spec: dict[str, Any] = {"where": WHERE, "deletes": "ignore"}
    spec |= {"capture": "binlog"} if capture == "binlog" else {"cursor": "updated_at"}
    sync = _sync(make_project, mysql_db, request, target, spec)
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany("INSERT INTO t VALUES (%s, %s, %s, NOW(6))", ROWS)
    sync.run("run-1")
    with mysql.cursor() as cur:
        for statement in CHANGES:
            cur.execute(statement)
    sync.run("run-2")
    assert len(sync.warehouse_rows(COLUMNS, KEY)) == 9 + len(LEFT)  # kept: deletes ignored
    _resync(sync)
    assert sync.warehouse_rows(COLUMNS, KEY) == _filtered(mysql, WHERE)
    assert _validate(sync).verdict == "ok"

    if capture == "binlog":
        return
    full = Sync.of(
        make_project, mysql_db, "t", {"mode": "full", "where": WHERE, "target_table": "t_full"},
        target=target, target_schema=sync.table.target_schema, chunk_rows=3,
    )  # fmt: skip
    full.run("full-1")
    assert full.warehouse_rows(COLUMNS, KEY) == _filtered(mysql, WHERE)
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET region = 'asia' WHERE id = 2")  # out
        cur.execute("UPDATE t SET region = 'eu' WHERE id = 3")  # into
    full.run("full-2")
    assert full.warehouse_rows(COLUMNS, KEY) == _filtered(mysql, WHERE)
    counts = _validate(full)
    assert counts.verdict == "ok" and counts.source_rows == 9, counts


@pytest.mark.parametrize("capture", ["cursor", "binlog"])
def test_a_changed_filter_is_refused_until_a_resync(mysql, mysql_db, make_project, capture):
    """Increments under a new `where:` would mix two filters (rows it adds arrive only when
    they change; rows it drops stay): refused, naming the resync; after it, exact again."""
    spec: dict[str, Any] = (
        {"capture": "binlog"} if capture == "binlog" else {"cursor": "updated_at"}
    )
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany("INSERT INTO t VALUES (%s, %s, %s, NOW(6))", ROWS)
    unfiltered = Sync.of(make_project, mysql_db, "t", spec, target="duckdb", chunk_rows=3)
    unfiltered.run("run-1")
    assert len(unfiltered.warehouse_rows(COLUMNS, KEY)) == len(ROWS)

    sync = Sync.of(make_project, mysql_db, "t", {**spec, "where": WHERE}, target="duckdb")
    with pytest.raises(ConfigError, match=r"copied with no filter and is now configured with"):
        sync.extract("run-2")
    with pytest.raises(ConfigError, match=rf"mysql-redshift resync -p testpipe -t {mysql_db}\.t"):
        sync.extract("run-3")
    assert len(sync.warehouse_rows(COLUMNS, KEY)) == len(ROWS)  # nothing moved
    _resync(sync)
    assert sync.warehouse_rows(COLUMNS, KEY) == _filtered(mysql, WHERE)
    with mysql.cursor() as cur:
        for statement in CHANGES:
            cur.execute(statement)
    sync.run("run-4")  # the filter it was copied with: increments go on
    assert sync.warehouse_rows(COLUMNS, KEY) == _filtered(mysql, WHERE)
