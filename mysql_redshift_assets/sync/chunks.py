"""Rows on their way to a file, with the keyset position of their first and last row."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mysql_redshift_assets.extract.fast_reader import (
    FastChunk,
)
from mysql_redshift_assets.extract.schema_types import raw_text
from mysql_redshift_assets.state.watermark import (
    Position,
)
from mysql_redshift_assets.sync.plan import TablePlan


def row_position(row: tuple[Any, ...], plan: TablePlan) -> Position:
    return values_position([raw_text(row[i]) for i in plan.order_indexes], plan)


def values_position(values: list[str], plan: TablePlan) -> Position:
    if plan.cursor_is_pk:
        return Position(cursor=None, pk=values)
    return Position(cursor=values[0], pk=values[1:])


def after_values(position: Position | None, plan: TablePlan) -> list[str] | None:
    if position is None:
        return None
    values = position.pk if plan.cursor_is_pk else [position.cursor or "", *position.pk]
    return values or None


class RawChunk:
    """Rows as pymysql returned them (text), converted when written."""

    def __init__(self, rows: list[tuple[Any, ...]], plan: TablePlan) -> None:
        self.rows, self.plan = rows, plan

    @property
    def num_rows(self) -> int:
        return len(self.rows)

    def piece(self, start: int, length: int) -> tuple[pa.RecordBatch, Position, Position]:
        rows = self.rows[start : start + length]
        return (
            self.plan.to_batch(rows),
            row_position(rows[0], self.plan),
            row_position(rows[-1], self.plan),
        )


class ArrowChunk:
    """A record batch the fast reader already converted, with its raw ordering columns."""

    def __init__(self, chunk: FastChunk, plan: TablePlan) -> None:
        self.chunk, self.plan = chunk, plan

    @property
    def num_rows(self) -> int:
        return self.chunk.num_rows

    def piece(self, start: int, length: int) -> tuple[pa.RecordBatch, Position, Position]:
        first = values_position(self.chunk.order_values(start), self.plan)
        last = values_position(self.chunk.order_values(start + length - 1), self.plan)
        return self.chunk.batch.slice(start, length), first, last
