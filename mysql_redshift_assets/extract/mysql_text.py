"""Values as MySQL's text protocol delivers them (str / bytes / None) -> the planner's Arrow types.

A source streams rows without Python type conversion; whole columns are converted to Arrow at
once, which is exact (decimals never pass through float) and much faster than per value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pymysql.converters

from mysql_redshift_assets.extract.schema_types import PlannedColumn


def raw_conversions() -> dict[Any, Any]:
    """The pymysql ``conv`` that makes every fetched value ``str``, ``bytes`` or None.

    ``conv={}`` does not work: pymysql takes its *encoders* from ``conv`` too, and connecting
    fails ("no default type converter defined") when it escapes its own autocommit setting.
    Keeping the encoders (type keys) and dropping the decoders (int keys) is what works.
    """
    return {k: v for k, v in pymysql.converters.conversions.items() if not isinstance(k, int)}


def raw_to_arrow(col: PlannedColumn, values: Sequence[str | bytes | None]) -> pa.Array:
    """Convert values fetched over MySQL's text protocol to ``col.arrow_type``.

    Open the streaming connection as
    ``pymysql.connect(..., conv=raw_conversions(), cursorclass=pymysql.cursors.SSCursor)`` and
    run ``SET time_zone = '+00:00'`` on it before selecting ``col.select_expr`` values, so that
    TIMESTAMP columns arrive in UTC. Values are then ``str`` (numbers, dates, text, JSON, enum,
    set, time) or ``bytes`` (binary-charset columns: binary, blobs, bit, geometry) or None.
    Conversion is vectorised in Arrow; only BIT needs per-value Python work.
    """
    arrow_type = col.arrow_type
    try:
        if col.source.data_type == "bit":
            return _bits_to_arrow(values, arrow_type)
        if pa.types.is_binary(arrow_type):
            return pa.array(values, pa.binary())
        # Arrow accepts bytes for a string array and checks they are UTF-8.
        text = pa.array(values, pa.string())
        if pa.types.is_string(arrow_type):
            return text
        if pa.types.is_date32(arrow_type) or pa.types.is_timestamp(arrow_type):
            return to_temporal(text, arrow_type)
        return text.cast(arrow_type)
    except pa.ArrowInvalid as exc:
        raise ValueError(
            f"column {col.source.name!r} ({col.source.column_type}) cannot become "
            f"{arrow_type}: {exc}"
        ) from exc


def to_temporal(text: pa.Array, arrow_type: pa.DataType) -> pa.Array:
    # A direct cast to a zoned type is refused: parse naive first, then declare it UTC.
    naive = pa.date32() if pa.types.is_date32(arrow_type) else pa.timestamp("us")
    try:
        parsed = text.cast(naive)
    except pa.ArrowInvalid:
        # Zero and impossible dates are rare; checking every value up front would cost 3x.
        parsed = _null_invalid_dates(text).cast(naive)
    return parsed.cast(arrow_type)


def _null_invalid_dates(text: pa.Array) -> pa.Array:
    """NULL where the date part is zero (0000-00-00, 2024-00-00) or impossible (2024-02-31)."""
    day = pc.utf8_slice_codeunits(text, 0, 10)
    # strptime is lenient (Feb 31 rolls over to March), so a round trip exposes bad dates.
    parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
    valid = pc.equal(parsed.cast(pa.date32()).cast(pa.string()), day)
    return pc.if_else(pc.fill_null(valid, False), text, pa.scalar(None, pa.string()))


def _bits_to_arrow(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    # BIT arrives as big-endian bytes of ceil(M/8) length; Arrow has no kernel for that.
    numbers = [None if v is None else int.from_bytes(v, "big") for v in values]
    if pa.types.is_boolean(arrow_type):
        return pa.array([None if n is None else n != 0 for n in numbers], pa.bool_())
    if pa.types.is_decimal(arrow_type):
        return pa.array([None if n is None else str(n) for n in numbers]).cast(arrow_type)
    return pa.array(numbers, arrow_type)


def raw_text(value: Any) -> str:
    """A value as the MySQL text protocol sent it (str, or bytes for binary columns), as text."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)
