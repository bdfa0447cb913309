"""Cheap questions a sensor asks MySQL: one index-backed row, never a count of the table."""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import keyset_values, plan_table, upper_bound
from mysql_redshift_assets.extract.keyset import page_query
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.state.watermark import Watermark


def first_row_past_watermark(
    source: Source, table: TableConfig, watermark: Watermark | None
) -> tuple[Any, ...] | None:
    """The ordering values of the first row the next run would extract, or None."""
    plan = plan_table(source, table, watermark.columns if watermark else None)
    position = watermark.position if watermark else None
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


def max_primary_key(source: Source, table: TableConfig) -> int | None:
    plan = plan_table(source, table)
    row = source.query_one(f"SELECT MAX({plan.order_quoted[0]}) FROM {plan.table_ref}")
    if row is None or row[0] is None:
        return None
    value = row[0]
    return int(value.decode() if isinstance(value, bytes) else value)
