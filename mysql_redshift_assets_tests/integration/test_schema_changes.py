"""Schema changes in MySQL between syncs (issue 15, item 1), on DuckDB and PostgreSQL.

Each change is either applied so that every value stays exact (the test ends in a row-by-row
comparison with MySQL), or refused before the load writes anything, naming the column, its old
and new type and the resync command; a resync then makes the warehouse equal to MySQL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.load.evolve import SchemaChangeRefused
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "amount", "n", "note", "updated_at"]


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest) -> dict[str, Any]:
    pipeline: dict[str, Any] = {"target": request.param}
    if request.param == "postgres":
        pipeline["target_schema"] = request.getfixturevalue("pg_schema")
    return pipeline


@pytest.fixture
def orders(mysql, mysql_db, make_project, target) -> Sync:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), n INT, "
            "note VARCHAR(40), updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        # An hour apart: the late-commit window re-reads only the last row, so a row the
        # next sync carries again is one MySQL changed.
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, %s, '2024-05-01' + INTERVAL %s HOUR)",
            [(i, f"{i}.25", i * 10, f"note {i}", i) for i in range(1, 41)],
        )
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
    return sync


def alter(mysql, *statements: str) -> None:
    with mysql.cursor() as cur:
        for sql in statements:
            cur.execute(sql)


def touch(where: str) -> str:
    return f"UPDATE orders SET updated_at = '2024-06-01 00:00:00' WHERE {where}"


# -- applied exactly --------------------------------------------------------------------------
def test_decimal_widened_keeps_every_digit(mysql, orders: Sync) -> None:
    alter(
        mysql,
        "ALTER TABLE orders MODIFY amount DECIMAL(12,4)",
        "UPDATE orders SET amount = 1.2345, updated_at = '2024-06-01' WHERE id = 1",
        "UPDATE orders SET amount = 0.0049, updated_at = '2024-06-01' WHERE id = 2",
        "INSERT INTO orders VALUES (41, 12345678.9999, 1, 'new', '2024-06-01')",
    )
    orders.run("second")
    assert_same_rows(mysql, orders, COLUMNS, ["id"])


def test_column_added_with_a_default_fills_the_rows_mysql_filled(mysql, orders: Sync) -> None:
    alter(
        mysql,
        "ALTER TABLE orders ADD COLUMN qty INT NOT NULL DEFAULT 5, "
        "ADD COLUMN label VARCHAR(10) DEFAULT 'it''s'",
        "UPDATE orders SET qty = 7, updated_at = '2024-06-01' WHERE id = 3",
    )
    extracted, loaded = orders.run("second")
    assert sorted(loaded.columns_added) == ["label", "qty"]
    assert_same_rows(mysql, orders, [*COLUMNS, "qty", "label"], ["id"])


def test_int_widened_to_bigint_takes_values_past_int(mysql, orders: Sync) -> None:
    alter(
        mysql,
        "ALTER TABLE orders MODIFY n BIGINT",
        "UPDATE orders SET n = 1099511627776, updated_at = '2024-06-01' WHERE id = 4",
    )
    orders.run("second")
    assert_same_rows(mysql, orders, COLUMNS, ["id"])


def test_varchar_widened_takes_longer_text(mysql, orders: Sync) -> None:
    long = "ü" * 300  # 300 characters: past VARCHAR(160) in characters too
    alter(
        mysql,
        "ALTER TABLE orders MODIFY note VARCHAR(400)",
        f"UPDATE orders SET note = '{long}', updated_at = '2024-06-01' WHERE id = 5",
    )
    orders.run("second")
    assert_same_rows(mysql, orders, COLUMNS, ["id"])


# -- refused, then resynced -------------------------------------------------------------------
def _state(sync: Sync, tmp_path: Path) -> tuple[Any, ...]:
    """Everything a refused load must leave as it was: the store's bytes, the warehouse's rows
    and ledger."""
    store = tmp_path / "store"
    files = {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        schema = sync.table.target_schema
        columns = warehouse.table_columns(schema, "orders")
        rows = warehouse.fetchall(f"SELECT * FROM {warehouse.ref(schema, 'orders')} ORDER BY 1")
        ledger = warehouse.fetchall(
            f"SELECT file_key FROM {warehouse.ref(schema, 'mysql_redshift_loads')} ORDER BY 1"
        )
    finally:
        warehouse.close()
    return files, columns, [tuple(map(str, r)) for r in rows], ledger


def resync(sync: Sync) -> None:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        resync_table(source, store, warehouse, sync.table, run_id="resync-1")
    finally:
        warehouse.close()
        source.close()


REFUSED = [
    pytest.param(
        ["ALTER TABLE orders MODIFY n VARCHAR(20)", "UPDATE orders SET n = 'x1' WHERE id = 6"],
        "n",
        ("INTEGER", "VARCHAR"),
        [*COLUMNS],
        id="int-to-varchar",
    ),
    pytest.param(
        ["ALTER TABLE orders RENAME COLUMN note TO remark"],
        "note",
        ("VARCHAR", "(absent)"),
        ["id", "amount", "n", "remark", "updated_at"],
        id="renamed-column",
    ),
    pytest.param(
        ["ALTER TABLE orders RENAME COLUMN id TO order_id"],
        "id",
        ("INTEGER", "(absent)"),
        ["order_id", "amount", "n", "note", "updated_at"],
        id="renamed-key-column",
    ),
    pytest.param(
        ["ALTER TABLE orders MODIFY amount DECIMAL(10,1)"],
        "amount",
        ("DECIMAL(10,2)", "DECIMAL(10,1)"),
        COLUMNS,
        id="decimal-narrowed",
    ),
    pytest.param(
        ["ALTER TABLE orders DROP COLUMN n"],
        "n",
        ("INTEGER", "(absent)"),
        ["id", "amount", "note", "updated_at"],
        id="dropped-column",
    ),
    pytest.param(
        ["ALTER TABLE orders ADD COLUMN seen DATETIME DEFAULT CURRENT_TIMESTAMP"],
        "seen",
        ("(absent)", "TIMESTAMP"),
        [*COLUMNS, "seen"],
        id="expression-default",
    ),
]


@pytest.mark.parametrize(("statements", "column", "types", "after"), REFUSED)
def test_a_change_that_cannot_be_exact_is_refused_then_resynced(
    mysql, orders: Sync, tmp_path: Path, statements, column, types, after
) -> None:
    k = "order_id" if "order_id" in after else "id"
    copied = ", ".join(f"{c} + 100" if c == k else c for c in after)
    alter(
        mysql,
        *statements,
        touch(f"{k} IN (7, 8)"),
        f"INSERT INTO orders ({', '.join(after)}) SELECT {copied} FROM orders WHERE {k} = 9",
    )
    orders.extract("second")
    before = _state(orders, tmp_path)

    with pytest.raises(SchemaChangeRefused) as refused:
        orders.load("second")

    message = str(refused.value)
    assert f"column {column!r}" in message
    old, new = types
    assert old in message.split(f"column {column!r}: ")[1].split(" -> ")[0]
    assert new in message.split(f"column {column!r}: ")[1].split(" -> ")[1]
    assert f"mysql-redshift resync -p testpipe -t {orders.table.qualified}" in message
    assert _state(orders, tmp_path) == before

    resync(orders)
    key = [k]
    assert_same_rows(mysql, orders, after, key)
    # ... and the increments after the resync go on from its position.
    alter(mysql, touch(f"{key[0]} = 10"), f"UPDATE orders SET amount = 3.5 WHERE {key[0]} = 10")
    orders.run("third")
    assert_same_rows(mysql, orders, after, key)
