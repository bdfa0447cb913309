"""The Redshift-only SQL, checked as exact text (Redshift cannot run here; no servers needed).

COPY, the manifest, DISTKEY / SORTKEY and the DDL a RedshiftWarehouse runs are captured with a
DB-API connection that records every statement instead of running it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.load.redshift import (
    RedshiftWarehouse,
    copy_statement,
    manifest_json,
    table_suffix,
)
from mysql_redshift_assets.load.request import LoadError, LoadRequest
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import LocalStore
from mysql_redshift_assets.store.parquet import FileColumn, ParquetFileWriter, read_footer
from mysql_redshift_assets.sync.load import load_table, physical_keys

IAM_ROLE = "arn:aws:iam::123456789012:role/redshift-copy"
MANIFEST_URI = "s3://bucket/backup/pipe/shop/orders/_manifests/run-7-000.manifest"


# -- COPY -------------------------------------------------------------------------------------
def test_copy_statement_with_an_iam_role() -> None:
    assert copy_statement('"mra_staging_0"', MANIFEST_URI, iam_role=IAM_ROLE) == (
        'COPY "mra_staging_0" FROM '
        "'s3://bucket/backup/pipe/shop/orders/_manifests/run-7-000.manifest' "
        "IAM_ROLE 'arn:aws:iam::123456789012:role/redshift-copy' FORMAT AS PARQUET MANIFEST"
    )


def test_copy_statement_with_access_keys_quotes_them_as_literals() -> None:
    assert copy_statement(
        '"mra_staging_1"',
        "s3://bucket/it's/x.manifest",
        access_key_id="AKIAEXAMPLE",
        secret_access_key="se'cret/+key",
    ) == (
        "COPY \"mra_staging_1\" FROM 's3://bucket/it''s/x.manifest' "
        "ACCESS_KEY_ID 'AKIAEXAMPLE' SECRET_ACCESS_KEY 'se''cret/+key' "
        "FORMAT AS PARQUET MANIFEST"
    )


def test_copy_statement_prefers_the_iam_role_over_keys() -> None:
    sql = copy_statement(
        '"s"', MANIFEST_URI, iam_role=IAM_ROLE, access_key_id="AK", secret_access_key="SK"
    )
    assert f"IAM_ROLE '{IAM_ROLE}'" in sql and "ACCESS_KEY_ID" not in sql and "'SK'" not in sql


@pytest.mark.parametrize(
    "credentials",
    [{}, {"access_key_id": "AK"}, {"secret_access_key": "SK"}, {"iam_role": ""}],
    ids=["none", "key-id-only", "secret-only", "empty-role"],
)
def test_copy_statement_without_credentials_is_refused(credentials: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"needs iam_role, or aws_access_key_id \+ aws_secret"):
        copy_statement('"s"', MANIFEST_URI, **credentials)


# -- manifest ---------------------------------------------------------------------------------
def test_manifest_lists_exactly_the_files_with_their_sizes() -> None:
    files = [
        ("s3://bucket/backup/pipe/shop/orders/incremental/0000000000.parquet", 1234),
        ("s3://bucket/backup/pipe/shop/orders/incremental/0000000001.parquet", 0),
        ("s3://bucket/backup/pipe/shop/orders/incremental/0000000002.parquet", 10**12),
    ]
    parsed = json.loads(manifest_json(files))
    assert parsed == {
        "entries": [
            {"url": url, "mandatory": True, "meta": {"content_length": size}} for url, size in files
        ]
    }
    assert [e["url"] for e in parsed["entries"]] == [u for u, _ in files]  # order kept
    assert '"mandatory": true' in manifest_json(files)  # JSON true, not Python True
    assert json.loads(manifest_json([])) == {"entries": []}


# -- DISTKEY / SORTKEY ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("distkey", "sortkey", "expected"),
    [
        (None, None, " DISTSTYLE AUTO SORTKEY AUTO"),
        ("col_190_time", None, ' DISTKEY("col_190_time") SORTKEY AUTO'),
        (None, ("compound", ["updated_at", "id"]), ' DISTSTYLE AUTO COMPOUND SORTKEY("updated_at", "id")'),
        ("id", ("interleaved", ["order", "user"]), ' DISTKEY("id") INTERLEAVED SORTKEY("order", "user")'),
        ('we"ird', ("compound", ['a"b']), ' DISTKEY("we""ird") COMPOUND SORTKEY("a""b")'),
        (None, ("compound", []), " DISTSTYLE AUTO SORTKEY AUTO"),
    ],
)  # fmt: skip
def test_table_suffix(
    distkey: str | None, sortkey: tuple[str, list[str]] | None, expected: str
) -> None:
    assert table_suffix(distkey, sortkey) == expected


# -- a project, a table, a watermark ----------------------------------------------------------
def make_table(tmp_path: Path, **table_keys: Any) -> TableConfig:
    root = tmp_path / "pipelines"
    root.mkdir(exist_ok=True)
    connections = {
        "sources": {"mysql": {"kind": "mysql", "host": "127.0.0.1", "user": "u"}},
        "stores": {"s3": {"kind": "s3", "bucket": "bucket", "prefix": "backup"}},
        "targets": {
            "redshift": {
                "kind": "redshift", "host": "example", "region": "us-east-1", "database": "dev", "user": "u",
                "iam_role": IAM_ROLE,
            }
        },
    }  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    spec = {
        "source": "mysql",
        "store": "s3",
        "target": "redshift",
        "target_schema": "analytics",
        "tables": {"shop.orders": {"cursor": "updated_at", **table_keys}},
    }
    (root / "pipe.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return table_config(load_project(root).pipeline("pipe"), "shop.orders")


COLUMN_MAP = {"id": "id", "190_time": "col_190_time", "Order Total": "order_total", "note": "note"}


def watermark_for(columns: dict[str, str] = COLUMN_MAP) -> Watermark:
    return Watermark(table="shop.orders", mode="incremental", columns=columns, primary_key=["id"])


# -- physical_keys ----------------------------------------------------------------------------
def test_physical_keys_take_mysql_names_and_normalise_them(tmp_path: Path) -> None:
    table = make_table(
        tmp_path,
        distkey="190_time",
        sortkey={"type": "interleaved", "columns": ["Order Total", "190_time"]},
    )
    assert physical_keys(table, watermark_for()) == (
        "col_190_time",
        ("interleaved", ["order_total", "col_190_time"]),
        [],
    )


@pytest.mark.parametrize(
    ("sortkey", "expected"),
    [("id", ("compound", ["id"])), (["note", "id"], ("compound", ["note", "id"]))],
    ids=["one-string", "list"],
)
def test_physical_keys_short_sortkey_forms_are_compound(
    tmp_path: Path, sortkey: Any, expected: tuple[str, list[str]]
) -> None:
    table = make_table(tmp_path, sortkey=sortkey)
    assert physical_keys(table, watermark_for()) == (None, expected, [])


def test_physical_keys_accept_an_already_normalised_name(tmp_path: Path) -> None:
    table = make_table(tmp_path, distkey="col_190_time", sortkey=["order_total"])
    assert physical_keys(table, watermark_for()) == (
        "col_190_time",
        ("compound", ["order_total"]),
        [],
    )


def test_unknown_keys_fall_back_to_auto_with_warnings_naming_column_file_and_table(
    tmp_path: Path,
) -> None:
    table = make_table(tmp_path, distkey="customer_id", sortkey=["190_time", "created", "nope"])
    distkey, sortkey, warnings = physical_keys(table, watermark_for())
    assert (distkey, sortkey) == (None, None)
    config_file = str(tmp_path / "pipelines" / "pipe.yml")
    assert warnings == [
        f"{config_file}: table shop.orders, key distkey: unknown column 'customer_id'; "
        "using DISTSTYLE AUTO",
        f"{config_file}: table shop.orders, key sortkey: unknown column(s) created, nope; "
        "using SORTKEY AUTO",
    ]
    # A known distkey with an unknown sortkey: only the sortkey falls back.
    table = make_table(tmp_path, distkey="190_time", sortkey=["missing"])
    distkey, sortkey, warnings = physical_keys(table, watermark_for())
    assert (distkey, sortkey) == ("col_190_time", None)
    assert warnings == [
        f"{config_file}: table shop.orders, key sortkey: unknown column(s) missing; "
        "using SORTKEY AUTO"
    ]


# -- a DB-API connection that records SQL -----------------------------------------------------
class RecordingConnection:
    """Records statements; answers the few queries the loader reads results from.

    It keeps just enough state to answer like a database: tables created or altered (their
    column names), ledger rows (visible after COMMIT), the row count COPY reports.
    """

    def __init__(
        self, *, copy_count: int = 0, tables: dict[tuple[str, str], list[str]] | None = None
    ) -> None:
        self.log: list[tuple[str, tuple[Any, ...] | None]] = []
        self.copy_count = copy_count
        self.tables = dict(tables or {})
        self.types: dict[tuple[str, str], dict[str, str]] = {}
        self.ledger: set[str] = set()
        self._ledger_pending: set[str] = set()
        self.schemas = {schema for schema, _ in self.tables}
        self.closed = False
        self.fail_commits = 0  # COMMITs of ledger rows to fail as Redshift's ERROR 1023
        self.widths: dict[tuple[str, str], dict[str, int]] = {}  # VARCHAR widths of tables
        self.copy_error: Exception | None = None  # raised by COPY
        self.load_errors: list[tuple[Any, ...]] = []  # SYS_LOAD_ERROR_DETAIL's rows
        self.catalog: list[tuple[Any, ...]] = []  # SVV_REDSHIFT_COLUMNS' rows
        self.ledger_width: int | None = None  # the ledger's "table_name" VARCHAR width

    def cursor(self) -> RecordingCursor:
        return RecordingCursor(self)

    def commit(self) -> None:
        self.log.append(("COMMIT", None))
        if self._ledger_pending and self.fail_commits:
            self.fail_commits -= 1
            self._ledger_pending = set()
            raise RuntimeError(
                {"S": "ERROR", "C": "XX000", "M": "1023",
                 "D": "Serializable isolation violation on table - 100, transactions forming the cycle are: 7, 8"}
            )  # fmt: skip
        self.ledger |= self._ledger_pending
        self._ledger_pending = set()

    def rollback(self) -> None:
        self.log.append(("ROLLBACK", None))
        self._ledger_pending = set()

    def close(self) -> None:
        self.closed = True

    @property
    def statements(self) -> list[str]:
        return [sql for sql, _ in self.log]

    def normalized(self) -> list[tuple[str, tuple[Any, ...] | None]]:
        """The log with each attempt's staging token written `T`."""
        return [(STAGING_TOKEN.sub("mra_staging_T_", sql), p) for sql, p in self.log]


STAGING_TOKEN = re.compile(r"mra_staging_[0-9a-f]{8}_")


class RecordingCursor:
    def __init__(self, conn: RecordingConnection) -> None:
        self.conn = conn
        self.rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: tuple[Any, ...] | None = None) -> None:
        conn = self.conn
        conn.log.append((sql, params))
        self.rows = []
        if created := re.match(
            r'CREATE TABLE (?:IF NOT EXISTS )?"([^"]+)"\."([^"]+)" \((.*)$', sql
        ):
            names = re.findall(r'(?:^|, )"([^"]+)" [A-Z]', created.group(3))
            conn.tables.setdefault((created.group(1), created.group(2)), names)
            typed = re.findall(r'(?:^|, )"([^"]+)" ([A-Z][A-Z ]*(?:\(\d+(?:,\d+)?\))?)', sql)
            conn.types.setdefault((created.group(1), created.group(2)), dict(typed))
        elif altered := re.match(r'ALTER TABLE "([^"]+)"\."([^"]+)" ADD COLUMN "([^"]+)"', sql):
            conn.tables[(altered.group(1), altered.group(2))].append(altered.group(3))
        elif sql.startswith("CREATE SCHEMA"):
            conn.schemas.add(sql.split('"')[1])
        elif "format_type(a.atttypid, a.atttypmod)" in sql:  # evolve.FORMAT_TYPE_SQL
            assert params is not None
            table = (params[0], params[1])
            types, widths = conn.types.get(table, {}), conn.widths.get(table, {})
            self.rows = [
                (c, f"character varying({widths[c]})" if c in widths else types.get(c, "VARCHAR"))
                for c in conn.tables.get(table, [])
            ]
        elif "pg_get_userbyid" in sql:  # redshift_keep's catalog: the table holds nothing
            self.rows = []
        elif "pg_namespace" in sql:
            assert params is not None
            self.rows = [(1,)] if params[0] in conn.schemas else []
        elif "data_type" in sql and "information_schema.columns" in sql:
            assert params is not None
            table = (params[0], params[1])
            types = conn.types.get(table, {})
            self.rows = [
                (c, types.get(c, "VARCHAR"), None, None, None) for c in conn.tables.get(table, [])
            ]
        elif "column_name = 'table_name'" in sql:
            self.rows = [(conn.ledger_width,)] if conn.ledger_width else []
        elif "character_maximum_length" in sql:
            assert params is not None
            self.rows = list(conn.widths.get((params[0], params[1]), {}).items())
        elif "information_schema.columns" in sql:
            assert params is not None
            self.rows = [(c,) for c in conn.tables.get((params[0], params[1]), [])]
        elif sql.startswith("COPY") and conn.copy_error is not None:
            raise conn.copy_error
        elif sql == "SELECT pg_last_query_id()":
            self.rows = [(1000,)]
        elif "sys_load_error_detail" in sql:
            self.rows = list(conn.load_errors)
        elif "svv_redshift_columns" in sql:
            self.rows = list(conn.catalog)
        elif sql == "SELECT pg_last_copy_count()":
            self.rows = [(conn.copy_count,)]
        elif sql.startswith('SELECT "file_key" FROM'):
            self.rows = [(k,) for k in sorted(conn.ledger)]
        elif sql.startswith('INSERT INTO "analytics"."mysql_redshift_loads"'):
            assert params is not None
            conn._ledger_pending.add(params[0])
        elif sql.startswith("SELECT COUNT(*) FROM"):
            self.rows = [(42,)]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


def warehouse_over(conn: RecordingConnection, **credentials: Any) -> RedshiftWarehouse:
    warehouse = RedshiftWarehouse("redshift", lambda: conn, **credentials)
    assert warehouse.conn is conn  # open the session now: its set-up is not the load's SQL
    assert not any(s.startswith(("CREATE", "LOCK", "COPY")) for s in conn.statements)
    conn.log.clear()
    return warehouse


LEDGER_DDL = (
    'CREATE TABLE IF NOT EXISTS "analytics"."mysql_redshift_loads" ('
    '"file_key" VARCHAR(1024) NOT NULL PRIMARY KEY, "table_name" VARCHAR(263) NOT NULL, '
    '"row_count" BIGINT NOT NULL, "run_id" VARCHAR(128) NOT NULL, '
    '"loaded_at" TIMESTAMP NOT NULL)'
)
INFO_SCHEMA = (
    "SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position"
)

# Redshift reads the target's types, widths included, with format_type (load/evolve.py).
PREFLIGHT_INFO_SCHEMA = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 ORDER BY a.attnum"
)


SCHEMA_EXISTS = ("SELECT 1 FROM pg_namespace WHERE nspname = %s", ("analytics",))
LEDGER_EXISTS = (INFO_SCHEMA, ("analytics", "mysql_redshift_loads"))
WIDTHS = PREFLIGHT_INFO_SCHEMA


LEDGER_WIDTH = (
    "SELECT character_maximum_length FROM information_schema.columns "
    "WHERE table_schema = %s AND table_name = %s AND column_name = 'table_name'",
    ("analytics", "mysql_redshift_loads"),
)


def test_ledger_ddl() -> None:
    conn = RecordingConnection()
    warehouse = warehouse_over(conn)
    warehouse.ensure_ledger("analytics")
    assert conn.log == [
        SCHEMA_EXISTS,
        ('CREATE SCHEMA IF NOT EXISTS "analytics"', None),
        LEDGER_EXISTS,
        (LEDGER_DDL, None),
        ("COMMIT", None),
    ]
    # The same session ensured it already: not asked again (a no-op table asked it each time).
    conn.log.clear()
    warehouse.ensure_ledger("analytics")
    assert conn.log == []
    # Another session, existing schema and ledger: nothing is created, so a loader needs no
    # CREATE privilege.
    warehouse_over(conn).ensure_ledger("analytics")
    assert conn.log == [SCHEMA_EXISTS, LEDGER_EXISTS, LEDGER_WIDTH, ("COMMIT", None)]


def _column(name: str, source: str, redshift: str) -> FileColumn:
    return FileColumn(
        name=name,
        source_name=source,
        column_type="test",
        redshift_type=redshift,
        duckdb_type="unused",
        postgres_type="unused",
    )


COLUMNS = [
    _column("id", "id", "BIGINT"),
    _column("col_190_time", "190_time", "INTEGER"),
    _column("order_total", "Order Total", "DECIMAL(12,2)"),
    _column("note", "note", "VARCHAR(160)"),
    _column("updated_at", "updated_at", "TIMESTAMP"),
]
ARROW = pa.schema(
    [
        ("id", pa.int64()),
        ("col_190_time", pa.int32()),
        ("order_total", pa.decimal128(12, 2)),
        ("note", pa.string()),
        ("updated_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _request(table: TableConfig, **keys: Any) -> LoadRequest:
    return LoadRequest(
        table=table,
        primary_key=["id"],
        cursor="updated_at",
        candidates=[],
        run_id="run-7",
        **keys,
    )


@pytest.mark.parametrize(
    ("keys", "suffix"),
    [
        ({}, " DISTSTYLE AUTO SORTKEY AUTO"),
        (
            {"distkey": "col_190_time", "sortkey": ("compound", ["updated_at", "id"])},
            ' DISTKEY("col_190_time") COMPOUND SORTKEY("updated_at", "id")',
        ),
    ],
    ids=["auto", "keys"],
)
def test_target_ddl(tmp_path: Path, keys: dict[str, Any], suffix: str) -> None:
    conn = RecordingConnection()
    added = warehouse_over(conn).ensure_target(_request(make_table(tmp_path), **keys), COLUMNS)
    assert added == []
    assert conn.log == [
        (INFO_SCHEMA, ("analytics", "orders")),
        (
            'CREATE TABLE IF NOT EXISTS "analytics"."orders" ("id" BIGINT NOT NULL, '
            '"col_190_time" INTEGER, "order_total" DECIMAL(12,2), "note" VARCHAR(160), '
            '"updated_at" TIMESTAMP)' + suffix,
            None,
        ),
        ("COMMIT", None),
    ]


def test_target_gains_columns_that_appeared_in_mysql(tmp_path: Path) -> None:
    conn = RecordingConnection(tables={("analytics", "orders"): ["id", "note", "updated_at"]})
    warehouse = warehouse_over(conn)
    added = warehouse.ensure_target(_request(make_table(tmp_path)), COLUMNS)
    assert added == ["col_190_time", "order_total"]
    assert conn.log == [
        (INFO_SCHEMA, ("analytics", "orders")),
        ('ALTER TABLE "analytics"."orders" ADD COLUMN "col_190_time" INTEGER', None),
        ('ALTER TABLE "analytics"."orders" ADD COLUMN "order_total" DECIMAL(12,2)', None),
        ("COMMIT", None),
    ]


# -- a whole load, as Redshift would see it ---------------------------------------------------
class S3LikeStore(LocalStore):
    """A local folder that names its objects as the S3 store does (the manifest holds URIs)."""

    def uri(self, key: str) -> str:
        return f"s3://bucket/backup/{key}"


def _write_files(
    store: S3LikeStore, tmp_path: Path, counts: list[int], *, ordered: bool = False
) -> list[FileRecord]:
    """Files as FileSink writes them (`ordered`: with the order column), or as it wrote them
    before it did."""
    records = []
    start = 0
    for seq, n in enumerate(counts):
        path = tmp_path / f"{seq}.parquet"
        writer = ParquetFileWriter(
            path, ARROW, COLUMNS, order_base=(seq << 32) if ordered else None
        )
        ids = list(range(start, start + n))
        start += n
        writer.write(
            pa.record_batch(
                [
                    pa.array(ids, pa.int64()),
                    pa.array([190] * n, pa.int32()),
                    pa.array([None] * n, pa.decimal128(12, 2)),
                    pa.array([f"n{i}" for i in ids]),
                    pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * n, ARROW.field(4).type),
                ],
                schema=ARROW,
            )
        )
        writer.close()
        footer = read_footer(path)
        key = f"pipe/shop/orders/incremental/{seq:010d}.parquet"
        stored = store.put_file(path, key)
        records.append(
            FileRecord(
                key=key,
                rows=footer.rows,
                bytes=stored.size,
                fingerprint=footer.fingerprint,
                run_id="ext-1",
                written_at=datetime.now(UTC),
            )
        )
    return records


@pytest.fixture
def redshift_load(tmp_path: Path):
    """(table, store, watermarks, files): two recorded files of 3 and 2 rows."""
    table = make_table(tmp_path, distkey="190_time", sortkey=["updated_at", "id"])
    store = S3LikeStore(tmp_path / "store")
    files = _write_files(store, tmp_path, [3, 2])
    watermarks = WatermarkStore(store)
    watermark = Watermark(
        table="shop.orders",
        mode="incremental",
        columns={"id": "id", "190_time": "col_190_time", "Order Total": "order_total",
                 "note": "note", "updated_at": "updated_at"},
        primary_key=["id"],
        cursor="updated_at",
        files=files,
    )  # fmt: skip
    watermarks.save(table, watermark)
    return table, store, watermarks, files


def test_a_load_runs_exactly_this_sql_on_redshift(redshift_load) -> None:
    table, store, watermarks, files = redshift_load
    conn = RecordingConnection(copy_count=5)
    warehouse = warehouse_over(conn, iam_role=IAM_ROLE)
    result, warnings = load_table(warehouse, store, watermarks, table, run_id="run-7")

    assert warnings == []
    assert result.rows_loaded == 5 and result.copies == [5]
    assert result.files_loaded == [f.key for f in files]
    staging_columns = (
        '"id" BIGINT, "col_190_time" INTEGER, "order_total" DECIMAL(12,2), '
        '"note" VARCHAR(160), "updated_at" TIMESTAMP'
    )
    target = '"analytics"."orders"'
    cols = '"id", "col_190_time", "order_total", "note", "updated_at"'
    ledger_insert = (
        'INSERT INTO "analytics"."mysql_redshift_loads" '
        '("file_key", "table_name", "row_count", "run_id", "loaded_at") '
        "VALUES (%s, %s, %s, %s, GETDATE())"
    )
    staging = '"mra_staging_T_0"'
    ledger_read = (
        'SELECT "file_key" FROM "analytics"."mysql_redshift_loads" WHERE "table_name" = %s',
        ("analytics.orders",),
    )
    assert conn.normalized() == [
        # The schema preflight (load/alter.py): no table yet, nothing to change.
        (PREFLIGHT_INFO_SCHEMA, ("analytics", "orders")),
        ("COMMIT", None),
        SCHEMA_EXISTS,
        ('CREATE SCHEMA IF NOT EXISTS "analytics"', None),
        LEDGER_EXISTS,
        (LEDGER_DDL, None),
        ("COMMIT", None),
        (INFO_SCHEMA, ("analytics", "orders")),
        (
            f'CREATE TABLE IF NOT EXISTS {target} ("id" BIGINT NOT NULL, "col_190_time" INTEGER, '
            '"order_total" DECIMAL(12,2), "note" VARCHAR(160), "updated_at" TIMESTAMP) '
            'DISTKEY("col_190_time") COMPOUND SORTKEY("updated_at", "id")',
            None,
        ),
        ("COMMIT", None),
        # Staging, without the lock: readers of the target are not held during COPY. (The
        # ledger is known to exist: this session ensured it.)
        ledger_read,
        (WIDTHS, ("analytics", "orders")),
        (f"CREATE TEMP TABLE {staging} ({staging_columns})", None),
        ("SELECT pg_last_query_id()", None),  # COPY's errors are the ones after it
        (
            f"COPY {staging} FROM "
            "'s3://bucket/backup/pipe/shop/orders/_manifests/run-7-000.manifest' "
            f"IAM_ROLE '{IAM_ROLE}' FORMAT AS PARQUET MANIFEST",
            None,
        ),
        ("SELECT pg_last_copy_count()", None),
        ("COMMIT", None),
        # The lock, held for the ledger check, the merge and the ledger rows only.
        (f"LOCK {target}", None),
        ledger_read,
        (f'DELETE FROM {target} USING {staging} WHERE {target}."id" = {staging}."id"', None),
        (
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() "
            'OVER (PARTITION BY "id" ORDER BY "updated_at" DESC NULLS LAST) AS "mra_rank" '
            f'FROM {staging}) AS "latest" WHERE "mra_rank" = 1',
            None,
        ),
        (f"DROP TABLE {staging}", None),
        (ledger_insert, (files[0].key, "analytics.orders", 3, "run-7")),
        (ledger_insert, (files[1].key, "analytics.orders", 2, "run-7")),
        ("COMMIT", None),
        (INFO_SCHEMA, ("analytics", "orders")),
        (f"SELECT COUNT(*) FROM {target}", None),
        ("COMMIT", None),
    ]
    # No TRUNCATE anywhere: in Redshift it commits the open transaction.
    assert not any("TRUNCATE" in s for s in conn.statements)

    manifest = store.get_bytes("pipe/shop/orders/_manifests/run-7-000.manifest")
    assert manifest is not None
    assert json.loads(manifest) == {
        "entries": [
            {
                "url": f"s3://bucket/backup/{f.key}",
                "mandatory": True,
                "meta": {"content_length": f.bytes},
            }
            for f in files
        ]
    }
    assert [store.head(f.key).size for f in files] == [f.bytes for f in files]  # real sizes

    # The next run: everything is in the ledger, nothing is copied.
    conn.log.clear()
    again, _ = load_table(warehouse, store, watermarks, table, run_id="run-8")
    assert again.rows_loaded == 0 and again.already_loaded == 2
    assert not any(s.startswith(("COPY", "DELETE", "INSERT", "LOCK")) for s in conn.statements)


def test_full_mode_deletes_everything_in_the_transaction_never_truncates(redshift_load) -> None:
    table, store, _watermarks, files = redshift_load
    conn = RecordingConnection(copy_count=5)
    request = LoadRequest(
        table=dataclasses.replace(table, mode="full"),
        primary_key=["id"],
        cursor=None,
        candidates=files,
        run_id="run-9",
    )
    result = warehouse_over(conn, iam_role=IAM_ROLE).load(request, store)
    assert result.rows_loaded == 5
    statements = [sql for sql, _ in conn.normalized()]
    start = statements.index('LOCK "analytics"."orders"')
    assert statements.index("SELECT pg_last_copy_count()") < start  # staged before the lock
    body = [s for s in statements[start:] if not s.startswith(("SELECT", "COPY"))]
    cols = '"id", "col_190_time", "order_total", "note", "updated_at"'
    assert body[:5] == [
        'LOCK "analytics"."orders"',
        'DELETE FROM "analytics"."orders"',
        f'INSERT INTO "analytics"."orders" ({cols}) SELECT {cols} FROM "mra_staging_T_0"',
        'DROP TABLE "mra_staging_T_0"',
        body[4],
    ]
    assert body[4].startswith('INSERT INTO "analytics"."mysql_redshift_loads"')
    assert not any("TRUNCATE" in s for s in statements)
    assert statements.index("COMMIT", start) > statements.index('DROP TABLE "mra_staging_T_0"')


def test_a_load_with_access_keys_copies_with_them(redshift_load) -> None:
    table, store, watermarks, _files = redshift_load
    conn = RecordingConnection(copy_count=5)
    warehouse = warehouse_over(conn, access_key_id="AKIAEXAMPLE", secret_access_key="s3cr3t")
    load_table(warehouse, store, watermarks, table, run_id="run-7")
    (copy,) = [s for s in conn.statements if s.startswith("COPY")]
    assert copy.endswith(
        "ACCESS_KEY_ID 'AKIAEXAMPLE' SECRET_ACCESS_KEY 's3cr3t' FORMAT AS PARQUET MANIFEST"
    )


@pytest.mark.parametrize(
    ("copy_count", "credentials", "message"),
    [
        (4, {"iam_role": IAM_ROLE}, "COPY reported 4 rows but the files' footers hold 5"),
        (5, {}, "needs iam_role"),
    ],
    ids=["count-mismatch", "no-credentials"],
)
def test_a_failed_load_rolls_back_before_touching_the_ledger(
    redshift_load, copy_count: int, credentials: dict[str, str], message: str
) -> None:
    table, store, watermarks, _files = redshift_load
    conn = RecordingConnection(copy_count=copy_count)
    with pytest.raises(LoadError, match=message):
        load_table(warehouse_over(conn, **credentials), store, watermarks, table, run_id="run-7")
    # Refused while staging: the target was never locked, nothing was committed after it.
    statements = conn.statements
    staging = statements[statements.index('SELECT "file_key" FROM "analytics"."mysql_redshift_loads" WHERE "table_name" = %s') :]  # fmt: skip
    assert "ROLLBACK" in staging and "COMMIT" not in staging[: staging.index("ROLLBACK")]
    assert not any(s.startswith(("LOCK", "INSERT", "DELETE")) for s in statements)
    assert conn.ledger == set()


def test_unknown_keys_reach_redshift_as_auto_and_are_reported(
    tmp_path: Path, redshift_load, caplog: pytest.LogCaptureFixture
) -> None:
    _table, store, watermarks, _files = redshift_load
    table = make_table(
        tmp_path, distkey="region", sortkey={"type": "interleaved", "columns": ["x"]}
    )
    conn = RecordingConnection(copy_count=5)
    with caplog.at_level(logging.WARNING, logger="mysql_redshift_assets.sync.load"):
        _result, warnings = load_table(
            warehouse_over(conn, iam_role=IAM_ROLE), store, watermarks, table, run_id="run-7"
        )
    assert len(warnings) == 2
    assert "key distkey: unknown column 'region'" in warnings[0]
    assert "key sortkey: unknown column(s) x" in warnings[1]
    assert all(
        w.startswith(f"{tmp_path / 'pipelines' / 'pipe.yml'}: table shop.orders") for w in warnings
    )
    assert [r.getMessage() for r in caplog.records] == warnings
    (create,) = [
        s
        for s in conn.statements
        if s.startswith('CREATE TABLE IF NOT EXISTS "analytics"."orders"')
    ]
    assert create.endswith(") DISTSTYLE AUTO SORTKEY AUTO")


# -- a key MySQL compares otherwise than bytes: the merge goes by MySQL's key identity -----------
def test_a_collated_key_merges_and_deduplicates_on_mysqls_key_identity(tmp_path: Path) -> None:
    conn = RecordingConnection()
    warehouse = warehouse_over(conn)
    request = LoadRequest(
        table=make_table(tmp_path), primary_key=["code"], cursor="updated_at", candidates=[],
        run_id="run-7",
    )  # fmt: skip
    warehouse._merge(request, '"mra_staging_0"', ["code", "note", "updated_at", "mra$key"])
    target = '"analytics"."orders"'
    cols = '"code", "note", "updated_at", "mra$key"'
    assert conn.log == [
        (
            f'DELETE FROM {target} USING "mra_staging_0" '
            f'WHERE {target}."mra$key" = "mra_staging_0"."mra$key"',
            None,
        ),
        (
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() "
            'OVER (PARTITION BY "mra$key" ORDER BY "updated_at" DESC NULLS LAST) AS "mra_rank" '
            'FROM "mra_staging_0") AS "latest" WHERE "mra_rank" = 1',
            None,
        ),
    ]


# -- two versions of a key in one load: the latest wins, never a tie left to ROW_NUMBER -------------
def test_files_with_the_order_column_merge_by_cursor_nulls_last_then_file_then_row(
    tmp_path: Path,
) -> None:
    """Staging mirrors the file (the order column last: COPY maps Parquet columns by
    position); the target's columns stay the recorded ones; the merge orders by the cursor,
    NULLs last, then `mra$order` (file sequence, then row)."""
    table = make_table(tmp_path)
    store = S3LikeStore(tmp_path / "store")
    files = _write_files(store, tmp_path, [3, 2], ordered=True)
    assert read_footer(tmp_path / "0.parquet").ordered
    watermarks = WatermarkStore(store)
    watermarks.save(
        table,
        Watermark(
            table="shop.orders", mode="incremental", primary_key=["id"], cursor="updated_at",
            columns={"id": "id", "190_time": "col_190_time", "Order Total": "order_total",
                     "note": "note", "updated_at": "updated_at"},
            files=files,
        ),
    )  # fmt: skip
    conn = RecordingConnection(copy_count=5)
    load_table(warehouse_over(conn, iam_role=IAM_ROLE), store, watermarks, table, run_id="r")
    target = '"analytics"."orders"'
    cols = '"id", "col_190_time", "order_total", "note", "updated_at"'
    statements = [sql for sql, _ in conn.normalized()]  # the staging name's token as T
    create_target = next(s for s in statements if s.startswith("CREATE TABLE"))
    assert "mra$order" not in create_target
    assert (
        'CREATE TEMP TABLE "mra_staging_T_0" ("id" BIGINT, "col_190_time" INTEGER, '
        '"order_total" DECIMAL(12,2), "note" VARCHAR(160), "updated_at" TIMESTAMP, '
        '"mra$order" BIGINT)'
    ) in statements
    assert (
        f"INSERT INTO {target} ({cols}) SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() "
        'OVER (PARTITION BY "id" ORDER BY "updated_at" DESC NULLS LAST, "mra$order" DESC) '
        'AS "mra_rank" FROM "mra_staging_T_0") AS "latest" WHERE "mra_rank" = 1'
    ) in statements


def test_the_order_column_numbers_rows_by_file_sequence_then_place(tmp_path: Path) -> None:
    store = S3LikeStore(tmp_path / "store")
    _write_files(store, tmp_path, [3, 2], ordered=True)
    first = pq.read_table(tmp_path / "0.parquet")
    second = pq.read_table(tmp_path / "1.parquet")
    assert first.column_names[-1] == "mra$order"
    assert first["mra$order"].to_pylist() == [0, 1, 2]
    assert second["mra$order"].to_pylist() == [1 << 32, (1 << 32) + 1]
    # Files with and without the column never share a staging table (a COPY).
    (tmp_path / "old").mkdir()
    unordered = _write_files(S3LikeStore(tmp_path / "old_store"), tmp_path / "old", [1])
    assert read_footer(tmp_path / "1.parquet").fingerprint != unordered[0].fingerprint
    assert (
        read_footer(tmp_path / "1.parquet").columns
        == read_footer(tmp_path / "old" / "0.parquet").columns
    )


def test_without_a_cursor_the_order_column_alone_decides(tmp_path: Path) -> None:
    conn = RecordingConnection()
    request = LoadRequest(
        table=make_table(tmp_path), primary_key=["id"], cursor=None, candidates=[], run_id="r"
    )
    warehouse_over(conn)._merge(request, '"mra_staging_0"', ["id", "note"], ordered=True)
    assert conn.statements[-1].endswith(
        'ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "mra$order" DESC) AS "mra_rank" '
        'FROM "mra_staging_0") AS "latest" WHERE "mra_rank" = 1'
    )


def test_a_target_loaded_before_the_key_identity_is_refused_before_any_change(
    tmp_path: Path,
) -> None:
    conn = RecordingConnection(tables={("analytics", "orders"): ["code", "note"]})
    warehouse = warehouse_over(conn)
    request = LoadRequest(
        table=make_table(tmp_path), primary_key=["code"], cursor=None, candidates=[],
        run_id="run-7",
    )  # fmt: skip
    columns = [_column("code", "code", "VARCHAR(40)"), _column("note", "note", "VARCHAR(160)"),
               _column("mra$key", "mra$key", "VARCHAR(641)")]  # fmt: skip
    with pytest.raises(LoadError, match=r"holds rows loaded before .* watermark reset -t shop"):
        warehouse.ensure_target(request, columns)
    assert not any(s.startswith("ALTER") for s in conn.statements)


# -- values longer than their column, zero-row files, ERROR 1023 ---------------------------------
def _write_notes(store: S3LikeStore, tmp_path: Path, notes: list[str]) -> FileRecord:
    path = tmp_path / "notes.parquet"
    writer = ParquetFileWriter(path, ARROW, COLUMNS)
    n = len(notes)
    writer.write(
        pa.record_batch(
            [pa.array(range(n), pa.int64()), pa.array([1] * n, pa.int32()),
             pa.array([None] * n, pa.decimal128(12, 2)), pa.array(notes),
             pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * n, ARROW.field(4).type)],
            schema=ARROW,
        )
    )  # fmt: skip
    writer.close()
    footer = read_footer(path)
    key = "pipe/shop/orders/incremental/0000000009.parquet"
    stored = store.put_file(path, key)
    return FileRecord(key=key, rows=footer.rows, bytes=stored.size,
                      fingerprint=footer.fingerprint, run_id="ext-1",
                      written_at=datetime.now(UTC))  # fmt: skip


def test_a_value_longer_than_its_varchar_in_utf8_is_refused_before_any_write(
    tmp_path: Path,
) -> None:
    # "note" is VARCHAR(160): 80 accented letters are 160 bytes and fit, 81 are 162 and do not.
    store = S3LikeStore(tmp_path / "store")
    record = _write_notes(store, tmp_path, ["é" * 80, "é" * 81, "plain"])
    conn = RecordingConnection(copy_count=3)
    request = dataclasses.replace(_request(make_table(tmp_path)), candidates=[record])
    with pytest.raises(LoadError) as err:
        warehouse_over(conn, iam_role=IAM_ROLE).load(request, store)
    message = str(err.value)
    assert "column 'note'" in message and "162 bytes" in message and "VARCHAR(160)" in message
    assert record.key in message and "re-extract" in message
    assert not any(s.startswith(("COPY", "LOCK", "INSERT", "DELETE")) for s in conn.statements)
    assert conn.ledger == set()


def test_a_zero_row_file_is_recorded_but_never_copied(tmp_path: Path) -> None:
    store = S3LikeStore(tmp_path / "store")
    (empty,) = _write_files(store, tmp_path, [0])
    table = make_table(tmp_path)
    conn = RecordingConnection(copy_count=0)
    request = LoadRequest(table=dataclasses.replace(table, mode="full"), primary_key=["id"],
                          cursor=None, candidates=[empty], run_id="run-9")  # fmt: skip
    result = warehouse_over(conn, iam_role=IAM_ROLE).load(request, store)
    assert result.rows_loaded == 0 and result.copies == [] and result.files_loaded == [empty.key]
    statements = conn.statements
    assert not any(s.startswith(("COPY", "CREATE TEMP")) for s in statements)
    assert 'DELETE FROM "analytics"."orders"' in statements  # the generation still replaces
    assert conn.ledger == {empty.key}


def test_error_1023_rolls_back_and_the_load_runs_again(redshift_load) -> None:
    table, store, watermarks, files = redshift_load
    conn = RecordingConnection(copy_count=5)
    conn.fail_commits = 1
    result, _ = load_table(
        warehouse_over(conn, iam_role=IAM_ROLE), store, watermarks, table, run_id="run-7"
    )
    assert result.attempts == 2 and result.rows_loaded == 5 and result.copies == [5]
    assert conn.ledger == {f.key for f in files}
    assert [s for s in conn.statements if s.startswith("COPY")] and len(
        [s for s in conn.statements if s.startswith("LOCK")]
    ) == 2
    # Each attempt stages under a name of its own.
    creates = [s for s in conn.statements if s.startswith("CREATE TEMP TABLE")]
    assert len(creates) == 2 and creates[0] != creates[1]


def test_a_value_longer_than_an_existing_narrower_target_column_is_refused(tmp_path: Path) -> None:
    # The target was created when "note" was planned narrower (a latin1 column sized in latin1
    # bytes): the staging COPY would pass, the merge into the target would not.
    store = S3LikeStore(tmp_path / "store")
    record = _write_notes(store, tmp_path, ["é" * 60, "plain"])
    conn = RecordingConnection(
        copy_count=2, tables={("analytics", "orders"): [c.name for c in COLUMNS]}
    )
    conn.widths[("analytics", "orders")] = {"note": 100}
    request = dataclasses.replace(_request(make_table(tmp_path)), candidates=[record])
    with pytest.raises(LoadError) as err:
        warehouse_over(conn, iam_role=IAM_ROLE).load(request, store)
    message = str(err.value)
    assert "column 'note' of the target analytics.orders is VARCHAR(100)" in message
    assert "120 bytes" in message and "ALTER COLUMN note TYPE VARCHAR(160)" in message
    assert "mysql-redshift ddl -t shop.orders" in message
    assert not any(s.startswith(("COPY", "LOCK", "INSERT", "DELETE")) for s in conn.statements)
