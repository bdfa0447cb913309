"""Cheap questions a sensor asks MySQL of a table (the queries: `extract/probes.py`)."""

from __future__ import annotations

from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.extract.probes import first_row_after, max_key
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.state.watermark import Watermark


def first_row_past_watermark(
    source: Source, table: TableConfig, watermark: Watermark | None
) -> tuple[Any, ...] | None:
    """The ordering values of the first row the next run would extract, or None."""
    plan = plan_table(source, table, watermark.columns if watermark else None)
    return first_row_after(source, plan, watermark.position if watermark else None)


def max_primary_key(source: Source, table: TableConfig) -> int | None:
    return max_key(source, plan_table(source, table))
