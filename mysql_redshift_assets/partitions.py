"""Partition windows: closed-open `[lo, hi)` ranges of a timestamp or an id column.

Materialising a partition again *replaces* its window: a new generation of files supersedes the
old one, and the warehouse deletes the window and inserts the new rows in one transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

_ID_KEY = re.compile(r"^(\d+)-(\d+)$")


@dataclass(frozen=True)
class Window:
    key: str
    kind: Literal["time", "id"]
    lo: str  # inclusive; UTC 'YYYY-MM-DD HH:MM:SS' for time, a decimal integer for ids
    hi: str  # exclusive

    @property
    def safe_key(self) -> str:
        """The key as it appears in object-store paths (no ':' or spaces)."""
        return re.sub(r"[^A-Za-z0-9_.-]", "", self.key.replace(" ", "T"))


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def time_window(key: str, start: datetime, end: datetime) -> Window:
    return Window(key=key, kind="time", lo=utc_text(start), hi=utc_text(end))


def id_range_key(lo: int, size: int) -> str:
    return f"{lo}-{lo + size}"


def id_window(key: str) -> Window:
    match = _ID_KEY.match(key)
    if not match or int(match.group(1)) >= int(match.group(2)):
        raise ValueError(f"id-range partition key {key!r} is not '<lo>-<hi>'")
    return Window(key=key, kind="id", lo=match.group(1), hi=match.group(2))


def id_range_keys(max_id: int, size: int, *, min_id: int = 0) -> list[str]:
    """Every range of `size` ids from the one holding `min_id` to the one holding `max_id`."""
    if max_id < min_id:
        return []
    first = (min_id // size) * size
    return [id_range_key(lo, size) for lo in range(first, max_id + 1, size)]


# Dagster's key formats for the YAML's granularities (`defs/partitions.py` builds them).
_TIME_KEY_FORMATS = {"hourly": "%Y-%m-%d-%H:%M", "daily": "%Y-%m-%d", "monthly": "%Y-%m-%d"}


def time_key_window(key: str, granularity: str, timezone: str) -> Window:
    """The window of a time partition key, as Dagster's time partitions define it (a unit test
    holds the two equal), without Dagster: `validate` reads the windows a watermark recorded."""
    zone = ZoneInfo(timezone)
    try:
        local = datetime.strptime(key, _TIME_KEY_FORMATS[granularity])
    except ValueError:
        example = datetime(2024, 1, 1).strftime(_TIME_KEY_FORMATS[granularity])
        raise ValueError(f"{granularity} partition key {key!r} is not like {example!r}") from None
    start = local.replace(tzinfo=zone)
    if granularity == "hourly":
        end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(zone)
    elif granularity == "daily":
        end = (local + timedelta(days=1)).replace(tzinfo=zone)
    else:
        year, month = divmod(local.month, 12)
        end = local.replace(year=local.year + year, month=month + 1, day=1).replace(tzinfo=zone)
    return time_window(key, start, end)
