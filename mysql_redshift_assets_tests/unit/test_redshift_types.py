"""Every second load reads the target's types back (load/evolve.py): on Redshift, from
format_type over pg_attribute, each documented spelling parsed to its kind and width, and a
VARBYTE whose catalog row states no width is not taken for a narrowing.

Types: https://docs.aws.amazon.com/redshift/latest/dg/c_Supported_data_types.html (VARBYTE,
VARBINARY, BINARY VARYING: https://docs.aws.amazon.com/redshift/latest/dg/r_VARBYTE_type.html).
The query is AWS's own (v_generate_tbl_ddl in awslabs/amazon-redshift-utils reads
format_type(a.atttypid, a.atttypmod) from pg_attribute with attnum > 0); PG_TABLE_DEF only shows
the search_path's schemas (https://docs.aws.amazon.com/redshift/latest/dg/r_PG_TABLE_DEF.html).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mysql_redshift_assets.load.evolve import (
    FORMAT_TYPE_SQL,
    SqlType,
    parse_type,
    plan_changes,
    warehouse_columns,
)
from mysql_redshift_assets.load.redshift import RedshiftWarehouse
from mysql_redshift_assets.store.parquet import FileColumn


def test_the_catalog_query_is_exact() -> None:
    assert FORMAT_TYPE_SQL == (
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 ORDER BY a.attnum"
    )
    assert RedshiftWarehouse.catalog_types_sql == FORMAT_TYPE_SQL


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("binary varying(16)", SqlType("binary", length=16)),
        ("varbyte(16)", SqlType("binary", length=16)),
        ("VARBINARY(16)", SqlType("binary", length=16)),
        ("varbyte", SqlType("binary")),
        ("character varying(256)", SqlType("varchar", length=256)),
        ("nvarchar(10)", SqlType("varchar", length=10)),
        ("character(10)", SqlType("char")),
        ("bpchar", SqlType("char")),
        ("numeric(12,4)", SqlType("decimal", precision=12, scale=4)),
        ("smallint", SqlType("smallint")),
        ("integer", SqlType("integer")),
        ("bigint", SqlType("bigint")),
        ("real", SqlType("real")),
        ("double precision", SqlType("double")),
        ("boolean", SqlType("boolean")),
        ("date", SqlType("date")),
        ("timestamp without time zone", SqlType("timestamp")),
        ("timestamp with time zone", SqlType("timestamptz")),
        ("time without time zone", SqlType("time")),
        ("time with time zone", SqlType("timetz")),
        ("timetz", SqlType("timetz")),
        ("super", SqlType("super")),
        ("geometry", SqlType("geometry")),
    ],
)
def test_each_spelling_parses(text: str, parsed: SqlType) -> None:
    assert parse_type(text) == parsed


def _column(name: str, redshift_type: str) -> FileColumn:
    return FileColumn(name, name, "varbinary(16)", redshift_type, "BLOB", "BYTEA")


class Cluster:
    """format_type rows for `analytics.orders`, as the catalog query returns them."""

    ph = "%s"

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.catalog_types_sql = FORMAT_TYPE_SQL

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        assert (sql, tuple(params)) == (FORMAT_TYPE_SQL, ("analytics", "orders"))
        return self.rows


@pytest.mark.parametrize("catalog_text", ["varbyte", "binary varying", "varbyte(16)"])
def test_a_second_load_with_a_varbyte_column_does_not_refuse(catalog_text: str) -> None:
    """Before: `varbyte` with no width read as "unbounded" and VARBYTE(16) as a narrowing."""
    existing = warehouse_columns(
        Cluster([("id", "integer"), ("digest", catalog_text)]), "analytics", "orders"
    )
    files = [_column("id", "INTEGER"), _column("digest", "VARBYTE(16)")]
    types = {"id": "INTEGER", "digest": "VARBYTE(16)"}
    assert plan_changes("redshift", existing, files, types, None) == []


def test_a_wider_varbyte_is_still_a_rebuild_and_text_widths_come_from_format_type() -> None:
    existing = warehouse_columns(
        Cluster([("digest", "binary varying(16)"), ("name", "character varying(40)")]),
        "analytics",
        "orders",
    )
    assert existing["digest"] == (SqlType("binary", length=16), "VARBYTE(16)")
    files = [_column("digest", "VARBYTE(32)"), _column("name", "VARCHAR(40)")]
    changes = plan_changes(
        "redshift", existing, files, {"digest": "VARBYTE(32)", "name": "VARCHAR(40)"}, None
    )
    assert [(c.column, c.action) for c in changes] == [("digest", "rebuild")]


def test_redshift_varchar_widths_read_format_type() -> None:
    wh = RedshiftWarehouse("rs", connect=lambda: None)
    cluster = Cluster([("digest", "binary varying(16)"), ("name", "character varying(40)")])
    wh.fetchall = cluster.fetchall  # type: ignore[method-assign]

    class Request:
        target_schema, target_table = "analytics", "orders"

    assert wh.varchar_widths(Request()) == {"name": 40}  # type: ignore[arg-type]
