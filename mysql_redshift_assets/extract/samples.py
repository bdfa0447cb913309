"""The bound of an integer cursor (an AUTO_INCREMENT key, append-only), from samples of MAX.

AUTO_INCREMENT ids are allocated at insert, before commit: id 7 may commit after id 8 was read.
Reading up to today's MAX(id) would move the position past 7 for good. What is provable:

    Take a sample (t, M) = (server UTC time, MAX(id)) at the start of every run, BEFORE reading
    the open transactions. Ids are allocated in increasing order, so every id <= M was
    allocated before t, by a transaction that started before t. If every transaction open now
    started after t, all of those have ended: every row with an id <= M that will ever exist
    is visible now.

So a run reads up to the newest sample older than the oldest open transaction (all of them
when none is open), and the watermark keeps a few samples. The re-read window starts from the
newest sample taken at least `late_commit_window_seconds` before the last successful run began
reading (R, `Watermark.last_read_at`; without it, before now): that run read every id committed
before R, and an id committed after R by a transaction open at most the window was allocated
after R - window, so above that sample. (Measured back from now instead, an id allocated just
before R and committed just after it was lost once R lay more than the window behind.) Rows
inserted with an explicit id are read again the same way (the merge makes that harmless).
Without the PROCESS privilege (or on a replica) open transactions are unknown: the bound is
today's MAX and only the window protects late commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

KEPT_SAMPLES = 32  # plus the one the window starts from and the one the bound is


class Sample(BaseModel):
    """MAX(cursor) and the server's UTC time it was read at (before the open transactions)."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    value: str


def safe_sample(samples: Sequence[Sample], oldest_open: datetime | None) -> Sample | None:
    """The newest sample every row at or below which has committed (see the module's proof);
    None when a transaction has been open since before every sample."""
    eligible = [s for s in samples if oldest_open is None or s.at < oldest_open]
    return max(eligible, key=lambda s: s.at) if eligible else None


def window_sample(samples: Sequence[Sample], now: datetime, window: int) -> Sample | None:
    """The newest sample taken at least `window` seconds before `now` (the clock the window
    reaches back from; else the oldest one)."""
    if not samples:
        return None
    old = [s for s in samples if s.at <= now - timedelta(seconds=window)]
    return max(old, key=lambda s: s.at) if old else min(samples, key=lambda s: s.at)


def kept_samples(samples: Sequence[Sample], *keep: Sample | None) -> list[Sample]:
    """The newest KEPT_SAMPLES, and the samples still in use, oldest first."""
    ordered = sorted(samples, key=lambda s: s.at)
    kept = ordered[-KEPT_SAMPLES:]
    for sample in keep:
        if sample is not None and sample not in kept:
            kept.append(sample)
    return sorted(kept, key=lambda s: s.at)
