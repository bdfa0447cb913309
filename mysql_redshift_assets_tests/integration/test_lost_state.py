"""A table started over by removing its store state loses no row (issue 15, item 4).

The ledger remembers every key it loaded. A new watermark used to number increments from 0
again, under keys the ledger already held: the loader skipped them as loaded.
"""

from __future__ import annotations

import json
import shutil

import pytest

from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.naming import table_base, watermark_key
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.files import FileSet
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "amount", "note", "updated_at"]


def _orders(mysql, ids: range) -> None:
    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, '2024-05-01 10:00:00')",
            [(i, f"{i}.25", f"first {i}") for i in ids],
        )


@pytest.fixture
def orders(mysql):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(40), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
    _orders(mysql, range(1, 121))


@pytest.mark.parametrize("removed", ["folder", "watermark"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_started_over_after_the_store_state_is_removed(
    orders, mysql, mysql_db, make_project, request, tmp_path, target, removed
):
    pipeline = {"target": target, "file_rows": 50}
    if target == "postgres":
        pipeline["target_schema"] = request.getfixturevalue("pg_schema")
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **pipeline)
    sync.run("first")
    assert_same_rows(mysql, sync, COLUMNS, ["id"])

    store_root = tmp_path / "store"
    if removed == "folder":
        shutil.rmtree(store_root / table_base(sync.table))
    else:
        (store_root / watermark_key(sync.table)).unlink()
    # MySQL moves on: rows changed and rows added, all to be extracted from the start again.
    with mysql.cursor() as cur:
        cur.execute(
            "UPDATE orders SET note = 'changed', updated_at = '2024-05-03 00:00:00' WHERE id <= 30"
        )
    _orders(mysql, range(121, 181))

    extracted, loaded = sync.run("second")
    assert extracted.rows == 180
    assert loaded.rows_loaded == 180 and loaded.already_loaded == 0
    assert_same_rows(mysql, sync, COLUMNS, ["id"])


def test_a_watermark_from_before_lineages_keeps_its_keys(
    orders, mysql, mysql_db, make_project, tmp_path
):
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, file_rows=50)
    sync.extract("first")
    path = tmp_path / "store" / watermark_key(sync.table)
    stored = json.loads(path.read_text())
    assert stored["lineage"] and f"/incremental/{stored['lineage']}/" in stored["files"][0]["key"]
    # Written by the version before: no `lineage`, keys straight under incremental/.
    del stored["lineage"]
    path.write_text(json.dumps(stored))
    watermark = WatermarkStore(open_store(sync.project, "local")).load(sync.table)
    assert watermark is not None and watermark.lineage is None
    files = FileSet(sync.table, schema=None, columns=[], run_id="r", lineage=watermark.lineage)  # type: ignore[arg-type]
    assert files.key(7) == f"{table_base(sync.table)}/incremental/0000000007.parquet"
