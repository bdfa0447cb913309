"""What `read_table` yields: Arrow rows in keyset order that know each row's keyset position."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.extract.position import Keyset, Position


@dataclass(frozen=True)
class Batch:
    """Rows converted to the planner's schema, with the raw ordering columns they were read with
    (MySQL's text, or integers that print as MySQL prints them): any row's position can be told,
    so a batch can be cut anywhere (at a file boundary) and each piece still knows its own."""

    data: pa.RecordBatch
    keys: tuple[Sequence[Any], ...]  # one sequence a keyset column, row-aligned with `data`
    keyset: Keyset  # how those raw values become position text

    @property
    def cursor_is_pk(self) -> bool:
        return self.keyset.cursor_is_pk

    @property
    def num_rows(self) -> int:
        return self.data.num_rows

    def position(self, row: int) -> Position:
        return self.keyset.position([k[row] for k in self.keys])

    @property
    def first(self) -> Position:
        return self.position(0)

    @property
    def last(self) -> Position:
        return self.position(self.num_rows - 1)

    def slice(self, offset: int, length: int) -> Batch:
        keys = tuple(k[offset : offset + length] for k in self.keys)
        return Batch(self.data.slice(offset, length), keys, self.keyset)
