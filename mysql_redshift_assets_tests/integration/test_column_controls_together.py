"""Issue 27's per-table controls together (`where:`, `exclude_columns:`, `hash_columns:`,
`json: super`, `deletes: soft`, `history: true`) with cursor and binlog capture, on a private
MariaDB with the binlog on, on DuckDB and the PostgreSQL stand-in. Concurrent sessions update
rows without touching a timestamp, delete them, change keys and move rows into and out of the
filter across several syncs (and a resync); each step ends in a row-by-row comparison of what
MySQL holds through the same filter, exclusion and HMAC (computed here) with the warehouse's
live rows / current versions, and `validate`'s verdict.

A row updated out of the filter leaves as a deleted row does: with `deletes: soft` it stays,
marked deleted (the binlog turns the update into a delete of its key, the delete pass finds it
gone), and comes back to life when it moves back; with `history: true` its version closes and
moving back opens a new one. A filter on an excluded or hashed column applies to MySQL's raw
value (query capture: MySQL evaluates it on the table; binlog: on the raw images, before the
shaping)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.maintenance.validate import reconcile_table
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Row, Sync, read_mysql

pytestmark = pytest.mark.mariadb

HASH_KEY = "hash-key-test-only-not-a-secret-Combo9"
DELETED_AT, VALID_TO = "mra$deleted_at", "mra$valid_to"
# utf8mb4_bin: a binlog table's filter compares text in Python too
TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, region VARCHAR(10) COLLATE utf8mb4_bin, "
    "email VARCHAR(80) COLLATE utf8mb4_bin, ssn VARCHAR(20) COLLATE utf8mb4_bin, "
    "amount DECIMAL(12,4), updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) "
    "ON UPDATE CURRENT_TIMESTAMP(6), KEY (updated_at, id))"
)
SHAPING = {"exclude_columns": ["ssn"], "hash_columns": ["email"]}
SEEN = ["id", "region", "email", "amount"]  # the warehouse's columns compared


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


@pytest.fixture(autouse=True)
def _hash_key(monkeypatch):
    monkeypatch.setenv("MRA_TEST_HASH_KEY", HASH_KEY)


def _table(mysql, rows: int = 20) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t (id, region, email, ssn, amount, updated_at) VALUES "
            "(%s, %s, %s, %s, %s, '2024-01-01 00:00:00')",
            [
                (i, "eu" if i % 3 else "us", f"p{i}-zoë@example.com", f"SSN{i}", f"{i}.5")
                for i in range(1, rows + 1)
            ],
        )


def _sync(make_project, mysql_db, request, target, capture, **spec) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    how = {"capture": "binlog"} if capture == "binlog" else {"cursor": "updated_at"}
    return Sync.of(
        make_project, mysql_db, "t", {**how, **spec}, target=target, target_schema=schema,
        chunk_rows=7, file_rows=20, hash_key="${MRA_TEST_HASH_KEY}",
    )  # fmt: skip


def _hmac(value: Any) -> str | None:
    if value is None:
        return None
    return hmac.new(HASH_KEY.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def _expected(mysql, where: str, hashed: tuple[str, ...] = ("email",)) -> list[Row]:
    """MySQL's rows through the filter (MySQL evaluates it on the raw values), the exclusion
    (ssn is not read) and the HMAC (computed here), ordered by id."""
    with mysql.cursor() as cur:
        cur.execute(f"SELECT id FROM t WHERE {where}")
        keep = {r[0] for r in cur.fetchall()}
    rows = [r for r in read_mysql(mysql, "t", SEEN, ["id"]) if r[0] in keep]
    at = [SEEN.index(c) for c in hashed]
    return [tuple(_hmac(v) if i in at else v for i, v in enumerate(r)) for r in rows]


def _query(sync: Sync, columns: list[str], where: str = "") -> list[Row]:
    store = open_store(sync.project, sync.table.store)
    watermark = WatermarkStore(store).load(sync.table)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        ref = warehouse.ref(*target_table(sync.table, watermark))
        cols = ", ".join(quote_ident(c) for c in columns)
        sql = f"SELECT {cols} FROM {ref}" + (f" WHERE {where}" if where else "")
        rows = warehouse.fetchall(sql + ' ORDER BY "id"')
        warehouse.commit()
    finally:
        warehouse.close()
    return [tuple(r) for r in rows]


def _live(sync: Sync, marker: str) -> list[Row]:
    return _query(sync, SEEN, f"{quote_ident(marker)} IS NULL")


def _columns(sync: Sync) -> set[str]:
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        return set(warehouse.table_columns(*target_table(sync.table)))
    finally:
        warehouse.close()


def _verdict(sync: Sync) -> str:
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    store = open_store(sync.project, sync.table.store)
    try:
        return reconcile_table(source, WatermarkStore(store), warehouse, sync.table).verdict
    finally:
        source.close()
        warehouse.close()


def _tampered_verdict(sync: Sync, sql: str) -> str:
    """`validate`'s verdict after `sql` changed the warehouse table `{t}` behind its back."""
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        warehouse.execute(sql.format(t=warehouse.ref(*target_table(sync.table))))
        warehouse.commit()
        return _verdict(sync)
    finally:
        warehouse.close()


def _resync(sync: Sync, run_id: str) -> None:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        resync_table(source, store, warehouse, sync.table, run_id=run_id)
    finally:
        warehouse.close()
        source.close()


def _check_soft(mysql, sync: Sync, where: str, ever: set[int]) -> None:
    """Live rows == MySQL through filter and shaping; the soft-deleted keys are exactly the
    keys the warehouse held that are no longer in MySQL's filtered rows."""
    want = _expected(mysql, where)
    assert _live(sync, DELETED_AT) == want
    ever |= {r[0] for r in want}
    deleted = _query(sync, ["id", DELETED_AT], f"{quote_ident(DELETED_AT)} IS NOT NULL")
    assert {r[0] for r in deleted} == ever - {r[0] for r in want}
    assert _verdict(sync) == "ok"


@pytest.mark.parametrize("capture", ["binlog", "cursor"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_filter_exclusion_hash_and_soft_deletes_through_a_resync(
    mysql, mysql_db, mysql_sessions, make_project, request, target, capture
):
    """The binlog sees updates that touch no timestamp, a cursor the ones that do."""
    touch = ", updated_at = updated_at" if capture == "binlog" else ""
    _table(mysql)
    where = "region = 'eu'"
    sync = _sync(make_project, mysql_db, request, target, capture, where=where,
                 deletes="soft", **SHAPING)  # fmt: skip
    ever: set[int] = set()
    sync.run("run-1")
    _check_soft(mysql, sync, where, ever)
    assert "ssn" not in _columns(sync)

    app, other = mysql_sessions(), mysql_sessions("+05:30" if touch else "+00:00")
    with app.cursor() as cur:
        cur.execute(f"UPDATE t SET amount = amount + 1{touch} WHERE id <= 5")
        cur.execute(f"UPDATE t SET region = 'us'{touch} WHERE id = 1")  # out
        cur.execute(f"UPDATE t SET region = 'eu'{touch} WHERE id = 3")  # in
        cur.execute("DELETE FROM t WHERE id = 2")
        cur.execute(f"UPDATE t SET id = 100{touch} WHERE id = 4")  # key change
    with other.cursor() as cur:
        cur.execute("INSERT INTO t (id, region, email) VALUES (200, 'us', 'outside')")
        cur.execute(f"UPDATE t SET ssn = 'SSN-only'{touch} WHERE id = 5")
        cur.execute(f"UPDATE t SET email = 'new@x'{touch} WHERE id = 7")
    sync.run("run-2")
    _check_soft(mysql, sync, where, ever)
    assert {1, 2, 4} <= ever and {1, 2, 4}.isdisjoint(r[0] for r in _live(sync, DELETED_AT))

    with app.cursor() as cur:  # back into the filter: back to life; more leave before a resync
        cur.execute(f"UPDATE t SET region = 'eu', amount = 9{touch} WHERE id = 1")
        cur.execute(f"UPDATE t SET region = NULL{touch} WHERE id = 8")
        cur.execute("DELETE FROM t WHERE id = 10")
    _resync(sync, "resync-1")
    _check_soft(mysql, sync, where, ever)
    with other.cursor() as cur:
        cur.execute(f"UPDATE t SET region = 'eu'{touch} WHERE id = 200")
        cur.execute(f"UPDATE t SET region = 'us'{touch} WHERE id = 100")
        cur.execute("INSERT INTO t (id, region, email, ssn) VALUES (2, 'eu', 'back@x', 'S')")
    sync.run("run-3")
    _check_soft(mysql, sync, where, ever)
    sync.run("run-4")  # nothing new
    _check_soft(mysql, sync, where, ever)
    assert _tampered_verdict(sync, 'DELETE FROM {t} WHERE "id" = 5') != "ok"


def _versions(sync: Sync) -> dict[int, list[Row]]:
    """Each key's versions, oldest first: (region, amount, valid_from, valid_to)."""
    rows = _query(sync, ["id", "region", "amount", "mra$valid_from", VALID_TO, "mra$version"])
    out: dict[int, list[Row]] = {}
    for r in sorted(rows, key=lambda r: (r[0], r[3], r[5])):
        out.setdefault(r[0], []).append(r[1:5])
    return out


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_cursor_filter_with_history_closes_and_reopens_versions(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    _table(mysql, rows=10)
    where = "region = 'eu' AND amount < 100"
    sync = _sync(make_project, mysql_db, request, target, "cursor", where=where, history=True)
    sync.run("run-1")
    assert _live(sync, VALID_TO) == _expected(mysql, where, hashed=())
    app = mysql_sessions()  # the table's time zone (UTC): the cursor is a wall clock in it
    with app.cursor() as cur:
        cur.execute("UPDATE t SET region = 'us' WHERE id = 1")  # out of the filter
        cur.execute("UPDATE t SET amount = 500 WHERE id = 2")  # out, by another column
        cur.execute("UPDATE t SET amount = 7 WHERE id = 4")
        cur.execute("UPDATE t SET region = 'eu' WHERE id = 3")  # in
    sync.run("run-2")
    assert _live(sync, VALID_TO) == _expected(mysql, where, hashed=())
    versions = _versions(sync)
    assert [v[3] is None for v in versions[1]] == [False]  # closed, none open
    assert [v[3] is None for v in versions[2]] == [False]
    assert [v[3] is None for v in versions[4]] == [False, True]
    assert [v[3] is None for v in versions[3]] == [True]
    assert _verdict(sync) == "ok"
    with app.cursor() as cur:
        cur.execute("UPDATE t SET region = 'eu', amount = 1.25 WHERE id = 1")  # back in
        cur.execute("DELETE FROM t WHERE id = 5")
    sync.run("run-3")
    sync.run("run-4")
    assert _live(sync, VALID_TO) == _expected(mysql, where, hashed=())
    versions = _versions(sync)
    assert [(v[0], v[1], v[3] is None) for v in versions[1]] == [
        ("eu", _d("1.5"), False), ("eu", _d("1.25"), True)]  # fmt: skip
    assert versions[1][0][3] <= versions[1][1][2]  # the gap: out of the filter meanwhile
    assert [v[3] is None for v in versions[5]] == [False]
    assert _verdict(sync) == "ok"
    assert _tampered_verdict(sync, 'DELETE FROM {t} WHERE "id" = 4') != "ok"


def _d(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_binlog_history_with_an_excluded_column_and_a_key_change(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    _table(mysql, rows=8)
    sync = _sync(make_project, mysql_db, request, target, "binlog", history=True, **SHAPING)
    sync.run("run-1")
    assert _live(sync, VALID_TO) == _expected(mysql, "TRUE")
    with mysql_sessions().cursor() as cur:
        cur.execute("UPDATE t SET amount = 2.25, updated_at = updated_at WHERE id = 2")
        cur.execute("UPDATE t SET amount = 3.25, updated_at = updated_at WHERE id = 2")
        cur.execute("UPDATE t SET id = 30, amount = 0, updated_at = updated_at WHERE id = 3")
        cur.execute("UPDATE t SET ssn = 'only the excluded', updated_at = updated_at WHERE id = 5")
        cur.execute("DELETE FROM t WHERE id = 6")
    sync.run("run-2")
    sync.run("run-3")
    assert _live(sync, VALID_TO) == _expected(mysql, "TRUE")
    assert "ssn" not in _columns(sync)
    versions = _versions(sync)
    assert [v[1] for v in versions[2]] == [_d("2.5"), _d("2.25"), _d("3.25")]
    assert [v[3] is None for v in versions[3]] == [False]  # the old key closed
    assert [v[3] is None for v in versions[30]] == [True]  # the new one opened
    assert versions[3][0][3] == versions[30][0][2]  # at the same commit
    assert [v[3] is None for v in versions[6]] == [False]
    assert len(versions[5]) == 1  # an update of the excluded column alone: no version
    assert _verdict(sync) == "ok"
    assert _tampered_verdict(sync, 'UPDATE {t} SET "amount" = 1 WHERE "id" = 30') != "ok"


JSON_TABLE = (
    "CREATE TABLE j (id INT PRIMARY KEY, kind VARCHAR(10) COLLATE utf8mb4_bin, "
    "secret VARCHAR(20), doc JSON, updated_at DATETIME(6) NOT NULL "
    "DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))"
)


def _json_rows(mysql, sync: Sync) -> tuple[list[Row], list[Row]]:
    with mysql.cursor() as cur:
        cur.execute("SELECT id, kind, doc FROM j WHERE kind = 'a' ORDER BY id")
        want = [(i, k, json.loads(d)) for i, k, d in cur.fetchall()]
    got = [
        (i, k, d if isinstance(d, dict | list) else json.loads(d))
        for i, k, d in _query(sync, ["id", "kind", "doc"])
    ]
    return want, got


@pytest.mark.parametrize("capture", ["cursor", "binlog"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_json_super_with_a_filter_and_an_excluded_column(
    mysql, mysql_db, mysql_sessions, make_project, request, target, capture
):
    with mysql.cursor() as cur:
        cur.execute(JSON_TABLE)
        cur.executemany(
            "INSERT INTO j (id, kind, secret, doc, updated_at) VALUES "
            "(%s, %s, 'hidden', %s, '2024-01-01')",
            [(i, "a" if i % 2 else "b", json.dumps({"n": i, "z": [i, "é"]})) for i in range(1, 9)],
        )
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    how = {"capture": "binlog"} if capture == "binlog" else {"cursor": "updated_at"}
    spec = {**how, "json": "super", "where": "kind = 'a'", "exclude_columns": ["secret"]}
    sync = Sync.of(make_project, mysql_db, "j", spec, target=target, target_schema=schema)
    sync.run("run-1")
    with mysql_sessions().cursor() as cur:
        cur.execute("""UPDATE j SET doc = '{"b": 1, "a": [1.50, null]}' WHERE id = 1""")
        cur.execute("UPDATE j SET kind = 'b' WHERE id = 3")  # out
        cur.execute("UPDATE j SET kind = 'a' WHERE id = 4")  # in
        cur.execute("DELETE FROM j WHERE id = 5")
    sync.run("run-2")
    want, got = _json_rows(mysql, sync)
    assert got == want and "secret" not in _columns(sync)
    assert _verdict(sync) == "ok"


@pytest.mark.parametrize(
    ("spec", "what"),
    [
        ({"capture": "binlog", "history": True}, "history"),
        ({"cursor": "updated_at", "deletes": "soft"}, "deletes: soft"),
        ({"capture": "binlog", "keyless": True}, "without a primary key"),
    ],
)
def test_json_super_refused_with_history_soft_or_keyless_before_anything_is_written(
    mysql, mysql_db, make_project, spec, what
):
    keyless = spec.pop("keyless", False)
    with mysql.cursor() as cur:
        cur.execute(JSON_TABLE.replace("id INT PRIMARY KEY", "id INT NOT NULL"))
        if not keyless:
            cur.execute("ALTER TABLE j ADD PRIMARY KEY (id)")
        cur.execute("""INSERT INTO j (id, kind, doc) VALUES (1, 'a', '{"x": 1}')""")
    sync = Sync.of(make_project, mysql_db, "j", {**spec, "json": "super"})
    with pytest.raises(ConfigError) as refused:
        sync.extract("run-1")
    message = str(refused.value)
    assert "`json: super` (columns doc)" in message and what in message, message
    assert "set `json: varchar` on this table" in message
    store = open_store(sync.project, sync.table.store)
    assert WatermarkStore(store).load(sync.table) is None  # no watermark, no Parquet file:
    assert [o.key.rsplit("/", 1)[-1] for o in store.list("")] == ["_lease.json"]  # the lease
    sync.load("run-1")  # nothing extracted: nothing loaded, no warehouse table
    assert not _columns(sync)


@pytest.mark.parametrize("capture", ["cursor", "binlog"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_filter_on_an_excluded_and_a_hashed_column_applies_to_the_raw_values(
    mysql, mysql_db, mysql_sessions, make_project, request, target, capture
):
    _table(mysql, rows=12)
    where = "ssn <> 'SSN3' AND email <> 'p5-zoë@example.com' AND ssn IS NOT NULL"
    sync = _sync(make_project, mysql_db, request, target, capture, where=where, **SHAPING)
    sync.run("run-1")
    assert sync.warehouse_rows(SEEN, ["id"]) == _expected(mysql, where)
    with mysql_sessions().cursor() as cur:
        cur.execute("UPDATE t SET ssn = 'SSN3b' WHERE id = 3")  # into, by the excluded column
        cur.execute("UPDATE t SET ssn = NULL WHERE id = 6")  # out
        cur.execute("UPDATE t SET email = 'p5@x' WHERE id = 5")  # into, by the hashed column
        cur.execute("UPDATE t SET email = 'p5-zoë@example.com' WHERE id = 7")  # out
    sync.run("run-2")
    assert sync.warehouse_rows(SEEN, ["id"]) == _expected(mysql, where)
    assert _verdict(sync) == "ok"
