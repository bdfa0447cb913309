"""One writer per table: a short lease object next to the watermark, kept alive by a heartbeat.

Two extractions of one table at once would write the same file keys and overwrite each other's
watermark. However a run is started (UI, schedule, sensor, CLI, backfill), on whatever host or
pod, the second one to arrive finds the lease and refuses with a message that says who holds it.

- The lease (`<table>/_lease.json`) lives `lease_ttl_seconds` (default 120; the environment
  variable `MYSQL_REDSHIFT_LEASE_TTL_SECONDS`). A heartbeat thread renews it every third of
  that, by a conditional replace of the exact version it wrote last (S3 `If-Match` on the
  ETag; the local store's compare-and-swap). A holder that stops (SIGKILL, OOM, SIGSTOP, a lost
  network) stops renewing, and its lease is stale once expired, whatever host it ran on. No
  hostname rule (every pod has a new one). A faster path only where a PID provably means the
  same process: the same kernel boot id and PID namespace, and the PID's start time (`_dead`).
- Each holder's `generation` is the previous holder's + 1; a release leaves the object behind,
  expired, so generations only grow.
- A holder that lost its lease (a renewal refused, or none confirmed for a TTL: then another
  run may have taken it) writes nothing more: `check()` is called before every file upload
  (`state/fenced.py`) and every watermark write, and the watermark write itself is conditional
  on the version this holder last saw (`write_watermark`). It raises `LeaseLost`.
Clocks: expiry is a wall-clock instant written by the holder and compared by the next run, so
hosts' clocks must agree to well within the TTL (NTP); the holder's own deadline is monotonic.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.naming import lease_key, watermark_key
from mysql_redshift_assets.store.objectstore import ObjectStore

log = logging.getLogger(__name__)
TTL_ENV = "MYSQL_REDSHIFT_LEASE_TTL_SECONDS"
DEFAULT_TTL_SECONDS = 120.0
# Pauses between attempts to release a lease the store refused to take back (an outage that
# failed the run may be over in seconds): a lease left behind blocks its table for a TTL.
RELEASE_PAUSES = (0.5, 1.0, 2.0, 4.0)
# The holder stops writing a little before its lease can expire in the store's eyes.
_OWN_DEADLINE = 0.9


class LeaseHeld(RuntimeError):
    """Another run is writing this table right now."""


class LeaseLost(RuntimeError):
    """This run no longer holds its table's lease: another run may be writing the table."""


def lease_ttl() -> timedelta:
    """`lease_ttl_seconds`: `$MYSQL_REDSHIFT_LEASE_TTL_SECONDS`, else 120 s."""
    raw = os.environ.get(TTL_ENV, "").strip()
    if not raw:
        return timedelta(seconds=DEFAULT_TTL_SECONDS)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise ConfigError(f"{TTL_ENV}={raw!r}: give the lease's lifetime in seconds, e.g. 120")
    return timedelta(seconds=seconds)


def _now() -> datetime:
    return datetime.now(UTC)


def _proc_stat(pid: int | str) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of a process, from /proc; None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def _identity() -> dict[str, Any]:
    """What proves that a PID means the same process to another run: the kernel's boot id and
    the PID namespace (both read from /proc), and the process's start time (PIDs are reused).
    Empty where /proc cannot tell (another OS)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return {}
    stat = _proc_stat("self")
    return {} if stat is None else {"boot_id": boot, "pid_ns": namespace, "start": stat[1]}


def _dead(holder: dict[str, Any]) -> bool:
    """The faster path: the holder ran under this kernel in this PID namespace (so its PID
    means the same here), and that process is gone, a zombie, or another one now."""
    mine = _identity()
    if not mine or any(holder.get(k) != mine[k] for k in ("boot_id", "pid_ns")):
        return False  # another pod, host or namespace: only its expiry tells
    stat = _proc_stat(int(holder["pid"]))
    return stat is None or stat[0] == "Z" or stat[1] != holder.get("start")


def _stale(holder: dict[str, Any]) -> bool:
    """Expired, or (same kernel and PID namespace) its process is gone. A holder alive
    anywhere renews before its expiry; a stopped one is alive but does not renew."""
    try:
        return datetime.fromisoformat(holder["expires_at"]) < _now() or _dead(holder)
    except (KeyError, ValueError, TypeError):
        return True  # unreadable: nobody can prove they hold it


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        holder = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return holder if isinstance(holder, dict) else {}


# The leases this process holds, by the uri of their table's watermark: a watermark write goes
# through its table's lease when there is one (`WatermarkStore.save`).
_held: dict[str, Lease] = {}
_held_lock = threading.Lock()


def lease_for(store: ObjectStore, key: str) -> Lease | None:
    """The lease this process holds on the table whose watermark is `key`, if any."""
    with _held_lock:
        return _held.get(store.uri(key))


class Lease:
    """A held lease: renewed by its heartbeat thread until released, or lost."""

    def __init__(self, store: ObjectStore, table: TableConfig, run_id: str, ttl: timedelta) -> None:
        if ttl <= timedelta(0):
            raise ValueError(f"a lease's TTL must be positive, not {ttl}")
        self.store, self.table, self.run_id, self.ttl = store, table, run_id, ttl
        self.key = lease_key(table)
        self.generation = 0
        self._acquired = ""
        self._tag: str | None = None  # the version of the lease object this holder wrote last
        self._confirmed = 0.0  # monotonic: when the last confirmed write was sent
        self._lost: str | None = None
        self._lock = threading.Lock()  # one store write of this holder at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watermark_tag: str | None = None  # the watermark's version as this holder left it

    def _body(self, expires: datetime, acquired: str) -> bytes:
        holder = {
            "run_id": self.run_id,
            "generation": self.generation,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            **_identity(),
            "acquired_at": acquired,
            "renewed_at": _now().isoformat(),
            "expires_at": expires.isoformat(),
            "ttl_seconds": self.ttl.total_seconds(),
        }
        return json.dumps(holder).encode()

    def acquire(self) -> None:
        """Create the lease, or take over a stale one by replacing exactly the version read
        (two runs taking over at once: one wins)."""
        acquired = _now().isoformat()
        for _ in range(3):
            sent = time.monotonic()
            got = self.store.get_tagged(self.key)
            holder = _parse(got[0]) if got else {}
            if got is not None and not _stale(holder):
                raise LeaseHeld(
                    f"{self.table.qualified} is being written by run {holder.get('run_id')} "
                    f"(lease generation {holder.get('generation')}, on {holder.get('host')}, "
                    f"since {holder.get('acquired_at')}); its lease expires at "
                    f"{holder.get('expires_at')} unless that run renews it (a run that died "
                    f"loses it then): wait for it and run again"
                )
            if got is not None and not holder.get("released"):
                log.warning(
                    "%s: taking over the expired lease of run %s (generation %s)",
                    self.table.qualified, holder.get("run_id"), holder.get("generation"),
                )  # fmt: skip
            previous = holder.get("generation")
            self.generation = (previous if isinstance(previous, int) else 0) + 1
            body = self._body(_now() + self.ttl, acquired)
            tag = self.store.put_if_match(body, self.key, got[1] if got else None)
            if tag is not None:
                self._tag, self._confirmed, self._acquired = tag, sent, acquired
                found = self.store.get_tagged(watermark_key(self.table))
                self._watermark_tag = found[1] if found else None
                return
        raise LeaseHeld(f"{self.table.qualified}: another run took the lease at the same moment")

    def renew(self) -> None:
        """One heartbeat: push the expiry a TTL ahead, only over this holder's own version."""
        with self._lock:
            if self._lost is not None:
                return
            sent = time.monotonic()
            try:
                tag = self.store.put_if_match(
                    self._body(_now() + self.ttl, self._acquired), self.key, self._tag
                )
            except Exception as exc:  # the store unreachable: lost only once past the deadline
                if time.monotonic() >= self._deadline():
                    self._lose(f"the store did not confirm a renewal for a TTL ({exc})")
                else:
                    log.warning("%s: could not renew the lease: %s", self.table.qualified, exc)
                return
            if tag is None:
                self._lose("another run replaced the lease")
            else:
                self._tag, self._confirmed = tag, sent

    def _deadline(self) -> float:
        return self._confirmed + self.ttl.total_seconds() * _OWN_DEADLINE

    def _lose(self, why: str) -> None:
        self._lost = why
        log.error("%s: run %s lost its lease: %s", self.table.qualified, self.run_id, why)

    def check(self) -> None:
        """Raise LeaseLost unless this holder still holds the lease (no store call)."""
        if self._lost is None and time.monotonic() >= self._deadline():
            self._lose(f"no renewal confirmed for {self.ttl.total_seconds():g} s")
        if self._lost is not None:
            raise LeaseLost(
                f"{self.table.qualified}: run {self.run_id} lost its lease (generation "
                f"{self.generation}: {self._lost}), so another run may be writing the table; "
                f"this run wrote nothing more. Nothing to do: the next run of the table "
                f"redoes what this one did not record"
            )

    def write_watermark(self, key: str, data: bytes) -> None:
        """Write the watermark only while holding the lease and only over the version this
        holder last saw (read at acquisition, then its own writes): a run that lost its lease,
        or whose watermark someone else wrote meanwhile, writes nothing and raises LeaseLost."""
        with self._lock:
            self.check()
            found = self.store.get_tagged(self.key)  # the lease object itself, once more
            if found is None or found[1] != self._tag:
                self._lose("the lease object was replaced")
                self.check()
            tag = self.store.put_if_match(data, key, self._watermark_tag)
            if tag is None:
                self._lose(f"{self.store.uri(key)} was written by another run")
                self.check()
            self._watermark_tag = tag

    def _beat(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            self.renew()
            if self._lost is not None:
                return

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._beat, name=f"mra-lease-{self.table.qualified}", daemon=True
        )
        self._thread.start()

    def release(self) -> None:
        """Stop renewing; mark the lease expired (kept: the next holder's generation goes on
        from it), only over this holder's own version."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._lost is not None:
                return
            holder = _parse(self._body(_now(), self._acquired)) | {"released": True}
            body = json.dumps(holder).encode()
            for pause in (*RELEASE_PAUSES, None):
                try:
                    self.store.put_if_match(body, self.key, self._tag)
                    return
                except Exception as exc:  # a store outage: try again briefly
                    if pause is None:  # it expires by itself within a TTL
                        log.warning(
                            "%s: could not release the lease: %s", self.table.qualified, exc
                        )
                        return
                time.sleep(pause)


@contextmanager
def table_lease(
    store: ObjectStore, table: TableConfig, run_id: str, ttl: timedelta | None = None
) -> Iterator[Lease]:
    """Hold `table`'s lease for the block (heartbeat included); LeaseHeld if another run
    holds it. Every watermark write of the table in this process goes through it."""
    lease = Lease(store, table, run_id, ttl or lease_ttl())
    lease.acquire()
    uri = store.uri(watermark_key(table))
    with _held_lock:
        _held[uri] = lease
    lease.start()
    try:
        yield lease
    finally:
        with _held_lock:
            if _held.get(uri) is lease:
                del _held[uri]
        lease.release()
