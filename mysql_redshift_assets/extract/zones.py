"""DATETIME values are wall clocks in a declared zone: their conversion to UTC instants, and the
arithmetic of bounds in that zone.

A DATETIME carries no zone: it is what the application's clock showed (`NOW()` in a session at
`+08:00`, or a zone with daylight saving). The source's `time_zone:` (a table may override it)
says which zone; TIMESTAMP columns are instants already and are never touched here.

One rule for the wall clocks that are not one instant, the rule of Python's zoneinfo with
`fold=0`, applied the same way to values and to bounds:
- ambiguous (a fall-back repeats an hour: 01:30 on 2024-11-03 in America/New_York happened
  twice): the first occurrence, daylight time (05:30 UTC);
- non-existent (a spring-forward gap: 02:30 on 2024-03-10 never happened): read with the
  offset in force before the gap (07:30 UTC, i.e. 03:30 daylight time).
Values are converted, never dropped or refused.

MariaDB's named zones may not be loaded (`mysql.time_zone_name` empty), so every conversion
happens here, in Python, from the server's UTC clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/Zulu", "Zulu", "Universal", "Etc/Universal"}


def is_utc(zone: str) -> bool:
    return zone in _UTC_NAMES


def wall_clock(instant: datetime, zone: str) -> datetime:
    """The naive wall clock `zone` shows at the naive-UTC `instant`."""
    return instant.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def instant_of(wall: datetime, zone: str) -> datetime:
    """The naive-UTC instant of a wall clock in `zone` (the fold=0 rule above)."""
    return wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC).replace(tzinfo=None)


def lowest_wall_clock(zone: str, start: datetime, end: datetime) -> datetime:
    """The lowest wall clock `zone` shows between the naive-UTC instants `start` and `end`.

    Without a fall-back in between it is the wall clock at `start`. A fall-back turns the clock
    back: rows written after it carry wall clocks below those written before, so a window
    meant to reach back to `start` must reach down to the wall clock just after the fall-back.
    """
    lowest = wall_clock(start, zone)
    if is_utc(zone) or end <= start:
        return lowest
    for after in _fall_backs(zone, start, end):
        lowest = min(lowest, wall_clock(after, zone))
    return lowest


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _fall_backs(zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The first instant after each fall-back (offset decrease) in (start, end], to the second."""
    tz = ZoneInfo(zone)
    found, step = [], timedelta(hours=6)  # no zone changes its offset twice within 6 hours
    lo = start
    while lo < end:
        hi = min(lo + step, end)
        if _offset(tz, hi) < _offset(tz, lo):
            a, b = lo, hi  # the offset drops somewhere in (a, b]
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if _offset(tz, mid) == _offset(tz, lo) else (a, mid)
            # Zones change offsets on whole seconds: the first second of the new offset.
            first = b.replace(microsecond=0)
            found.append(first if _offset(tz, first) < _offset(tz, lo) else b)
        lo = hi
    return found


def datetimes_to_utc(array: pa.Array | pa.ChunkedArray, zone: str) -> pa.Array | pa.ChunkedArray:
    """A DATETIME column read as if its wall clocks were UTC (`timestamp[us, UTC]`), as the
    instants they are in `zone` (the same type)."""
    if is_utc(zone):
        return array
    naive = array.cast(pa.timestamp("us"))
    # Vectorised for the common case; the rare non-existent values are redone below.
    local = pc.assume_timezone(naive, zone, ambiguous="earliest", nonexistent="earliest")
    instants = local.cast(pa.timestamp("us", tz="UTC"))
    back = pc.local_timestamp(local)  # the wall clock each instant shows in `zone`
    wrong = pc.fill_null(pc.not_equal(back, naive), False)
    if not pc.any(wrong).as_py():
        return instants
    values = instants.to_pylist()
    for i, (bad, wall) in enumerate(zip(wrong.to_pylist(), naive.to_pylist(), strict=True)):
        if bad:  # in a spring-forward gap: the offset before the gap (zoneinfo's fold=0)
            values[i] = instant_of(wall, zone).replace(tzinfo=UTC)
    return pa.array(values, pa.timestamp("us", tz="UTC"))
