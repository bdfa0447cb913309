"""Cheap questions a sensor asks MySQL: one index-backed row, never a count of the table."""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.keyset import page_query
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.state.watermark import Watermark
from mysql_redshift_assets.sync.plan import plan_table


def first_row_past_watermark(
    source: Source, table: TableConfig, watermark: Watermark | None
) -> tuple[Any, ...] | None:
    """The ordering values of the first row the next run would extract, or None."""
    plan = plan_table(source, table, watermark)
    position = watermark.position if watermark else None
    after = None
    if position is not None:
        values = position.pk if plan.cursor_is_pk else [position.cursor or "", *position.pk]
        after = values or None
    page = page_query(
        select_list=plan.order_quoted,
        table_ref=plan.table_ref,
        order_by=plan.order_quoted,
        after=after,
        upper=plan.upper_bound(source),
        limit=1,
        placeholder=source.placeholder,
    )
    return source.query_one(page.sql, page.params)


def max_primary_key(source: Source, table: TableConfig) -> int | None:
    plan = plan_table(source, table, None)
    row = source.query_one(f"SELECT MAX({plan.order_quoted[0]}) FROM {plan.table_ref}")
    if row is None or row[0] is None:
        return None
    value = row[0]
    return int(value.decode() if isinstance(value, bytes) else value)
