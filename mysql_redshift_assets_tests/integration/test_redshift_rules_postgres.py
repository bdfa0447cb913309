"""The Redshift rules whose logic is dialect-independent, run for real on MariaDB + PostgreSQL.

UTF-8 widths of a latin1 table, system column names, a zero-row generation file, a load retried
after a forced serialization failure (SQLSTATE 40001, Redshift's ERROR 1023), files loaded by a
rival between staging and the lock, and the lock taken only after staging.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pymysql
import pytest

from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.identifiers import qualified
from mysql_redshift_assets.load.base import CopyBatch
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.load.request import LoadRequest, LoadResult
from mysql_redshift_assets.naming import LEDGER_TABLE
from mysql_redshift_assets.state.watermark import FileRecord, WatermarkStore
from mysql_redshift_assets.store.parquet import read_footer
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, pg_query
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb

LATIN1 = (
    "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10) CHARACTER SET latin1, "
    "xmin INT, ctid VARCHAR(3), updated_at DATETIME(6) NOT NULL) DEFAULT CHARSET=latin1"
)
COLUMNS, KEY = ["id", "name", "xmin", "ctid", "updated_at"], ["id"]


def _latin1_rows(mysql: pymysql.Connection) -> None:
    with mysql.cursor() as cur:
        cur.execute(LATIN1)
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, %s, %s, '2024-01-01 00:00:00')",
            # 10 accented letters: 10 latin1 bytes, 20 UTF-8 bytes; 10 euro signs: 30.
            [(1, "é" * 10, 1, "a"), (2, "€" * 10, 2, "b"), (3, "plain", None, None),
             (4, "", 4, "ÿÿÿ")],
        )  # fmt: skip


def _sync(
    make_project: Any,
    mysql_db: str,
    request: Any,
    target: str,
    spec: dict[str, Any],
    **pipeline: Any,
) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(
        make_project, mysql_db, "t", spec, target=target, target_schema=schema,
        late_commit_window_seconds=0, **pipeline,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_latin1_table_is_sized_in_utf8_bytes_and_loads_exactly(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any, target: str
) -> None:
    _latin1_rows(mysql)
    sync = _sync(make_project, mysql_db, request, target, {"cursor": "updated_at"})
    extracted, loaded = sync.run()
    assert loaded.rows_loaded == 4
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    # Planned for UTF-8: 10 characters of latin1 (cp1252) take up to 30 bytes; the footer
    # carries the longest value actually written, checked before COPY.
    store = open_store(sync.project, sync.table.store)
    footer = read_footer(*reversed(store.arrow_location(extracted.files[0].key)))
    by_name = {c.name: c for c in footer.columns}
    assert by_name["name"].redshift_type == "VARCHAR(30)"
    assert footer.max_bytes is not None and footer.max_bytes["name"] == 30
    # System column names are renamed, recorded in the watermark like other renames.
    watermark = WatermarkStore(store).load(sync.table)
    assert watermark is not None
    assert {watermark.columns["xmin"], watermark.columns["ctid"]} == {"col_xmin", "col_ctid"}
    if target == "postgres":
        schema = sync.table.target_schema
        widths = pg_query(
            "SELECT column_name, character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 't' AND column_name = 'name'",
            (schema,),
        )
        assert widths == [("name", 30)]


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_zero_row_generation_file_empties_the_table_without_a_copy(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any, target: str
) -> None:
    _latin1_rows(mysql)
    sync = _sync(make_project, mysql_db, request, target, {"mode": "full"})
    sync.run("run-1")
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM t")
    extracted, loaded = sync.run("run-2")
    assert [f.rows for f in extracted.files] == [0]
    # Nothing was copied; the generation still replaced the table and is in the ledger.
    assert loaded.copies == [] and loaded.rows_loaded == 0
    assert loaded.files_loaded == [extracted.files[0].key]
    assert sync.warehouse_rows(COLUMNS, KEY) == []
    again = sync.load("run-3")
    assert again.files_loaded == [] and again.already_loaded == 1


# -- the load transaction on PostgreSQL -----------------------------------------------------------
def _pg() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB)


def _locks_on(table: str, pid: int) -> list[str]:
    return [
        r[0]
        for r in pg_query(
            "SELECT mode FROM pg_locks WHERE relation = to_regclass(%s) AND pid = %s",
            (table, pid),
        )
    ]


class ForcedRaces(PostgresWarehouse):
    """The PostgreSQL stand-in with hooks to race a rival session at the two points that matter:
    while files are staged, and under the lock after the ledger was read."""

    def __init__(self, base: PostgresWarehouse, *, serializable: bool = False) -> None:
        super().__init__(base.name, base._connect)
        self.serializable = serializable
        self.while_staging: list[Any] = []
        self.under_lock: list[Any] = []

    def begin(self) -> None:
        if self.serializable:
            # Redshift provisioned clusters created before mid-2024 run SERIALIZABLE.
            self.conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE

    def copy_into_staging(self, batch: CopyBatch) -> int:
        request = batch.request
        copied = super().copy_into_staging(batch)
        if self.while_staging:
            self.while_staging.pop(0)(self, request)
        return copied

    def _merge_staged(
        self,
        request: LoadRequest,
        pending: list[FileRecord],
        staged: list[Any],
        result: LoadResult,
    ) -> None:
        if self.under_lock:
            self.loaded_keys(request.target_schema, request.ledger_name)  # the read a rival skews
            self.under_lock.pop(0)(self, request)
        super()._merge_staged(request, pending, staged, result)


def _load(sync: Sync, warehouse: PostgresWarehouse, run_id: str) -> LoadResult:
    store = open_store(sync.project, sync.table.store)
    result, _ = load_table(warehouse, store, WatermarkStore(store), sync.table, run_id=run_id)
    return result


@pytest.fixture
def pg_sync(mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any) -> Sync:
    _latin1_rows(mysql)
    sync = _sync(make_project, mysql_db, request, "postgres", {"cursor": "updated_at"},
                 file_rows=2)  # fmt: skip
    sync.extract("ext-1")
    return sync


def _warehouse(sync: Sync, **kwargs: Any) -> ForcedRaces:
    base = open_warehouse(sync.project, sync.table.target)
    assert isinstance(base, PostgresWarehouse)
    return ForcedRaces(base, **kwargs)


def test_a_serialization_failure_rolls_back_and_the_load_runs_again(
    mysql: pymysql.Connection, pg_sync: Sync
) -> None:
    schema = pg_sync.table.target_schema
    ledger = qualified(schema, LEDGER_TABLE)

    def rival_writes_what_we_read(_wh: PostgresWarehouse, _request: LoadRequest) -> None:
        # Another table's load in the same schema: it reads the shared ledger and records a
        # file in it, committing first. Ours read the ledger too and now writes it: no serial
        # order explains both, so PostgreSQL aborts ours with SQLSTATE 40001.
        with _pg() as rival:
            rival.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
            rival.execute(f"SELECT COUNT(*) FROM {ledger}")
            rival.execute(
                f"INSERT INTO {ledger} VALUES ('other/0.parquet', 'other.t', 1, 'rival', now())"
            )

    warehouse = _warehouse(pg_sync, serializable=True)
    warehouse.under_lock.append(rival_writes_what_we_read)
    try:
        result = _load(pg_sync, warehouse, "run-1")
    finally:
        warehouse.close()
    assert result.attempts == 2
    assert result.rows_loaded == 4 and len(result.files_loaded) == 2
    assert_same_rows(mysql, pg_sync, COLUMNS, KEY)
    keys = [r[0] for r in pg_query(f"SELECT file_key FROM {ledger} ORDER BY 1")]
    assert sorted(keys) == sorted([*result.files_loaded, "other/0.parquet"])


def test_files_loaded_by_a_rival_after_staging_are_not_loaded_twice(
    mysql: pymysql.Connection, pg_sync: Sync
) -> None:
    def rival_loads_everything(_wh: PostgresWarehouse, _request: LoadRequest) -> None:
        rival = open_warehouse(pg_sync.project, pg_sync.table.target)
        assert isinstance(rival, PostgresWarehouse)
        try:
            assert _load(pg_sync, rival, "rival").rows_loaded == 4
        finally:
            rival.close()

    warehouse = _warehouse(pg_sync)
    warehouse.while_staging.append(rival_loads_everything)
    try:
        result = _load(pg_sync, warehouse, "run-1")
    finally:
        warehouse.close()
    # Under the lock the ledger held the staged files: rolled back, run again, nothing left.
    assert result.attempts == 2 and result.files_loaded == [] and result.already_loaded == 2
    assert_same_rows(mysql, pg_sync, COLUMNS, KEY)
    ledger = qualified(pg_sync.table.target_schema, LEDGER_TABLE)
    assert pg_query(f"SELECT COUNT(*), COUNT(DISTINCT file_key) FROM {ledger}") == [(2, 2)]


def test_the_target_is_not_locked_while_files_are_staged(
    mysql: pymysql.Connection, pg_sync: Sync
) -> None:
    target = qualified(pg_sync.table.target_schema, "t")
    seen: dict[str, list[str]] = {}

    def look_at_locks(wh: PostgresWarehouse, _request: LoadRequest) -> None:
        seen["staging"] = _locks_on(target, wh.conn.info.backend_pid)

    def look_under_lock(wh: PostgresWarehouse, _request: LoadRequest) -> None:
        seen["merge"] = _locks_on(target, wh.conn.info.backend_pid)

    # The target is created (and committed) before staging, so a lock on it would show.
    warehouse = _warehouse(pg_sync)
    warehouse.while_staging.append(look_at_locks)
    warehouse.under_lock.append(look_under_lock)
    try:
        result = _load(pg_sync, warehouse, "run-1")
    finally:
        warehouse.close()
    assert "ExclusiveLock" not in seen["staging"]
    assert "ExclusiveLock" in seen["merge"]
    assert 0 < result.lock_seconds < result.seconds
    assert_same_rows(mysql, pg_sync, COLUMNS, KEY)


def test_a_loader_without_create_on_the_database_loads_into_an_existing_schema(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any
) -> None:
    """CREATE SCHEMA runs only when the schema is missing: a least-privilege loader (USAGE and
    CREATE on its schema, nothing on the database) loads."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10), updated_at DATETIME(6))")
        cur.execute("INSERT INTO t VALUES (1, 'a', '2024-01-01'), (2, NULL, '2024-01-02')")
    sync = _sync(make_project, mysql_db, request, "postgres", {"cursor": "updated_at"})
    schema = sync.table.target_schema
    role = f"mra_loader_{schema[-10:]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB,
                         autocommit=True) as admin:  # fmt: skip
        admin.execute(f'CREATE SCHEMA "{schema}"')
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"')
        try:
            sync.extract("ext-1")
            warehouse = PostgresWarehouse(
                "least",
                lambda: psycopg.connect(host=PG_HOST, port=PG_PORT, user=role, dbname=PG_DB),
            )
            try:
                assert _load(sync, warehouse, "run-1").rows_loaded == 2
            finally:
                warehouse.close()
            assert_same_rows(mysql, sync, ["id", "name", "updated_at"], KEY)
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_a_target_column_sized_by_an_older_plan_is_widened_before_the_load(
    mysql: pymysql.Connection, mysql_db: str, make_project: Any, request: Any
) -> None:
    """A target created before widths counted UTF-8 bytes: the schema preflight widens the
    VARCHAR to the files' width (load/evolve.py) before COPY, so no value is refused or cut."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10) CHARACTER SET latin1, "
                    "updated_at DATETIME(6))")  # fmt: skip
        cur.execute("INSERT INTO t VALUES (1, %s, '2024-01-01')", ("é" * 10,))
    sync = _sync(make_project, mysql_db, request, "postgres", {"cursor": "updated_at"})
    schema = sync.table.target_schema
    target = f'"{schema}"."t"'
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB,
                         autocommit=True) as admin:  # fmt: skip
        # As the loader created it before widths counted UTF-8 bytes.
        admin.execute(f'CREATE SCHEMA "{schema}"')
        admin.execute(f'CREATE TABLE {target} ("id" INTEGER NOT NULL, "name" VARCHAR(10), '
                      '"updated_at" TIMESTAMP)')  # fmt: skip
    sync.extract("ext-1")
    assert sync.load("run-1").rows_loaded == 1
    width = pg_query(
        "SELECT character_maximum_length FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = 't' AND column_name = 'name'"
    )
    assert width == [(30,)]
    assert_same_rows(mysql, sync, ["id", "name", "updated_at"], KEY)
