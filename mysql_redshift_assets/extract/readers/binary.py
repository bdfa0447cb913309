"""What the two binary-protocol readers share: the SELECT list, the conversions, the page reader.

Both `readers/wire.py` (the default where its C parser is built) and `readers/connectorx.py`
read MySQL's binary protocol; this module makes what they read exact and turns it into the
planner's Arrow schema, so both give the text-protocol reader's schema and values.

pymysql parses MySQL's wire in Python (about 40k rows/s on one core). connectorx reads the binary
protocol in Rust with the GIL released (about 300k rows/s), so a page can be fetched while the
previous one is converted and written. Read naively it is not exact, though: it widens DECIMAL to
decimal128(38,10) (a scale above 10 comes back wrong, over 28 digits it fails), returns TIMESTAMP
in the session time zone, fails on zero dates and TIME beyond 24 h, and has no GEOMETRY. So every
planned column is selected with an expression connectorx carries exactly, and converted with the
planner's own kernels, so both paths give the same Arrow schema and values:

| planner type (MySQL)            | selected as                     | converted                       |
|---------------------------------|---------------------------------|---------------------------------|
| integers, year                  | the column (binary integers)    | Arrow cast to the planned int   |
| bigint unsigned                 | the column (uint64)             | cast to decimal128(20,0)        |
| double, real                    | the column (float64)            | as is                           |
| float                           | the planner's `(f * 1E0)`       | cast float64 -> float32 (exact) |
| decimal(p, s), s <= 10, p-s<=18 | the column (decimal128(38,10))  | exact cast to decimal128(p,s)   |
| any other decimal, or one in    | CAST(c AS CHAR)                 | the planner's text -> decimal   |
|     the keyset                  |                                 |                                 |
| date, datetime, timestamp       | IF(c = 0, NULL, c)              | binary date / timestamp, UTC    |
| ... as an order column, or      | CAST(c AS CHAR), in UTC         | the planner's text -> temporal  |
|     after an impossible date    |                                 | (zero / impossible dates: NULL) |
| time, json                      | CAST(c AS CHAR)                 | text                            |
| char, varchar, *text, enum, set | the column                      | text                            |
| binary, varbinary, *blob        | the column                      | binary                          |
| geometry                        | the planner's ST_AsBinary(g)    | binary (WKB)                    |
| bit(n)                          | (c + 0), an unsigned integer    | bool / int64 / decimal128(20,0) |
| `mra$key` (key_identity.py)     | its HEX(WEIGHT_STRING(..)) expr | text                            |

The zero date (0000-00-00, 0000-00-00 00:00:00) is NULLed by the server, so a temporal column
travels as a binary value. A partly zero date (2024-00-05) or an impossible one (2024-02-31, stored
under ALLOW_INVALID_DATES) makes connectorx fail on the page instead (it cannot represent one, so
it never passes one on): that page and the rest of the run then read the table's temporal
columns as text and convert them as pymysql's path does (zero and impossible dates: NULL).

Every session runs `SET time_zone = '+00:00'` first (TIMESTAMP values and bounds in UTC, as on the
pymysql connection). Keyset values are rendered into the SQL by the source exactly as pymysql
renders its parameters (connectorx has no bound parameters). A page's position (its last row's
ordering values) is read from the raw columns by `position.KeyColumn`, as on the pymysql path:
integers print as MySQL prints them, binary keys are bytes (held as `hex:`), the other supported
order columns are MySQL's text.

Not covered, so the caller keeps the pymysql path: an order column of another type (zerofill,
float, bit, year), an unknown column type, and any query connectorx cannot run
(`BinaryPathUnavailable`, whose message never carries the connection URL or the password).
connectorx needs a user with a password (no socket authentication): it connects over TCP to
the source's host/port (or SSH tunnel end) with the source's user. This module imports no
Dagster; `extract/table.py` drives the pages.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from mysql_redshift_assets.extract.key_identity import IDENTITY_TYPE
from mysql_redshift_assets.extract.mysql_text import to_temporal
from mysql_redshift_assets.extract.schema_types import (
    BINARY_TYPES,
    GEOMETRY_TYPES,
    INTEGER_TYPES,
    TEXT_TYPES,
    PlannedColumn,
    arrow_schema,
)
from mysql_redshift_assets.extract.shaping import HASHED_TYPE
from mysql_redshift_assets.identifiers import quote_mysql_ident

_TEMPORAL = {"date", "datetime", "timestamp"}
# connectorx reads DECIMAL through rust_decimal (28 significant digits) into decimal128(38,10):
# exact when the scale is at most 10 and the integer digits at most 18 (value x 10^10 < 10^28).
# Past that it fails, or (scale > 10) returns wrong digits: those columns travel as text.
_CX_SCALE, _CX_DIGITS = 10, 28


class BinaryPathUnavailable(RuntimeError):
    """connectorx could not run this query (or returned an unexpected type): use pymysql."""


class TemporalUnreadable(BinaryPathUnavailable):
    """A binary temporal value connectorx cannot represent: read temporals as text instead."""


@dataclass(frozen=True)
class BinaryColumn:
    planned: PlannedColumn
    expr: str
    # int | uint64 | decimal | double | float | string | binary | text | bits | temporal
    kind: str


def binary_column(
    col: PlannedColumn, *, binary_temporal: bool = True, order: bool = False
) -> BinaryColumn | None:
    """How connectorx reads one planned column exactly; None when it cannot. An `order`
    (keyset) column is read so that its raw value gives the position exactly."""
    dt = col.source.data_type
    if dt in (IDENTITY_TYPE, HASHED_TYPE):  # hex text computed by MySQL (key identity, HMAC)
        return BinaryColumn(col, col.select_expr, "string")
    quoted = quote_mysql_ident(col.source.name)
    as_text = f"CAST({quoted} AS CHAR)"
    if dt in ("decimal", "numeric") and order:  # MySQL's exact text: the position's own
        return BinaryColumn(col, as_text, "text")
    if dt in INTEGER_TYPES or dt == "year":
        kind = "uint64" if pa.types.is_decimal(col.arrow_type) else "int"
        return BinaryColumn(col, quoted, kind)
    if dt in _TEMPORAL and binary_temporal:
        return BinaryColumn(col, f"IF({quoted} = 0, NULL, {quoted})", "temporal")
    if dt in ("decimal", "numeric") and pa.types.is_decimal(col.arrow_type):
        p, s = col.arrow_type.precision, col.arrow_type.scale
        if s <= _CX_SCALE and p - s <= _CX_DIGITS - _CX_SCALE:
            return BinaryColumn(col, quoted, "decimal")
    if dt in ("decimal", "numeric") or dt in _TEMPORAL or dt in ("time", "json"):
        return BinaryColumn(col, as_text, "text")
    if dt == "float":
        return BinaryColumn(col, col.select_expr, "float")
    if dt in ("double", "real"):
        return BinaryColumn(col, quoted, "double")
    if dt == "bit":
        return BinaryColumn(col, f"({quoted} + 0)", "bits")
    if dt in TEXT_TYPES:
        return BinaryColumn(col, quoted, "string")
    if dt in BINARY_TYPES:
        return BinaryColumn(col, quoted, "binary")
    if dt in GEOMETRY_TYPES:
        return BinaryColumn(col, col.select_expr, "binary")
    return None


def _order_supported(col: BinaryColumn) -> bool:
    """Order columns whose MySQL text the raw connectorx value reproduces exactly."""
    source = col.planned.source
    if col.kind in ("int", "uint64"):
        return source.data_type != "year" and "zerofill" not in source.column_type
    # binary: the raw bytes (positions hold them as hex, `position.KeyColumn`)
    return col.kind in ("string", "text", "binary") and source.data_type not in GEOMETRY_TYPES


@dataclass(frozen=True)
class BinaryPlan:
    columns: tuple[BinaryColumn, ...]
    order_indexes: tuple[int, ...]
    schema: pa.Schema

    @property
    def select_list(self) -> list[str]:
        return [c.expr for c in self.columns]

    @property
    def binary_temporal(self) -> bool:
        return any(c.kind == "temporal" for c in self.columns)

    def text_temporal(self) -> BinaryPlan:
        """The same plan with every temporal column read as text (after TemporalUnreadable)."""
        plan = plan_binary(
            [c.planned for c in self.columns], self.order_indexes, binary_temporal=False
        )
        assert plan is not None
        return plan


def plan_binary(
    columns: Sequence[PlannedColumn],
    order_indexes: Sequence[int],
    *,
    binary_temporal: bool = True,
) -> BinaryPlan | None:
    """The binary plan of a table, or None when any column or order column is not covered.

    Order columns are always read so that their raw value is MySQL's text (positions)."""
    if not order_indexes:
        return None
    binary = [
        binary_column(
            c, binary_temporal=binary_temporal and i not in order_indexes, order=i in order_indexes
        )
        for i, c in enumerate(columns)
    ]
    if any(f is None for f in binary):
        return None
    cols = tuple(f for f in binary if f is not None)
    if not all(_order_supported(cols[i]) for i in order_indexes):
        return None
    return BinaryPlan(cols, tuple(order_indexes), arrow_schema(list(columns)))


@dataclass
class BinaryChunk:
    """One record batch of a page: converted to the planner's schema, plus the raw order columns."""

    batch: pa.RecordBatch
    order: list[pa.Array]

    @property
    def num_rows(self) -> int:
        return self.batch.num_rows

    def order_values(self, row: int) -> list[str]:
        """The ordering values of `row` as MySQL text (what pymysql would have returned)."""
        return [str(array[row].as_py()) for array in self.order]


def convert_column(col: BinaryColumn, raw: pa.Array) -> pa.Array:
    target = col.planned.arrow_type
    t = raw.type
    kind = col.kind
    if kind in ("int", "uint64", "bits"):
        if not pa.types.is_integer(t):
            raise BinaryPathUnavailable(f"expected an integer, got {t}")
        if kind == "bits" and pa.types.is_boolean(target):
            return pc.not_equal(raw, 0)
        return raw.cast(target)  # safe cast: a value out of the planned range raises
    if kind in ("double", "float"):
        if not pa.types.is_floating(t):
            raise BinaryPathUnavailable(f"expected a floating point number, got {t}")
        return raw.cast(target)
    if kind == "decimal":
        if not pa.types.is_decimal(t):
            raise BinaryPathUnavailable(f"expected a decimal, got {t}")
        return raw.cast(target)  # a safe cast: exact here, refused if any digit were lost
    if kind == "temporal":
        if pa.types.is_timestamp(t) and pa.types.is_timestamp(target):
            return raw.cast(pa.timestamp(target.unit)).cast(target)  # UTC wall clock -> UTC
        if (pa.types.is_date32(t) or pa.types.is_date64(t)) and pa.types.is_date32(target):
            return raw.cast(target)
        raise BinaryPathUnavailable(f"expected a date or timestamp, got {t}")
    if kind == "binary":
        if not (pa.types.is_binary(t) or pa.types.is_large_binary(t)):
            raise BinaryPathUnavailable(f"expected bytes, got {t}")
        return raw.cast(pa.binary())
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise BinaryPathUnavailable(f"expected text, got {t}")
    text = raw.cast(pa.string())
    if pa.types.is_string(target):
        return text
    # The same kernels as mysql_text.raw_to_arrow: identical values, zero dates -> NULL.
    if pa.types.is_date32(target) or pa.types.is_timestamp(target):
        return to_temporal(text, target)
    return text.cast(target)


def convert_batch(plan: BinaryPlan, raw: pa.RecordBatch) -> BinaryChunk:
    if raw.num_columns != len(plan.columns):
        raise BinaryPathUnavailable(f"expected {len(plan.columns)} columns, got {raw.num_columns}")
    arrays = []
    for col, array in zip(plan.columns, raw.columns, strict=True):
        source = col.planned.source
        try:
            arrays.append(convert_column(col, array))
        except (BinaryPathUnavailable, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            # Not decided here: the pymysql path reads the page again, and a value that cannot
            # become its planned type fails there, with the planner's own message.
            raise BinaryPathUnavailable(
                f"column {source.name!r} ({source.column_type}) as {col.planned.arrow_type}: "
                f"{str(exc)[:200]}"
            ) from None
    batch = pa.RecordBatch.from_arrays(arrays, schema=plan.schema)
    return BinaryChunk(batch, [raw.column(i) for i in plan.order_indexes])


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
_allocator_tuned = False


def keep_rss_flat(threshold: int = 1 << 20) -> None:
    """Make glibc give freed page buffers back to the OS (once per process, glibc only).

    connectorx builds each page in Rust with the system allocator, from threads it creates per
    query. glibc serves those multi-megabyte buffers from per-thread arenas and, as they are
    freed, raises its mmap threshold, so freed pages stay resident: about 60 MB more RSS over
    the first pages of a table, growing with the number of arenas. A fixed threshold of 1 MiB
    (which also turns the adaptive one off) maps such buffers directly and unmaps them when
    freed; small allocations are untouched, and pyarrow's buffers use its own pool anyway.
    The wire reader passes 8 MiB: its column buffers are fewer and bigger, and mapping each one
    fresh cost 0.3 CPU s a 2M-row table in page faults (`make bench`: 282-298 MB at 2M and 4M).
    """
    global _allocator_tuned
    if _allocator_tuned or not sys.platform.startswith("linux"):
        return
    _allocator_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, threshold)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass
