"""The bucket SQL of each dialect, as exact text (Redshift cannot run here; MariaDB, DuckDB and
PostgreSQL run the same shapes in integration/test_reconcile.py)."""

from __future__ import annotations

import pytest

from mysql_redshift_assets.extract.schema_types import SourceColumn, plan_column
from mysql_redshift_assets.reconcile.buckets import Level, Shape, bucket_range, merge_ranges
from mysql_redshift_assets.reconcile.canonical import canonical


def col(name: str, data_type: str, column_type: str | None = None, octets: int | None = None):
    source = SourceColumn(name, data_type, column_type or data_type, True, octets, 12, 4, 6, 1)
    return plan_column(source, name.lower())


ID = col("id", "int")
ROW = [ID, col("amount", "decimal", "decimal(12,4)"), col("at", "datetime", "datetime(6)")]


def test_redshift_key_buckets_and_leaves_are_exact_text():
    shape = Shape.of("redshift", '"s"."t"', "%s", [ID])
    sql, params = shape.summary_sql(Level(width=1000), None)
    assert sql == (
        'SELECT "id" - MOD("id", CAST(1000 AS INTEGER)), COUNT(*), '
        'SUM(CAST(STRTOL(SUBSTRING(MD5(CAST("id" AS VARCHAR)), 17, 15), 16) AS DECIMAL(38,0))) '
        'FROM "s"."t" GROUP BY 1'
    )
    sql, params = shape.leaf_sql([(0, 63), (1000, 1063)], ['"id"'])
    assert sql == (
        'SELECT CAST("id" AS VARCHAR), NULL, "id" FROM "s"."t" '
        'WHERE "id" BETWEEN %s AND %s OR "id" BETWEEN %s AND %s'
    )
    assert params == [0, 63, 1000, 1063]


def test_redshift_row_hash_is_exact_text():
    shape = Shape.of("redshift", '"s"."t"', "%s", [ID], ROW)
    parts = (
        "COALESCE(MD5(CAST(\"id\" AS VARCHAR)), 'n') || "
        "COALESCE(MD5(CAST(\"amount\" AS VARCHAR)), 'n') || "
        "COALESCE(MD5(CASE WHEN \"at\" >= TIMESTAMP '0001-01-01' "
        "THEN TO_CHAR(\"at\", 'YYYY-MM-DD HH24:MI:SS.US') "
        # year 0 (1 BC, which TO_CHAR prints as 0001): shifted 400 years, printed as 0000
        "WHEN \"at\" + INTERVAL '146097 days' >= TIMESTAMP '0400-01-01' "
        "THEN '0000' || TO_CHAR(\"at\" + INTERVAL '146097 days', '-MM-DD HH24:MI:SS.US') "
        "ELSE TO_CHAR(\"at\", 'YYYY-MM-DD HH24:MI:SS.US BC') END), 'n')"
    )
    assert shape.row_md5() == f'MD5((CAST("id" AS VARCHAR) || ({parts})))'


@pytest.mark.parametrize(
    ("dialect", "bucket", "piece"),
    [
        ("mysql", "`id` - MOD(`id`, 8)", "CAST(CONV(SUBSTRING(MD5(CAST(`id` AS CHAR)), 17, 15), 16, 10) AS UNSIGNED)"),
        ("duckdb", '"id" - MOD("id", CAST(8 AS INTEGER))', "CAST('0x' || SUBSTRING(MD5(CAST(\"id\" AS VARCHAR)), 17, 15) AS BIGINT)"),
        ("postgres", '"id" - MOD("id", CAST(8 AS INTEGER))', "CAST(CAST('x' || SUBSTRING(MD5(CAST(\"id\" AS VARCHAR)), 17, 15) AS BIT(60)) AS BIGINT)"),
    ],
)  # fmt: skip
def test_each_dialect_spells_the_same_bucket_and_piece(dialect, bucket, piece):
    sql, _ = Shape.of(dialect, "T", "%s", [ID]).summary_sql(Level(width=8), None)
    assert sql == f"SELECT {bucket}, COUNT(*), SUM({piece}) FROM T GROUP BY 1"


def test_other_keys_are_bucketed_by_hash_prefix():
    key = [col("region", "varchar", "varchar(10)", 40), col("code", "varbinary", None, 8)]
    shape = Shape.of("redshift", "T", "%s", key)
    text = "(COALESCE(MD5(\"region\"), 'n') || COALESCE(MD5(TO_HEX(\"code\")), 'n'))"
    sql, params = shape.summary_sql(Level(prefix=3), None)
    assert sql.startswith(f"SELECT SUBSTRING(MD5({text}), 1, 3), COUNT(*)")
    sql, params = shape.leaf_sql(["0af", "ff1"])
    assert sql.endswith(f"WHERE SUBSTRING(MD5({text}), 1, 3) IN (%s, %s)") and params == [
        "0af",
        "ff1",
    ]
    mysql = Shape.of("mysql", "T", "%s", key).key_text()
    assert mysql == (
        "CONCAT(COALESCE(MD5(CONVERT(`region` USING utf8mb4)), 'n'), "
        "COALESCE(MD5(LOWER(HEX(`code`))), 'n'))"
    )


def test_excluded_types_are_named():
    assert canonical(col("f", "double")).excluded
    assert canonical(col("b", "blob", None, 65535)).excluded
    assert canonical(col("b", "varbinary", None, 100)).kind == "binary"
    assert canonical(col("j", "json")).kind == "raw_text"


def test_bucket_ranges_truncate_toward_zero_like_mod():
    for k in (-130, -64, -1, 0, 1, 63, 64, 1000):
        label = k - int(abs(k) % 64 * (1 if k >= 0 else -1))  # k - MOD(k, 64) in SQL
        lo, hi = bucket_range(label, 64)
        assert lo <= k <= hi
    assert merge_ranges([(10, 19), (0, 9), (30, 39)]) == [(0, 19), (30, 39)]


def test_a_windows_predicate_scopes_every_redshift_query_with_its_parameters_first():
    shape = Shape.of("redshift", '"s"."t"', "%s", [ID]).within(
        '"at" >= %s AND "at" < %s', ["2024-03-01 00:00:00", "2024-03-02 00:00:00"]
    )
    window = ["2024-03-01 00:00:00", "2024-03-02 00:00:00"]
    sql, params = shape.bounds_sql(count=True)
    assert sql == (
        'SELECT MIN("id"), MAX("id"), COUNT(*) FROM "s"."t" WHERE ("at" >= %s AND "at" < %s)'
    )
    assert params == window
    sql, params = shape.summary_sql(Level(width=1000), [(0, 999)])
    assert sql.endswith(
        'FROM "s"."t" WHERE ("at" >= %s AND "at" < %s) AND ("id" BETWEEN %s AND %s) GROUP BY 1'
    )
    assert params == [*window, 0, 999]
    sql, params = shape.leaf_sql(["ab"], ['"id"'])
    assert sql.endswith(
        'WHERE ("at" >= %s AND "at" < %s) AND SUBSTRING(MD5(CAST("id" AS VARCHAR)), 1, 2) IN (%s)'
    )
    assert params == [*window, "ab"]
