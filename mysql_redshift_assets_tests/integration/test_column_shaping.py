"""`exclude_columns:` and `hash_columns:` end to end (issue 27), by query capture (a cursor
table) and binlog capture, on DuckDB and the PostgreSQL stand-in: the warehouse equals MySQL
through the same exclusion and HMAC, row by row; no excluded value, no raw hashed value and no
hash key is in any file of the run (Parquet, watermark, warehouse file), any log line (DEBUG) or
any metadata / result object; validate compares the hashed values; the refusals that need
MySQL's catalog."""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.defs.checks import schema_drift_result
from mysql_redshift_assets.defs.metadata import column_schema, parquet_metadata, warehouse_metadata
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.extract.readers import BINARY_MIN_CHUNK_ROWS
from mysql_redshift_assets.extract.shaping import _pads
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.maintenance.validate import reconcile_table
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.drift import check_schema
from mysql_redshift_assets_tests.conftest import pg_query
from mysql_redshift_assets_tests.exactness import Sync, read_mysql

pytestmark = pytest.mark.mariadb

HASH_KEY = "hash-key-test-only-not-a-secret-Zq7"
EMAIL, NOTE, SSN, KEEP, PHONE = "MRKEMAIL", "MRKNOTE", "MRKSSN", "MRKKEEP", 5550123000
# the key, its hex and the padded keys the SQL carries (hex in either case)
KEY_FORMS = [HASH_KEY.encode().hex(), *(p.hex() for p in _pads(HASH_KEY.encode()))]
FORBIDDEN = [EMAIL, NOTE, SSN, str(PHONE)[:7], HASH_KEY] + [
    form for hex_text in KEY_FORMS for form in (hex_text, hex_text.upper())
]
TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, email VARCHAR(80), phone BIGINT, note TEXT, "
    "ssn VARCHAR(20) CHARACTER SET latin1, city VARCHAR(40), updated_at DATETIME(6) NOT NULL "
    "DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))"
)
SHAPING = {"exclude_columns": ["note", "ssn"], "hash_columns": ["email", "phone"]}
SEEN = ["id", "email", "phone", "city"]  # what the warehouse holds (and updated_at)


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _row(i: int) -> tuple[Any, ...]:
    email = None if i % 7 == 0 else f"{EMAIL}-{i}-zoë@example.com"
    phone = None if i % 5 == 0 else PHONE + i
    return (i, email, phone, f"{NOTE} {i} 😀", f"{SSN}{i}", f"{KEEP}{i}")


def _table(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t (id, email, phone, note, ssn, city) VALUES (%s, %s, %s, %s, %s, %s)",
            [_row(i) for i in range(1, 31)],
        )


def _change(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            f"UPDATE t SET email = CONCAT(email, '.{EMAIL}'), note = '{NOTE} again' WHERE id <= 5"
        )
        cur.execute("UPDATE t SET phone = NULL, ssn = 'MRKSSN-x' WHERE id = 6")
        cur.execute(
            "UPDATE t SET email = 'MRKEMAIL-back@example.com' WHERE id = 7"
        )  # NULL -> value
        cur.execute("DELETE FROM t WHERE id = 30")
        cur.execute("INSERT INTO t (id, email, phone, note, ssn, city) VALUES (%s, %s, %s, %s, %s, %s)",
                    _row(31))  # fmt: skip


def _hmac(value: Any) -> str | None:
    if value is None:
        return None
    return hmac.new(HASH_KEY.encode(), str(value).encode(), hashlib.sha256).hexdigest()


def _assert_shaped_equal(mysql, sync: Sync) -> None:
    """MySQL through the same exclusion and HMAC equals the warehouse, row by row."""
    raw = read_mysql(mysql, "t", SEEN, ["id"])
    expected = [(i, _hmac(email), _hmac(phone), city) for i, email, phone, city in raw]
    assert len(expected) == 30 and sync.warehouse_rows(SEEN, ["id"]) == expected
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        columns = set(warehouse.table_columns(*target_table(sync.table)))
    finally:
        warehouse.close()
    assert {"note", "ssn"}.isdisjoint(columns) and set(SEEN) <= columns


def _sync(make_project, mysql_db, request, target, capture: str) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    spec = {"capture": "binlog"} if capture == "binlog" else {"cursor": "updated_at"}
    # pages of 1,000 rows are read by the binary protocol (readers.BINARY_MIN_CHUNK_ROWS), of
    # 7 by the text protocol (and a binlog table's copy always is): both compute the HMAC
    chunk_rows = BINARY_MIN_CHUNK_ROWS if (capture, target) == ("cursor", "duckdb") else 7
    return Sync.of(
        make_project, mysql_db, "t", {**spec, **SHAPING}, target=target, target_schema=schema,
        chunk_rows=chunk_rows, file_rows=20, hash_key="${MRA_TEST_HASH_KEY}",
    )  # fmt: skip


def _validate(sync: Sync):
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    store = open_store(sync.project, sync.table.store)
    try:
        return reconcile_table(source, WatermarkStore(store), warehouse, sync.table)
    finally:
        source.close()
        warehouse.close()


def _texts_of_files(root: Path) -> tuple[dict[str, bytes], int]:
    """Every file under `root`: its bytes, and a Parquet file's decoded values and metadata
    too (its pages are compressed); and how many Parquet files were read."""
    found, parquets = {}, 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".parquet":
            parquets += 1
            table = pq.read_table(path)
            data += repr(table.to_pylist()).encode() + repr(table.schema.metadata).encode()
        found[str(path)] = data
    return found, parquets


@pytest.mark.parametrize(
    ("capture", "target"),
    [("cursor", "duckdb"), ("cursor", "postgres"), ("binlog", "duckdb"), ("binlog", "postgres")],
)
def test_excluded_and_hashed_columns_reach_no_file_log_or_metadata(
    mysql, mysql_db, make_project, request, tmp_path, monkeypatch, caplog, capture, target
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MRA_TEST_HASH_KEY", HASH_KEY)
    _table(mysql)
    sync = _sync(make_project, mysql_db, request, target, capture)
    first = sync.run("run-1")
    _change(mysql)
    second = sync.run("run-2")
    assert second[0].rows > 0
    _assert_shaped_equal(mysql, sync)
    if target == "postgres":  # the target type sized for the hash: 64 hex characters
        widths = pg_query(
            "SELECT column_name, data_type, character_maximum_length FROM "
            "information_schema.columns WHERE table_schema = %s AND column_name IN "
            "('email', 'phone') ORDER BY 1", (sync.table.target_schema,),
        )  # fmt: skip
        assert widths == [("email", "character varying", 64), ("phone", "character varying", 64)]

    counts = _validate(sync)  # compares the hashed values: MySQL computes the same HMAC
    assert counts.verdict == "ok", counts
    assert counts.columns_not_compared == {}
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        plan = plan_table(source, sync.table)
        drift = check_schema(source, store, warehouse, sync.table)  # the schema drift check
    finally:
        source.close()
        warehouse.close()
    assert drift.passed, drift.describe()
    metadata = [
        column_schema(plan, sync.table),
        parquet_metadata(sync.table, store, [first[0], second[0]]),
        warehouse_metadata(sync.table, [first[1], second[1]], plan),
        schema_drift_result(AssetKey("t"), drift), drift.describe(),
        first, second, counts.as_dict(), sync.table,  # (the plan in memory holds the SQL)
    ]  # fmt: skip
    files, parquets = _texts_of_files(tmp_path)
    logs = [f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records]
    assert parquets >= 2 and any(KEEP.encode() in data for data in files.values())  # it reads
    assert any("watermark" in name for name in files) and logs
    for marker in FORBIDDEN:
        assert not [name for name, data in files.items() if marker.encode() in data], marker
        assert not [line for line in logs if marker in line], marker
        assert marker not in repr(metadata), marker

    # validate sees a hashed value that is not MySQL's HMAC
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        ref = warehouse.ref(*target_table(sync.table))
        with warehouse.transaction():
            warehouse.execute(f"UPDATE {ref} SET email = '{_hmac('someone else')}' WHERE id = 2")
    finally:
        warehouse.close()
    tampered = _validate(sync)
    # the key whose value differs (a binlog table's validate cannot tell a change the stream
    # has not carried yet from a wrong value: it reports it pending)
    differs = tampered.examples.get("changed", []) + tampered.examples.get("pending", [])
    assert differs == ["2"], tampered
    assert capture == "binlog" or (tampered.verdict == "mismatch" and tampered.changed == 1)


@pytest.mark.parametrize(
    ("shaping", "message"),
    [
        ({"exclude_columns": ["id"]}, "key exclude_columns: id is the primary key or the cursor"),
        ({"exclude_columns": ["updated_at"]}, "key exclude_columns: updated_at is the primary key"),
        ({"exclude_columns": ["nope"]}, "key exclude_columns: unknown column(s) nope (columns: "),
        ({"hash_columns": ["id"]}, "key hash_columns: id is the primary key or the cursor"),
        ({"hash_columns": ["gone"]}, "key hash_columns: unknown column(s) gone"),
        ({"hash_columns": ["updated_at"]}, "key hash_columns: updated_at is the primary key"),
        ({"hash_columns": ["born"]}, "key hash_columns: column 'born' is date: only text, "),
    ],
)
def test_a_key_the_cursor_or_an_unknown_column_is_refused(
    mysql, mysql_db, make_project, monkeypatch, shaping, message
):
    monkeypatch.setenv("MRA_TEST_HASH_KEY", HASH_KEY)
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, born DATE, updated_at DATETIME(6))")
    sync = Sync.of(make_project, mysql_db, "t", {"cursor": "updated_at", **shaping},
                   hash_key="${MRA_TEST_HASH_KEY}")  # fmt: skip
    source = open_source(sync.project, sync.table.source)
    try:
        with pytest.raises(ConfigError) as err:
            plan_table(source, sync.table)
    finally:
        source.close()
    assert str(err.value).startswith(f"{sync.table.config_file}: table {mysql_db}.t, key ")
    assert message in str(err.value) and HASH_KEY not in str(err.value)


def test_shaping_a_loaded_table_is_refused_until_a_resync(
    mysql, mysql_db, make_project, monkeypatch
):
    """Rows loaded before keep what they hold until read again: a changed exclusion, hashing or
    key is refused before an increment, and a resync replaces the table whole."""
    monkeypatch.setenv("MRA_TEST_HASH_KEY", HASH_KEY)
    _table(mysql)
    Sync.of(make_project, mysql_db, "t", {"cursor": "updated_at"}).run("plain")
    sync = Sync.of(make_project, mysql_db, "t", {"cursor": "updated_at", **SHAPING},
                   hash_key="${MRA_TEST_HASH_KEY}")  # fmt: skip
    with pytest.raises(ConfigError) as err:
        sync.run("shaped")
    message = str(err.value)
    assert message.startswith(f"{sync.table.config_file}: table {mysql_db}.t, key hash_columns: ")
    assert "hashing changed for email (not hashed -> hmac sha256 key " in message
    assert "note, ssn now excluded since the files already extracted" in message
    assert f"Run `mysql-redshift resync -p testpipe -t {mysql_db}.t`" in message
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        store = open_store(sync.project, sync.table.store)
        resync_table(source, store, warehouse, sync.table, run_id="resync-1")
    finally:
        source.close()
        warehouse.close()
    _assert_shaped_equal(mysql, sync)
    sync.run("after")  # the files now hold the new shape: an increment runs
    _assert_shaped_equal(mysql, sync)
    monkeypatch.setenv("MRA_TEST_HASH_KEY", HASH_KEY + "-rotated")  # old and new would not join
    with pytest.raises(ConfigError, match=r"hashing changed for email \(hmac sha256 key \w+ -> "):
        sync.run("rotated")


def test_a_keyless_full_table_is_shaped_too(mysql, mysql_db, make_project, monkeypatch, caplog):
    """No key (mode full): the rows are read by one ordered query, and none of an excluded or
    raw hashed value reaches a file, a log line or a result (validate counts a full table's
    rows)."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MRA_TEST_HASH_KEY", HASH_KEY)
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT, email VARCHAR(80), note TEXT, city VARCHAR(40))")
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, %s)",
            [(i % 4, f"{EMAIL}-{i % 3}", f"{NOTE} {i}", f"{KEEP}{i % 2}") for i in range(12)],
        )
    spec = {"mode": "full", "exclude_columns": ["note"], "hash_columns": ["email"]}
    sync = Sync.of(make_project, mysql_db, "t", spec, hash_key="${MRA_TEST_HASH_KEY}")
    extracted, loaded = sync.run("full-1")
    raw = read_mysql(mysql, "t", ["id", "email", "city"], ["id", "email", "city"])
    expected = sorted((i, _hmac(email), city) for i, email, city in raw)
    assert sorted(sync.warehouse_rows(["id", "email", "city"], ["id", "email", "city"])) == expected
    counts = _validate(sync)
    assert counts.verdict == "ok", counts
    texts = [repr((extracted, loaded, counts.as_dict()))]
    texts += [f"{r.getMessage()} {r.args!r}" for r in caplog.records]
    files, _ = _texts_of_files(Path(sync.project.root).parent)
    for marker in FORBIDDEN:
        assert not [t for t in texts if marker in t], marker
        assert not [n for n, data in files.items() if marker.encode() in data], marker
