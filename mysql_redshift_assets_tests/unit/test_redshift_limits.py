"""Limits Redshift enforces and PostgreSQL does not, as exact statements and messages.

- ALTER COLUMN ... TYPE is refused for a column with a DEFAULT or a BYTEDICT, RUNLENGTH, TEXT255
  or TEXT32K encoding (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html): such
  a widening takes the rebuild.
- A failed COPY names what SYS_LOAD_ERROR_DETAIL says of it
  (https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html).
- The ledger's `table_name` holds 127 + 1 + 127 + len("#deletes") bytes; an older, narrower
  ledger is widened alone in autocommit.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mysql_redshift_assets.load.alter import apply_changes
from mysql_redshift_assets.load.ledger import LEDGER_NAME_BYTES, create_ledger_sql
from mysql_redshift_assets.load.redshift_limits import refused_in_place
from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.load.widths import refuse_values_over_width
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.parquet import FileColumn, Footer
from mysql_redshift_assets_tests.unit.test_redshift_sql import (
    IAM_ROLE,
    S3LikeStore,
    _request,
    _write_files,
    make_table,
    warehouse_over,
)
from mysql_redshift_assets_tests.unit.test_schema_change_sql import (
    CATALOG_READ,
    EXISTING,
    AutocommitRecording,
    _redshift_changes,
    rebuild_log,
)


@pytest.fixture(autouse=True)
def fixed_side_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt's side table has a name of its own (load/side.py); here a fixed one."""
    from mysql_redshift_assets.load import side

    monkeypatch.setattr(side, "side_table", lambda name: f"{name}__mra_new")


# -- in-place widening or rebuild -----------------------------------------------------------------
def test_catalog_rows_decide_which_columns_redshift_refuses_to_alter() -> None:
    rows = [
        ("id", None, "az64"),
        ("note", "'none'::character varying", "lzo"),  # a DEFAULT: refused whatever the encoding
        ("code", None, "bytedict"),
        ("tag", "", "RUNLENGTH"),
        ("t1", None, "text255"),
        ("t2", None, "text32k"),
        ("body", None, "zstd"),
        ("raw", None, None),
    ]
    assert refused_in_place(rows) == {
        "note": "it has a DEFAULT ('none'::character varying)",
        "code": "it is ENCODE BYTEDICT",
        "tag": "it is ENCODE RUNLENGTH",
        "t1": "it is ENCODE TEXT255",
        "t2": "it is ENCODE TEXT32K",
    }


@pytest.mark.parametrize(
    ("default", "encoding"),
    [("'x'::character varying", "lzo"), (None, "bytedict"), (None, "text32k")],
    ids=["default", "bytedict", "text32k"],
)
def test_a_varchar_redshift_cannot_alter_is_widened_by_the_rebuild(
    tmp_path: Path, default: str | None, encoding: str
) -> None:
    conn = AutocommitRecording(tables={("analytics", "orders"): list(EXISTING)})
    conn.catalog = [("id", None, "az64"), ("note", default, encoding)]
    changes = _redshift_changes(EXISTING)
    assert [(c.column, c.action) for c in changes] == [("col_190_time", "add"), ("note", "alter")]
    apply_changes(warehouse_over(conn), _request(make_table(tmp_path)), EXISTING, changes)
    assert conn.log == rebuild_log(
        'CREATE TABLE {SIDE} ("id" BIGINT NOT NULL, "order_total" DECIMAL(12,2), '
        '"note" VARCHAR(160), "updated_at" TIMESTAMP) DISTSTYLE AUTO SORTKEY AUTO'
    )
    assert not any("<autocommit" in s for s in conn.statements)


# -- COPY failures joined to SYS_LOAD_ERROR_DETAIL ----------------------------------------------
LOAD_ERRORS = (
    "SELECT query_id, TRIM(file_name), line_number, TRIM(column_name), TRIM(column_type), "
    "TRIM(error_message) FROM sys_load_error_detail "
    "WHERE session_id = pg_backend_pid() AND query_id > %s "
    "ORDER BY query_id, line_number LIMIT 5"
)


def test_a_failed_copy_names_the_load_error_rows(tmp_path: Path) -> None:
    store = S3LikeStore(tmp_path / "store")
    files = _write_files(store, tmp_path, [3])
    conn = AutocommitRecording(copy_count=3)
    conn.copy_error = RuntimeError({"S": "ERROR", "C": "XX000", "M": "Load into table failed"})
    url = f"s3://bucket/backup/{files[0].key}"
    conn.load_errors = [(1001, url, 2, "note", "varchar", "String length exceeds DDL length")]
    request = dataclasses.replace(_request(make_table(tmp_path)), candidates=files)
    with pytest.raises(LoadError) as err:
        warehouse_over(conn, iam_role=IAM_ROLE).load(request, store)
    assert str(err.value) == (
        "COPY into the staging table of analytics.orders (shop.orders) failed (RuntimeError: "
        "{'S': 'ERROR', 'C': 'XX000', 'M': 'Load into table failed'}); target and ledger are "
        f"unchanged. SYS_LOAD_ERROR_DETAIL: query 1001 file {url} line 2 column 'note' "
        "(varchar): String length exceeds DDL length"
    )
    statements = conn.statements
    copy = next(i for i, s in enumerate(statements) if s.startswith("COPY"))
    assert statements[copy - 1] == "SELECT pg_last_query_id()"
    assert conn.log[copy + 1 : copy + 3] == [("ROLLBACK", None), (LOAD_ERRORS, (1000,))]
    assert not any(s.startswith(("LOCK", "INSERT", "DELETE")) for s in statements)
    assert conn.ledger == set()


def test_a_failed_copy_without_load_error_rows_says_so(tmp_path: Path) -> None:
    store = S3LikeStore(tmp_path / "store")
    files = _write_files(store, tmp_path, [3])
    conn = AutocommitRecording(copy_count=3)
    conn.copy_error = RuntimeError("S3ServiceException: Access Denied")
    request = dataclasses.replace(_request(make_table(tmp_path)), candidates=files)
    with pytest.raises(LoadError, match=r"Access Denied.*SYS_LOAD_ERROR_DETAIL has no row"):
        warehouse_over(conn, iam_role=IAM_ROLE).load(request, store)


# -- the ledger's table_name ----------------------------------------------------------------------
def test_the_ledger_holds_two_127_byte_names_and_the_deletes_suffix() -> None:
    longest = f"{'s' * 127}.{'t' * 127}#deletes"
    assert LEDGER_NAME_BYTES == len(longest) == 263
    assert f'"table_name" VARCHAR({len(longest)}) NOT NULL' in create_ledger_sql('"s"."l"')


def test_an_older_ledger_is_widened_alone_in_autocommit() -> None:
    conn = AutocommitRecording(tables={("analytics", "mysql_redshift_loads"): ["file_key"]})
    conn.ledger_width = 256
    warehouse_over(conn).ensure_ledger("analytics")
    assert conn.log[-7:-4] == [
        (
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = 'table_name'",
            ("analytics", "mysql_redshift_loads"),
        ),
        (CATALOG_READ[0], ("analytics", "mysql_redshift_loads")),
        ("COMMIT", None),
    ]
    assert conn.statements[-4:] == [
        "<autocommit on>",
        'ALTER TABLE "analytics"."mysql_redshift_loads" ALTER COLUMN "table_name" TYPE '
        "VARCHAR(263)",
        "<autocommit off>",
        "COMMIT",
    ]
    conn.log.clear()
    conn.ledger_width = 263
    warehouse_over(conn).ensure_ledger("analytics")
    assert not any("ALTER" in s for s in conn.statements)
    # An encoding Redshift refuses to alter (ENCODE AUTO may choose one): left as it was.
    conn.log.clear()
    conn.ledger_width = 256
    conn.catalog = [("table_name", None, "bytedict")]
    warehouse_over(conn).ensure_ledger("analytics")
    assert not any("ALTER" in s for s in conn.statements)


# -- values and rows over Redshift's limits --------------------------------------------------------
def test_a_binary_over_varbyte_names_a_fix_that_exists(tmp_path: Path) -> None:
    # It names the fix that exists: `exclude_columns:` (issue 27).
    blob = FileColumn("doc", "doc", "longblob", "VARBYTE(16777216)", "BLOB", "BYTEA")
    footer = Footer(rows=1, columns=[blob], fingerprint="f", oversize={}, truncated={},
                    max_bytes={"doc": 16_777_217})  # fmt: skip
    record = FileRecord(key="k/0.parquet", rows=1, bytes=1, fingerprint="f", run_id="r",
                        written_at=datetime.now(UTC))  # fmt: skip
    with pytest.raises(LoadError) as err:
        refuse_values_over_width(_request(make_table(tmp_path)), [record], [footer])
    assert str(err.value) == (
        "k/0.parquet: column 'doc' ('doc' in shop.orders) holds a value of 16777217 bytes, "
        "longer than its Redshift type VARBYTE(16777216); a COPY would fail. Redshift's VARBYTE "
        "stops at 16,777,216 bytes: shrink or move such values in MySQL, or leave the column "
        "out with `exclude_columns: [doc]` for table shop.orders in "
        f"{make_table(tmp_path).config_file}; then run "
        "`mysql-redshift resync -p pipe -t shop.orders` to re-extract the table"
    )
