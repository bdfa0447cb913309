"""One load holding two versions of a key: the latest wins on every target.

The merge orders a key's versions by the cursor, NULLs last (PostgreSQL and Redshift put them
first in DESC), then by the file, then by the row in the file (`mra$order`). Versions that an
extraction cannot produce (a key twice in one file with one cursor, files written before the
order column) are written as FileSink writes them and recorded in the watermark; each test
ends with the exact rows expected, and where MySQL holds them, a row-by-row comparison.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.naming import incremental_file_key
from mysql_redshift_assets.state.watermark import FileRecord, WatermarkStore
from mysql_redshift_assets.store.parquet import ParquetFileWriter, read_footer
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb
TARGETS = ["duckdb", "postgres"]
COLUMNS, KEY = ["id", "v", "updated_at", "created_at"], ["id"]


def _sync(mysql, make_project, mysql_db, request, target, spec: dict[str, Any]) -> Sync:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), updated_at DATETIME(6) NULL, "
            "created_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, "t", spec, target=target, target_schema=schema, file_rows=1000
    )


@pytest.mark.parametrize("target", TARGETS)
def test_a_set_cursor_beats_a_null_one_in_the_same_load(
    mysql, mysql_db, make_project, request, target
):
    """Extracted with a NULL cursor (carried by the fallback), then updated: both versions in
    one load. PostgreSQL sorted the NULL first in DESC and kept the stale version."""
    spec = {"cursor": "updated_at", "cursor_fallback": "created_at"}
    sync = _sync(mysql, make_project, mysql_db, request, target, spec)
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO t VALUES (%s, 'old', NULL, '2024-01-01 00:00:00')",
            [(i,) for i in range(1, 41)],
        )
    sync.extract("r1")
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET v = 'new', updated_at = '2024-02-01 00:00:00' WHERE id <= 20")
    sync.extract("r2")
    loaded = sync.load("load")
    # Both versions in one load (the re-read window carries the others a second time too).
    assert loaded.rows_loaded >= 60 and len(loaded.files_loaded) == 2
    assert_same_rows(mysql, sync, COLUMNS, KEY)


@pytest.mark.parametrize("target", TARGETS)
def test_equal_cursors_in_two_files_the_later_file_wins(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    """A value changed without moving the cursor, carried by the re-read window into a second
    file: the two versions tie on the cursor, and the later file holds MySQL's value. The rows
    are stamped a minute ago, inside the window before the first run's clock, so the second
    run reads them all again."""
    sync = _sync(mysql, make_project, mysql_db, request, target, {"cursor": "updated_at"})
    with mysql.cursor() as cur:
        cur.execute("SET @stamp = UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE")
        cur.executemany(
            "INSERT INTO t VALUES (%s, 'first', @stamp, '2024-01-01 00:00:00')",
            [(i,) for i in range(1, 301)],
        )
    sync.extract("r1")
    app = mysql_sessions()
    with app.cursor() as cur:
        cur.execute("UPDATE t SET v = 'second' WHERE id % 2 = 0")
    sync.extract("r2")  # re-reads every row: all are inside the window before r1's clock
    loaded = sync.load("load")
    assert loaded.rows_loaded == 600 and len(loaded.files_loaded) == 2
    assert_same_rows(mysql, sync, COLUMNS, KEY)


# -- files written directly, as FileSink writes them (or wrote them before the order column) --
def _write(sync: Sync, rows: list[tuple[int, str, datetime | None]], *, ordered: bool) -> None:
    """A file of `rows` (id, v, updated_at) recorded as the table's next increment."""
    store = open_store(sync.project, sync.table.store)
    watermarks = WatermarkStore(store)
    watermark = watermarks.load(sync.table)
    assert watermark is not None and watermark.files
    fs, path = store.arrow_location(watermark.files[0].key)
    columns = read_footer(path, fs).columns
    schema = pq.read_schema(path, filesystem=fs).remove_metadata()
    schema = pa.schema([schema.field(c.name) for c in columns])
    seq = watermark.next_seq
    local = sync.project.root / f"file-{seq}.parquet"
    writer = ParquetFileWriter(local, schema, columns, order_base=(seq << 32) if ordered else None)
    created = datetime(2024, 1, 1, tzinfo=UTC)
    values = [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]
    writer.write(pa.record_batch([*values, [created] * len(rows)], schema=schema))
    writer.close()
    footer = read_footer(local)
    key = incremental_file_key(sync.table, seq, watermark.lineage)
    stored = store.put_file(local, key)
    record = FileRecord(
        key=key, rows=footer.rows, bytes=stored.size, fingerprint=footer.fingerprint,
        run_id="hand", written_at=datetime.now(UTC),
    )  # fmt: skip
    watermark.record_file(record, watermark.position)
    watermarks.save(sync.table, watermark)


def _rows(sync: Sync) -> list[tuple[Any, ...]]:
    return sync.warehouse_rows(["id", "v", "updated_at"], KEY)


def _seeded(mysql, make_project, mysql_db, request, target) -> Sync:
    """A table with one row, extracted and loaded: the target and watermark exist."""
    spec = {"cursor": "updated_at", "deletes": "ignore"}  # keys only the files hold stay
    sync = _sync(mysql, make_project, mysql_db, request, target, spec)
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1, 'seed', '2024-01-01', '2024-01-01')")
    sync.run("seed")
    return sync


T1, T2 = datetime(2024, 1, 2), datetime(2024, 1, 3)


@pytest.mark.parametrize("target", TARGETS)
def test_equal_cursors_twice_in_one_file_the_later_row_wins(
    mysql, mysql_db, make_project, request, target
):
    sync = _seeded(mysql, make_project, mysql_db, request, target)
    rows = [(k, f"{k}-{n}", T1) for k in range(2, 202) for n in ("a", "b", "c")]
    _write(sync, rows, ordered=True)
    _write(sync, [(1, "null-cursor", None), (1, "set", T1)], ordered=True)
    sync.load("load")
    want = [(1, "set", T1)] + [(k, f"{k}-c", T1) for k in range(2, 202)]
    assert _rows(sync) == want


@pytest.mark.parametrize("target", TARGETS)
def test_files_from_before_the_order_column_still_load(
    mysql, mysql_db, make_project, request, target
):
    """Old files: the cursor alone orders (NULLs last); an old file then a new one in one load
    go in two COPYs, merged in file order."""
    sync = _seeded(mysql, make_project, mysql_db, request, target)
    _write(sync, [(2, "set", T2), (3, "old-3", T1)], ordered=False)
    _write(sync, [(2, "null-cursor", None), (4, "old-4", T1)], ordered=False)
    _write(sync, [(3, "new-3", T1), (4, "new-4", T2)], ordered=True)
    loaded = sync.load("load")
    assert loaded.copies == [4, 2]  # two schema groups: with and without the order column
    assert _rows(sync) == [
        (1, "seed", datetime(2024, 1, 1)), (2, "set", T2), (3, "new-3", T1), (4, "new-4", T2),
    ]  # fmt: skip
