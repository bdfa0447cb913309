"""The client-side deadline of a warehouse statement (issue 24, item 2: no silent hangs).

The session's `statement_timeout` makes the server cancel a slow statement, and TCP keepalive
sees a path that went silent. Neither sees a path whose far end still answers keepalive probes
but forwards nothing (a stuck proxy, a half-dead load balancer): the client would wait on its
socket forever, holding its pipeline's run slot. So each statement also runs under a watchdog:
at `statement_timeout_seconds + deadline_margin_seconds` it shuts the socket down, the blocked
read returns, and the statement fails with `StatementDeadline`, naming the target, the step
and the setting. The session is then dead: its transaction was never committed, and the server
rolls it back when it sees the connection end (or when its own statement_timeout fires).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass


class StatementDeadline(Exception):
    """A warehouse statement got no answer within its client-side deadline."""


@dataclass(frozen=True)
class SessionBounds:
    """How long a statement may take (0: unbounded), from a target's connections.yml entry."""

    statement_timeout_seconds: float = 0
    deadline_margin_seconds: float = 60

    @property
    def statement_timeout_ms(self) -> int:
        return round(self.statement_timeout_seconds * 1000)

    @property
    def deadline_seconds(self) -> float:
        if not self.statement_timeout_seconds:
            return 0
        return self.statement_timeout_seconds + self.deadline_margin_seconds


def step_name(sql: str) -> str:
    """The statement as an error names it: its first words, on one line."""
    words = " ".join(sql.split())
    return words if len(words) <= 80 else words[:77] + "..."


@contextmanager
def deadline(
    target: str, step: str, bounds: SessionBounds, fileno: Callable[[], int | None]
) -> Iterator[None]:
    """Run the block under the deadline; on expiry shut the socket `fileno()` down and raise
    StatementDeadline (also when the block ended just as the deadline fired: the socket is
    shut either way)."""
    seconds = bounds.deadline_seconds
    if not seconds:
        yield
        return
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        with suppress(OSError):
            shut_down(fileno())

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except BaseException as exc:
        timer.cancel()
        if fired.is_set():
            raise _expired(target, step, bounds) from exc
        raise
    timer.cancel()
    if fired.is_set():
        raise _expired(target, step, bounds)


def shut_down(fileno: int | None) -> None:
    """End both directions of the TCP connection on `fileno`, whoever holds it: a read blocked
    on it returns at once. Done on a duplicate descriptor, so the owner's stays valid."""
    if fileno is None or fileno < 0:
        return
    with socket.socket(fileno=os.dup(fileno)) as dup:
        dup.shutdown(socket.SHUT_RDWR)


def _expired(target: str, step: str, bounds: SessionBounds) -> StatementDeadline:
    # A lost answer to COMMIT leaves the outcome unknown here; the ledger rows commit with the
    # rows, so the next run loads exactly the files the ledger lacks either way.
    outcome = (
        "whether the COMMIT took effect is unknown: the ledger, committed with the rows, tells "
        "the next run what is loaded"
        if step.startswith("COMMIT")
        else "its transaction was not committed"
    )
    return StatementDeadline(
        f"target {target!r}: no answer to `{step}` within {bounds.deadline_seconds:g} s "
        f"(statement_timeout_seconds {bounds.statement_timeout_seconds:g} + "
        f"deadline_margin_seconds {bounds.deadline_margin_seconds:g}); the connection was "
        f"closed and {outcome}. If the path to the warehouse is healthy and the statement is "
        f"this slow, raise statement_timeout_seconds under targets.{target} in connections.yml"
    )
