"""Cheap questions to MySQL that are not row reads: one index-backed row or a catalog figure,
never a count of the table (a scope's count is `scope.count_in`)."""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.extract.bounds import upper_bound
from mysql_redshift_assets.extract.keyset import page_query
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.position import Position, keyset_values
from mysql_redshift_assets.extract.source import Source


def ping(source: Source) -> None:
    """A round trip to the source (`status`): raises what a connection failure raises."""
    source.query_one("SELECT 1")


def first_row_after(
    source: Source, plan: TablePlan, position: Position | None
) -> tuple[Any, ...] | None:
    """The keyset values of the first row past `position` below the late-commit bound (the
    first row a run would extract), or None."""
    page = page_query(
        select_list=plan.order_quoted,
        table_ref=plan.table_ref,
        order_by=plan.order_quoted,
        after=keyset_values(position, cursor_is_pk=plan.cursor_is_pk),
        upper=upper_bound(source, plan),
        limit=1,
        placeholder=source.placeholder,
    )
    return source.query_one(page.sql, page.params)


def max_key(source: Source, plan: TablePlan) -> int | None:
    """The largest value of the table's (integer) leading key column, or None when empty."""
    row = source.query_one(f"SELECT MAX({plan.order_quoted[0]}) FROM {plan.table_ref}")
    if row is None or row[0] is None:
        return None
    value = row[0]
    return int(value.decode() if isinstance(value, bytes) else value)


def estimated_rows(source: Source, schema: str, table: str) -> int | None:
    """MySQL's own estimate of a table's rows (information_schema.TABLES.TABLE_ROWS, InnoDB's
    sampled count), or None where unknown (a source without a catalog: the demo)."""
    if not source.has_catalog:
        return None
    row = source.query_one(
        "SELECT TABLE_ROWS FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
        (schema, table),
    )
    return int(row[0]) if row and row[0] is not None else None
