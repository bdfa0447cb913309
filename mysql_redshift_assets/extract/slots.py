"""Slots of a source's pool, held on the MySQL server itself: a bound on the tables extracting
from one source at once, whatever the number of runs and processes.

    slots = SourceSlots(pool="mysql-main", limit=2)
    with slots.hold(source, "shop.orders"):   # waits while all `limit` slots are taken
        extract_table(source, ...)

A slot is a MySQL named lock, `GET_LOCK('<prefix>:<source>:<i>', 0)` for i in 0..limit-1, taken
on a session of its own (same account, settings and SSH tunnel as the source's; kept by the
source, i.e. the worker thread, from table to table, and released with RELEASE_LOCK after each
table: closing the session would release it too). Named locks are server-wide, so every run
on every machine that reads the server counts against the same `limit` slots. The lock lives with its session: a process that dies (SIGKILL, OOM, a pod gone)
drops its connection and MySQL frees the lock at once; one that vanishes without closing its
TCP connection (a node lost) loses it when its session times out (`SLOT_SESSION_TIMEOUT`; the
holder pings it more often than that). GET_LOCK needs no privilege.

While all slots are taken the table polls (backoff up to `poll_max_seconds`) and logs once, at
WARNING on this package's logger (a Dagster op's relay puts it in the run's log), which pool it
waits on. What holds a slot (a table's extraction and delete pass, a resync) and what a table's
own parallel page reads add: docs/deploy.md, "Pools bound a source across runs". A source that
is not MySQL (the demo's SQLite) has no server to hold slots on: no bound.

Names: MySQL refuses lock names longer than 64 characters, so a longer `<prefix>:<source>`
is replaced by a hash of it. `MYSQL_REDSHIFT_POOL_PREFIX` (default `mra-pool`) names the
namespace: deployments that share a MySQL server and a source name share its slots unless their
prefixes differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pymysql

from mysql_redshift_assets.extract.source import MySQLSource, Source

log = logging.getLogger(__name__)

PREFIX_ENV = "MYSQL_REDSHIFT_POOL_PREFIX"
DEFAULT_PREFIX = "mra-pool"
MAX_LOCK_NAME = 64  # MySQL 5.7+: ER_USER_LOCK_WRONG_NAME beyond this
# The slot session's wait_timeout: a holder that vanished without a FIN frees its slot after
# this long; a live holder pings its session every third of it.
SLOT_SESSION_TIMEOUT = 180
SESSION_KEY = "pool-slot-session"  # `Source.kept`: closed with the source


def lock_names(source: str, limit: int, prefix: str | None = None) -> list[str]:
    """The `limit` lock names of `source`'s slots, each at most 64 characters."""
    prefix = prefix if prefix is not None else os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX
    base = f"{prefix}:{source}"
    digits = len(str(max(limit - 1, 0)))
    if len(base) + 1 + digits > MAX_LOCK_NAME:
        base = "mra:" + hashlib.sha256(base.encode()).hexdigest()[:40]
    return [f"{base}:{i}" for i in range(max(limit, 1))]


@dataclass(frozen=True)
class SourceSlots:
    """`limit` slots of the pool `pool` (named in messages) on each MySQL source."""

    pool: str
    limit: int
    poll_max_seconds: float = 2.0

    @contextlib.contextmanager
    def hold(self, source: Source, what: str) -> Iterator[str | None]:
        """One slot held while the block runs (its lock name; None: a source without one)."""
        if not isinstance(source, MySQLSource):
            yield None
            return
        conn = source.kept(SESSION_KEY, lambda: _open(source))
        pinger: _Pinger | None = None
        name: str | None = None
        try:
            try:
                name = self._take(conn, source.name, what)
            except pymysql.err.Error:  # the kept session timed out between tables: a new one
                source.discard_kept(SESSION_KEY)
                conn = source.kept(SESSION_KEY, lambda: _open(source))
                name = self._take(conn, source.name, what)
            pinger = _Pinger(conn, SLOT_SESSION_TIMEOUT / 3)
            yield name
        finally:
            if pinger is not None:
                pinger.stop()
            if name is not None:
                _release(source, conn, name)

    def _take(self, conn: pymysql.connections.Connection, source: str, what: str) -> str:
        names = lock_names(source, self.limit)
        delay, warned, started = 0.1, False, time.monotonic()
        while True:
            for name in random.sample(names, len(names)):  # spread the holders over the names
                with conn.cursor() as cur:
                    cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
                    row = cur.fetchone()
                if _one(row):
                    if warned:
                        log.info(
                            "%s: took a slot of pool %s after %.0f s",
                            what, self.pool, time.monotonic() - started,
                        )  # fmt: skip
                    return name
            if not warned:
                log.warning(
                    "%s: waiting for a slot of pool %s: all %d are taken by tables extracting "
                    "from source %r (in this run or others)",
                    what, self.pool, len(names), source,
                )  # fmt: skip
                warned = True
            time.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.poll_max_seconds)


class _Pinger:
    """Keeps the slot's session from timing out while the table extracts."""

    def __init__(self, conn: pymysql.connections.Connection, every: float) -> None:
        self.conn, self.every = conn, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mra-slot-ping", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.conn.ping(reconnect=False)
            except pymysql.err.Error as exc:
                log.warning("pool slot session lost (%s): the bound may be exceeded", exc)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _one(row: tuple[object, ...] | None) -> bool:
    """GET_LOCK / RELEASE_LOCK said 1 (the source's sessions return raw text: b"1")."""
    return row is not None and row[0] is not None and int(row[0]) == 1  # type: ignore[call-overload]


def _open(source: MySQLSource) -> pymysql.connections.Connection:
    """The source's slot session: one a source (a worker thread's), kept from table to table
    (opening one costs ~70 ms of CPU), reopened when it has timed out between tables."""
    conn = source.open_session()
    with conn.cursor() as cur:
        cur.execute("SET SESSION wait_timeout = %s", (SLOT_SESSION_TIMEOUT,))
    return conn


def _release(source: MySQLSource, conn: pymysql.connections.Connection, name: str) -> None:
    """RELEASE_LOCK; if the session cannot say it did, closing the session releases it."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
            row = cur.fetchone()
        if _one(row):
            return
        log.warning("pool slot %s was no longer held by its session (it timed out?)", name)
    except pymysql.err.Error:
        pass  # the session is gone: MySQL freed the lock with it
    source.discard_kept(SESSION_KEY)
