"""Schema changes as a planner table and, for Redshift, as the exact statements it would run.

Redshift changes a column's type in place only for VARCHAR(n) -> VARCHAR(m > n), and not inside
a transaction block (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html): that
statement runs alone in autocommit; every other widening rebuilds the table and swaps it in
within one transaction. No server is needed: a recording DB-API connection stands in.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from mysql_redshift_assets.load.alter import apply_changes, plan_groups
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.evolve import (
    SqlType,
    parse_type,
    plan_changes,
    refusal_message,
)
from mysql_redshift_assets.load.mysql_defaults import ColumnDefault, mysql_default
from mysql_redshift_assets.load.redshift_keep import TABLE_SQL
from mysql_redshift_assets.load.swap import swap_in
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets_tests.unit.test_redshift_sql import (
    COLUMNS,
    LEDGER_DDL,
    RecordingConnection,
    S3LikeStore,
    _request,
    _write_files,
    make_table,
    warehouse_over,
)

TARGET = '"analytics"."orders"'
SIDE = '"analytics"."orders__mra_new"'


@pytest.fixture(autouse=True)
def fixed_side_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt's side table has a name of its own (load/side.py); here a fixed one."""
    from mysql_redshift_assets.load import side

    monkeypatch.setattr(side, "side_table", lambda name: f"{name}__mra_new")


# -- the planner, as a table --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "args", "parsed"),
    [
        ("DECIMAL(12,4)", (), SqlType("decimal", precision=12, scale=4)),
        ("numeric", (None, 10, 2), SqlType("decimal", precision=10, scale=2)),
        ("character varying", (40,), SqlType("varchar", length=40)),
        ("VARCHAR", (), SqlType("varchar")),
        ("TIMESTAMP WITH TIME ZONE", (), SqlType("timestamptz")),
        ("double precision", (), SqlType("double")),
        ("FLOAT", (), SqlType("real")),
        ("int4", (), SqlType("integer")),
        ("VARBYTE(16)", (), SqlType("binary", length=16)),
    ],
)
def test_parse_type(text: str, args: tuple[Any, ...], parsed: SqlType) -> None:
    assert parse_type(text, *args) == parsed


WIDENINGS = [
    ("DECIMAL(10,2)", "DECIMAL(12,4)", True),
    ("DECIMAL(10,2)", "DECIMAL(10,4)", False),  # fewer integer digits
    ("DECIMAL(12,4)", "DECIMAL(10,2)", False),
    ("INTEGER", "BIGINT", True),
    ("SMALLINT", "INTEGER", True),
    ("BIGINT", "INTEGER", False),
    ("INTEGER", "DECIMAL(10,0)", True),
    ("BIGINT", "DECIMAL(20,0)", True),
    ("INTEGER", "DECIMAL(12,4)", False),
    ("VARCHAR(40)", "VARCHAR(80)", True),
    ("VARCHAR(80)", "VARCHAR(40)", False),
    ("VARCHAR(40)", "VARCHAR", True),
    ("INTEGER", "VARCHAR(11)", False),
    ("REAL", "DOUBLE PRECISION", False),
    ("TIMESTAMP", "TIMESTAMPTZ", False),
]


@pytest.mark.parametrize(("old", "new", "widens"), WIDENINGS)
def test_widens_to(old: str, new: str, widens: bool) -> None:
    assert parse_type(old).widens_to(parse_type(new)) is widens


def _file_column(name: str, sql_type: str) -> FileColumn:
    return FileColumn(name, name, "test", sql_type, sql_type, sql_type)


def _plan(dialect: str, old: dict[str, str], new: dict[str, str], defaults=None):
    existing = {n: (parse_type(t), t) for n, t in old.items()}
    files = [_file_column(n, t) for n, t in new.items()]
    return plan_changes(dialect, existing, files, new, defaults)


@pytest.mark.parametrize(
    ("dialect", "old", "new", "action"),
    [
        ("postgres", "DECIMAL(10,2)", "DECIMAL(12,4)", "alter"),
        ("duckdb", "INTEGER", "BIGINT", "alter"),
        ("redshift", "DECIMAL(10,2)", "DECIMAL(12,4)", "rebuild"),
        ("redshift", "INTEGER", "BIGINT", "rebuild"),
        ("redshift", "VARCHAR(40)", "VARCHAR(80)", "alter"),
        ("postgres", "VARCHAR(40)", "VARCHAR(80)", "alter"),
        ("redshift", "INTEGER", "VARCHAR(11)", "refuse"),
        ("postgres", "DECIMAL(12,4)", "DECIMAL(10,2)", "refuse"),
        ("duckdb", "VARCHAR", "VARCHAR", None),
    ],
)
def test_each_type_change_per_dialect(dialect: str, old: str, new: str, action: str | None) -> None:
    changes = _plan(dialect, {"id": "BIGINT", "c": old}, {"id": "BIGINT", "c": new})
    assert [c.action for c in changes] == ([action] if action else [])


@pytest.mark.parametrize(
    ("default", "action", "sql"),
    [
        (None, "add", None),
        (ColumnDefault("null"), "add", None),
        (ColumnDefault("literal", "5"), "add", "5"),
        (ColumnDefault("expression", "current_timestamp()"), "refuse", None),
        (ColumnDefault("implicit"), "refuse", None),
    ],
)
def test_an_added_column_takes_mysqls_default_or_is_refused(default, action, sql) -> None:
    defaults = None if default is None else {"qty": default}
    changes = _plan("redshift", {"id": "BIGINT"}, {"id": "BIGINT", "qty": "INTEGER"}, defaults)
    assert [(c.column, c.action, c.default) for c in changes] == [("qty", action, sql)]


def test_a_column_gone_from_the_files_is_refused_as_drop_or_rename() -> None:
    changes = _plan(
        "postgres",
        {"id": "BIGINT", "note": "VARCHAR(40)"},
        {"id": "BIGINT", "remark": "VARCHAR(40)"},
    )
    assert {(c.column, c.action) for c in changes} == {("note", "refuse"), ("remark", "add")}
    message = refusal_message(
        "shop.orders", "Run `mysql-redshift resync -p pipe -t shop.orders`.", changes
    )
    assert "column 'note': VARCHAR(40) -> (absent)" in message
    assert "`mysql-redshift resync -p pipe -t shop.orders`" in message


def test_an_older_pending_group_may_be_narrower_or_lack_a_column() -> None:
    class W:
        dialect = "postgres"

        def column_type(self, col: FileColumn) -> str:
            return col.postgres_type

    existing = {
        "id": (parse_type("BIGINT"), "BIGINT"),
        "note": (parse_type("VARCHAR(80)"), "VARCHAR(80)"),
    }
    older = [_file_column("id", "BIGINT")]
    newest = [_file_column("id", "BIGINT"), _file_column("note", "VARCHAR(80)")]
    assert plan_groups(cast(Warehouse, W()), existing, [older, newest], None) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("int", True, "5", ""), ColumnDefault("literal", "5")),
        (("decimal", True, "-1.50", ""), ColumnDefault("literal", "-1.50")),
        (("varchar", True, "'it''s'", ""), ColumnDefault("literal", "'it''s'")),  # MariaDB
        (("varchar", True, "abc", ""), ColumnDefault("literal", "'abc'")),  # MySQL 8
        (("int", True, None, ""), ColumnDefault("null")),
        (("int", True, "NULL", ""), ColumnDefault("null")),  # MariaDB
        (("int", False, None, ""), ColumnDefault("implicit")),
        (
            ("datetime", True, "current_timestamp()", ""),
            ColumnDefault("expression", "current_timestamp()"),
        ),
        (("int", True, "(1 + 1)", "DEFAULT_GENERATED"), ColumnDefault("expression", "(1 + 1)")),
        (("date", True, "'2024-01-01'", ""), ColumnDefault("expression", "'2024-01-01'")),
    ],
)
def test_mysql_default(args: tuple[Any, ...], expected: ColumnDefault) -> None:
    assert mysql_default(*args) == expected


# -- Redshift, as exact statements ---------------------------------------------------------------
class AutocommitRecording(RecordingConnection):
    @property
    def autocommit(self) -> bool:
        return getattr(self, "_autocommit", False)

    @autocommit.setter
    def autocommit(self, on: bool) -> None:
        self.log.append((f"<autocommit {'on' if on else 'off'}>", None))
        self._autocommit = on


EXISTING = {
    "id": (parse_type("BIGINT"), "BIGINT"),
    "order_total": (parse_type("DECIMAL(12,2)"), "DECIMAL(12,2)"),
    "note": (parse_type("VARCHAR(80)"), "VARCHAR(80)"),
    "updated_at": (parse_type("TIMESTAMP"), "TIMESTAMP"),
}


def _redshift_changes(existing):
    return plan_changes(
        "redshift", existing, COLUMNS, {c.name: c.redshift_type for c in COLUMNS}, None
    )


KEEP_READ = (TABLE_SQL, ("analytics", "orders"))
# Which columns Redshift refuses to ALTER ... TYPE in place (load/redshift_limits.py).
CATALOG_READ = (
    "SELECT column_name, column_default, encoding FROM svv_redshift_columns "
    "WHERE database_name = current_database() AND schema_name = %s AND table_name = %s",
    ("analytics", "orders"),
)


def test_redshift_widens_varchar_alone_outside_a_transaction_block(tmp_path: Path) -> None:
    conn = AutocommitRecording(tables={("analytics", "orders"): list(EXISTING)})
    warehouse = warehouse_over(conn)
    changes = _redshift_changes(EXISTING)
    assert [(c.column, c.action) for c in changes] == [("col_190_time", "add"), ("note", "alter")]
    apply_changes(warehouse, _request(make_table(tmp_path)), EXISTING, changes)
    assert conn.log == [
        CATALOG_READ,
        ("COMMIT", None),
        ("COMMIT", None),
        ("<autocommit on>", None),
        (f'ALTER TABLE {TARGET} ALTER COLUMN "note" TYPE VARCHAR(160)', None),
        ("<autocommit off>", None),
        (f'ALTER TABLE {TARGET} ADD COLUMN "col_190_time" INTEGER', None),
        ("COMMIT", None),
    ]


def test_redshift_rebuilds_for_any_other_widening_copying_outside_the_lock(
    tmp_path: Path,
) -> None:
    conn = AutocommitRecording(tables={("analytics", "orders"): list(EXISTING)})
    warehouse = warehouse_over(conn)
    existing = {**EXISTING, "order_total": (parse_type("DECIMAL(10,2)"), "DECIMAL(10,2)")}
    changes = _redshift_changes(existing)
    assert [(c.column, c.action) for c in changes] == [
        ("col_190_time", "add"), ("order_total", "rebuild"), ("note", "alter"),
    ]  # fmt: skip
    request = _request(make_table(tmp_path), distkey="id", sortkey=("compound", ["updated_at"]))
    apply_changes(warehouse, request, existing, changes)
    assert conn.log == rebuild_log(
        'CREATE TABLE {SIDE} ("id" BIGINT NOT NULL, "order_total" DECIMAL(12,2), '
        '"note" VARCHAR(160), "updated_at" TIMESTAMP) DISTKEY("id") COMPOUND SORTKEY("updated_at")'
    )


def _columns_of(table: str) -> tuple[str, tuple[str, str]]:
    return (
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        ("analytics", table),
    )


def rebuild_log(create: str) -> list[tuple[str, Any]]:
    """Redshift's rebuild: the side table filled without the lock (transaction 1), then, under
    the lock, the checks (the target's columns, its ledger rows, the side table still ours, the
    dead side tables of the table) and the swap (transaction 2)."""
    cols = '"id", "order_total", "note", "updated_at"'
    ledger = _columns_of("mysql_redshift_loads")  # no ledger yet: no rows to read
    return [
        CATALOG_READ,
        ("COMMIT", None),
        ledger,
        ledger,
        (create.format(SIDE=SIDE), None),
        (f"INSERT INTO {SIDE} ({cols}) SELECT {cols} FROM {TARGET}", None),
        ("COMMIT", None),
        (f"LOCK {TARGET}", None),
        _columns_of("orders"),
        ledger,
        ledger,
        _columns_of("orders__mra_new"),
        (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name LIKE %s",
            ("analytics", "orders__mra_1c168a_%"),
        ),
        KEEP_READ,  # load/redshift_keep.py: what the rebuild's DROP TABLE must keep
        (f"DROP TABLE {TARGET}", None),
        (f'ALTER TABLE {SIDE} RENAME TO "orders"', None),
        (f'ALTER TABLE {TARGET} ADD COLUMN "col_190_time" INTEGER', None),
        ("COMMIT", None),
    ]


def test_redshift_swaps_a_generation_in_copying_outside_the_lock(tmp_path: Path) -> None:
    table = make_table(tmp_path)
    store = S3LikeStore(tmp_path / "store")
    files = _write_files(store, tmp_path, [3, 2])
    conn = AutocommitRecording(copy_count=5, tables={("analytics", "orders"): ["id"]})
    warehouse = warehouse_over(conn, iam_role="arn:aws:iam::1:role/r")
    request = replace(_request(table), candidates=files)
    result = swap_in(warehouse, store, request)
    assert result.rows_loaded == 5 and result.files_loaded == [f.key for f in files]
    statements = [s for s in conn.statements if "information_schema" not in s]
    # Transaction 1, after ensure_ledger's: the ledger read, the side table filled; no LOCK.
    begin = statements.index(LEDGER_DDL) + 3
    end = begin + statements[begin:].index("COMMIT")
    fill = statements[begin:end]
    assert not any(s.startswith("LOCK") for s in fill)
    assert (
        fill[0]
        == 'SELECT "file_key" FROM "analytics"."mysql_redshift_loads" WHERE "table_name" = %s'
    )
    assert fill[1] == (
        f'CREATE TABLE {SIDE} ("id" BIGINT NOT NULL, "col_190_time" INTEGER, '
        '"order_total" DECIMAL(12,2), "note" VARCHAR(160), "updated_at" TIMESTAMP) '
        "DISTSTYLE AUTO SORTKEY AUTO"
    )
    # The files end with the merge's order column: COPY (by position) into a staging table
    # that mirrors them, then the recorded columns into the side table.
    staging = fill[2].split(" (")[0].removeprefix("CREATE TEMP TABLE ")
    assert staging.startswith('"mra_staging_swap_')
    assert fill[3] == "SELECT pg_last_query_id()"  # COPY's errors are the ones after it
    assert fill[4].startswith(f"COPY {staging} FROM 's3://bucket/backup/") and "MANIFEST" in fill[4]
    cols = '"id", "col_190_time", "order_total", "note", "updated_at"'
    assert fill[5:] == [
        "SELECT pg_last_copy_count()",
        f"INSERT INTO {SIDE} ({cols}) SELECT {cols} FROM {staging}",
        f"DROP TABLE {staging}",
    ]
    # Transaction 2 (after the read of whether the target exists): LOCK, the ledger re-read,
    # the swap and the ledger rows; nothing copied under the lock.
    begin = end + 2
    end = begin + statements[begin:].index("COMMIT")
    assert statements[begin:end] == [
        f"LOCK {TARGET}",
        'SELECT "file_key" FROM "analytics"."mysql_redshift_loads" WHERE "table_name" = %s',
        KEEP_READ[0],  # under the lock, before anything is written (load/redshift_keep.py)
        f"DROP TABLE {TARGET}",
        f'ALTER TABLE {SIDE} RENAME TO "orders"',
        *[
            'INSERT INTO "analytics"."mysql_redshift_loads" ("file_key", "table_name", '
            '"row_count", "run_id", "loaded_at") VALUES (%s, %s, %s, %s, GETDATE())'
        ]
        * 2,
    ]
    assert not any(s.startswith("<autocommit") for s in statements)
