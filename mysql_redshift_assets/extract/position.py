"""Where a keyset extraction stands, and the one conversion between a position and keyset values.

A position is the ordering values of the last row durably in a file, exactly as MySQL's text
protocol printed them. The keyset is `(cursor, pk...)`, or `(pk...)` when the cursor is the
primary key (or there is none); `keyset_values` and `position_of` are the only two places that
know that shape (the page loop, the sensor's probe and `validate` all go through them).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict


class Position(BaseModel):
    """The last extracted row's ordering values, exactly as MySQL returned them (text)."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = None
    pk: list[str] = []


def position_of(values: Sequence[str], *, cursor_is_pk: bool) -> Position:
    """The position of a row whose keyset values are `values` (in keyset order)."""
    if cursor_is_pk:
        return Position(cursor=None, pk=list(values))
    return Position(cursor=values[0], pk=list(values[1:]))


def keyset_values(position: Position | None, *, cursor_is_pk: bool) -> list[str] | None:
    """The values a keyset page continues after (`None`: from the start).

    A position set by hand may hold fewer values than the keyset (`watermark set --timestamp`):
    the page query then reads from those leading values on (see `keyset.after_predicate`)."""
    if position is None:
        return None
    values = position.pk if cursor_is_pk else [position.cursor or "", *position.pk]
    return values or None
