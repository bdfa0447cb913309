"""Cheap questions a sensor asks MySQL of a table (the queries: `extract/probes.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymysql

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.extract.binlog.positions import (
    PositionError,
    at_or_after,
    position_from_json,
)
from mysql_redshift_assets.extract.binlog.server import server_position
from mysql_redshift_assets.extract.probes import first_row_after, max_key
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.state.watermark import Watermark
from mysql_redshift_assets.sync.binlog_copy import binlog_source


def first_row_past_watermark(
    source: Source, table: TableConfig, watermark: Watermark | None
) -> tuple[Any, ...] | None:
    """The ordering values of the first row the next run would extract, or None."""
    plan = plan_table(source, table, watermark.columns if watermark else None)
    return first_row_after(source, plan, watermark.position if watermark else None)


def max_primary_key(source: Source, table: TableConfig) -> int | None:
    return max_key(source, plan_table(source, table))


@dataclass(frozen=True)
class BinlogProbe:
    """A `capture: binlog` table's position against the server's: `new` when a run has
    something to read (the server is past the position, or there is no position yet)."""

    new: bool
    table_position: str | None  # None: no initial copy yet
    server_position: str | None

    def __str__(self) -> str:
        if self.table_position is None:
            return "no binlog position yet: the initial copy is to be made"
        relation = "past" if self.new else "at"
        return (
            f"the server's binlog ({self.server_position}) is {relation} the table's position "
            f"({self.table_position})"
        )


def binlog_past_position(
    source: Source, table: TableConfig, watermark: Watermark | None
) -> BinlogProbe:
    """Whether the server's binlog is past the table's stored position. Any transaction the
    server writes counts, on any table (the binlog is one log for the server; telling the
    table's own changes apart would mean reading it): a run then may read nothing for the table
    and only move its position."""
    if watermark is None or watermark.binlog_position is None:
        return BinlogProbe(True, None, None)
    with pymysql.connect(**binlog_source(source, table).replication_params()) as conn:
        return compare_positions(conn, watermark.binlog_position)


def compare_positions(conn: pymysql.connections.Connection, stored: dict[str, Any]) -> BinlogProbe:
    """A stored position (positions.py JSON) against the server's now, on `conn`."""
    position = position_from_json(stored)
    now = server_position(conn, position)
    try:
        behind = not at_or_after(position, now)
    except PositionError:  # another log (reset, another server): the run names the resync
        behind = True
    return BinlogProbe(behind, position.format(), now.format())
