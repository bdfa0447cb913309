"""Where a keyset extraction stands, and the conversions between a row, a position and the
values a page query binds.

A position is the ordering values of the last row durably in a file, as text (the watermark is
JSON): MySQL's own text for numbers, dates and strings; `hex:` and the bytes in hex for binary
keys (which need not be UTF-8). The keyset is `(cursor, pk...)`, or `(pk...)` when the cursor
is the primary key (or there is none); `keyset_values` and `position_of` are the only two places
that know that shape (the page loop, the sensor's probe and `validate` all go through them).

`Keyset` knows each keyset column's kind, and binds a position's text back with the type MySQL
must compare it as: an integer as an int (a string would be compared as a double past 2^53), a
DECIMAL as a Decimal (likewise), binary keys as bytes, ENUM and SET as their index / bitmask
(MySQL orders them by index, so that is what `>` must compare).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

HEX_MARKER = "hex:"
KeyKind = Literal["int", "decimal", "binary", "bits", "enum", "set", "text"]
_INTEGER = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint", "year"}
_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


class Position(BaseModel):
    """The last extracted row's ordering values, as text (binary keys as `hex:...`)."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = None
    pk: list[str] = []


def position_of(values: Sequence[str], *, cursor_is_pk: bool) -> Position:
    """The position of a row whose keyset values are `values` (in keyset order)."""
    if cursor_is_pk:
        return Position(cursor=None, pk=list(values))
    return Position(cursor=values[0], pk=list(values[1:]))


def keyset_values(position: Position | None, *, cursor_is_pk: bool) -> list[str] | None:
    """The values a keyset page continues after (`None`: from the start), as position text:
    bind them with `Keyset.params`.

    A position set by hand may hold fewer values than the keyset (`watermark set --timestamp`):
    the page query then reads from those leading values on (see `keyset.after_predicate`)."""
    if position is None:
        return None
    values = position.pk if cursor_is_pk else [position.cursor or "", *position.pk]
    return values or None


def enum_members(column_type: str) -> tuple[str, ...]:
    """The labels of `enum('a','b')` / `set('x','y')` in declared order (quotes undoubled)."""
    body = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    return tuple(m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", body))


@dataclass(frozen=True)
class KeyColumn:
    """One keyset column: how its raw value becomes position text, and text a parameter."""

    name: str
    kind: KeyKind
    members: tuple[str, ...] = ()  # ENUM / SET labels, in declared order

    @classmethod
    def of(cls, name: str, data_type: str, column_type: str) -> KeyColumn:
        if data_type in _INTEGER:
            return cls(name, "int")
        if data_type in ("decimal", "numeric"):
            return cls(name, "decimal")
        if data_type in _BINARY:
            return cls(name, "binary")
        if data_type == "bit":
            return cls(name, "bits")
        if data_type == "enum":
            return cls(name, "enum", enum_members(column_type))
        if data_type == "set":
            return cls(name, "set", enum_members(column_type))
        return cls(name, "text")

    def text(self, raw: Any) -> str:
        """A raw value (text protocol: str / bytes; binary protocol: an Arrow scalar, int,
        bytes, str) as position text."""
        if hasattr(raw, "as_py"):
            raw = raw.as_py()
        if isinstance(raw, bytes | bytearray | memoryview):
            raw = bytes(raw)
            if self.kind == "binary":
                return HEX_MARKER + raw.hex()
            if self.kind == "bits":  # BIT arrives as big-endian bytes
                return str(int.from_bytes(raw, "big"))
            return raw.decode()
        return str(raw)

    def param(self, value: Any) -> Any:
        """Position text -> the value bound for this column (already bound values pass)."""
        if not isinstance(value, str):
            return value
        if self.kind in ("int", "bits"):
            return int(value)
        if self.kind == "decimal":
            return Decimal(value)
        if self.kind == "binary":
            if value.startswith(HEX_MARKER):
                return bytes.fromhex(value[len(HEX_MARKER) :])
            return value.encode()  # written before positions were hex: it was UTF-8 then
        if self.kind == "enum":
            return self.members.index(value) + 1 if value in self.members else 0
        if self.kind == "set":
            return sum(1 << self.members.index(m) for m in value.split(",") if m)
        return value


@dataclass(frozen=True)
class Keyset:
    """The keyset columns in order, and whether the cursor is (part of) the primary key."""

    columns: tuple[KeyColumn, ...]
    cursor_is_pk: bool

    def position(self, raw: Sequence[Any]) -> Position:
        """The position of a row whose raw keyset values are `raw`."""
        texts = [c.text(v) for c, v in zip(self.columns, raw, strict=True)]
        return position_of(texts, cursor_is_pk=self.cursor_is_pk)

    def params(self, values: Sequence[Any] | None) -> list[Any] | None:
        """Keyset values (position text, or values already bound) -> bound parameters."""
        if values is None:
            return None
        return [c.param(v) for c, v in zip(self.columns, values, strict=False)]

    def bound(self, index: int, raw: Any) -> Any:
        """A raw value of keyset column `index` (a bound read from MySQL) as a parameter."""
        column = self.columns[index]
        return column.param(column.text(raw))
