"""The newest reading of a source's clock and open transactions (`committed.clock_and_oldest`),
shared by a run's connections to that source (`sync/clients.py`: one a worker thread)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Reading:
    clock: datetime  # the server's UTC clock, read before INNODB_TRX
    oldest: datetime | None  # the oldest open writer's start then (None: none, or not visible)
    warning: str | None
    done: float  # time.monotonic() when the reading was complete


class Readings:
    """The newest reading; a thread that needs one while another reads waits for that one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: Reading | None = None

    def get(
        self,
        read: Callable[[], tuple[datetime, datetime | None, str | None]],
        reuse_seconds: float,
    ) -> Reading:
        """The newest reading if younger than `reuse_seconds`, else a new one by `read`."""
        with self._lock:
            last = self._last
            if last is None or time.monotonic() - last.done >= reuse_seconds:
                last = self._last = Reading(*read(), done=time.monotonic())
            return last
