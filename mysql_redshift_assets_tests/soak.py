"""A randomized soak: application writers, syncs again and again, random SIGKILLs; then MySQL ==
the warehouse, row by row.

Writers run in threads, each on its own MySQL session: inserts under an AUTO_INCREMENT key,
updates, deletes, rows stamped with an explicitly older time, in transactions of random length,
some held open across several syncs, some rolled back; a reporting session holds long READ ONLY
transactions. Meanwhile one sync after another runs in a child process (`_sync_child.py`:
extract, then load), some of them resyncs (the whole table re-read and swapped in), some a sync
and a resync started together (one may refuse on the lease; a load may race the other's swap),
and some are SIGKILLed at a random moment.
When the time is up the writers commit and stop, one ordinary sync runs (twice: the second must
change nothing), and the warehouse must equal MySQL. Everything random comes from one seed,
printed first, so a failure can be replayed: `MRA_SOAK_SEED=<seed> make soak`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from mysql_redshift_assets_tests.integration._sync_child import LEASE_HELD

DUCKDB_BUSY = "another process may be loading into it"  # load/duckdb.py's words

CHILD = Path(__file__).with_name("integration") / "_sync_child.py"
SOAK_DDL = (
    "CREATE TABLE soak (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, "
    "note VARCHAR(40) NULL, "
    "updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) "
    "ON UPDATE CURRENT_TIMESTAMP(6), KEY (updated_at, id))"
)
COLUMNS = ["id", "v", "note", "updated_at"]


@dataclass
class SoakStats:
    seed: int
    commits: int = 0
    rollbacks: int = 0
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    syncs: int = 0
    resyncs: int = 0
    overlaps: int = 0
    killed: int = 0
    reports: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"seed {self.seed}: {self.syncs} syncs ({self.resyncs} resyncs, {self.overlaps} "
            f"sync+resync overlaps, {self.killed} SIGKILLed), {self.commits} commits, "
            f"{self.rollbacks} rollbacks, {self.inserts} inserts, {self.updates} updates, "
            f"{self.deletes} deletes, {self.reports} read-only reports"
        )


def _writer(
    connect: Callable[[], pymysql.connections.Connection],
    rng: random.Random,
    stop: threading.Event,
    stats: SoakStats,
    lock: threading.Lock,
) -> None:
    conn = connect()
    conn.autocommit(False)
    try:
        while not stop.is_set():
            try:
                _one_transaction(conn, rng, stats, lock)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] not in (1205, 1213):  # lock wait timeout, deadlock: the
                    raise  # application's transaction is rolled back, as in production
                conn.rollback()
                with lock:
                    stats.rollbacks += 1
        conn.commit()
    except Exception as exc:  # noqa: BLE001 - reported by the soak, not swallowed
        with lock:
            stats.errors.append(f"writer: {type(exc).__name__}: {exc}")
    finally:
        conn.close()


def _one_transaction(
    conn: pymysql.connections.Connection,
    rng: random.Random,
    stats: SoakStats,
    lock: threading.Lock,
) -> None:
    counts = {"inserts": 0, "updates": 0, "deletes": 0}
    with conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 1) FROM soak")
        top = int(cur.fetchone()[0])
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            if op < 0.5:
                older = rng.random() < 0.1  # an application stamping its own (slightly old) time
                stamp = "NOW(6) - INTERVAL 2 SECOND" if older else "NOW(6)"
                cur.execute(
                    f"INSERT INTO soak (v, note, updated_at) VALUES (%s, %s, {stamp})",
                    (rng.randint(0, 10**6), rng.choice([None, "n", "é🚀", "x" * 40])),
                )
                counts["inserts"] += 1
            elif op < 0.85:
                cur.execute(
                    "UPDATE soak SET v = v + 1, note = %s WHERE id = %s",
                    (rng.choice([None, "u", "ü"]), rng.randint(1, top)),
                )
                counts["updates"] += 1
            else:
                cur.execute("DELETE FROM soak WHERE id = %s", (rng.randint(1, top),))
                counts["deletes"] += 1
    # Held open a while: sometimes across one or more syncs.
    time.sleep(rng.choice([0.0, 0.01, 0.1, 0.5, 1.5, 3.0]))
    if rng.random() < 0.1:
        conn.rollback()
        with lock:
            stats.rollbacks += 1
        return
    conn.commit()
    with lock:
        stats.commits += 1
        for key, n in counts.items():
            setattr(stats, key, getattr(stats, key) + n)


def _reporter(
    connect: Callable[[], pymysql.connections.Connection],
    rng: random.Random,
    stop: threading.Event,
    stats: SoakStats,
    lock: threading.Lock,
) -> None:
    """A reporting session: long READ ONLY transactions, reading now and then (it must never
    hold a sync back, nor make one lose a row)."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("START TRANSACTION READ ONLY")
                until = time.monotonic() + rng.uniform(1.0, 8.0)
                while time.monotonic() < until and not stop.is_set():
                    cur.execute(
                        "SELECT COUNT(*), SUM(v) FROM soak WHERE id > %s", (rng.randint(0, 500),)
                    )
                    cur.fetchall()
                    time.sleep(rng.uniform(0.05, 0.5))
                cur.execute("COMMIT")
                with lock:
                    stats.reports += 1
    except Exception as exc:  # noqa: BLE001 - reported by the soak, not swallowed
        with lock:
            stats.errors.append(f"reporter: {type(exc).__name__}: {exc}")
    finally:
        conn.close()


def _start(env: dict[str, str], run_id: str, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD)],
        env={**env, "MRA_SYNC_RUN_ID": run_id, "MRA_SYNC_MODE": mode},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(
    child: subprocess.Popen[str], run_id: str, kill_after: float | None, *, may_refuse: bool
) -> bool:
    """Wait for `child`; SIGKILL it after `kill_after` seconds. True when it was killed. A child
    that failed is an error, except a refusal on the lease when it was started beside another."""
    try:
        _, err = child.communicate(timeout=kill_after if kill_after is not None else 300)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.communicate()
        return True
    # Started beside another: one may refuse on the table's lease, or, on DuckDB, find the file
    # open in the other process (one process at a time: docs/guarantees.md section 1).
    refused = LEASE_HELD in err or DUCKDB_BUSY in err
    if child.returncode != 0 and not (may_refuse and refused):
        raise AssertionError(f"{run_id} failed ({child.returncode}):\n{err[-3000:]}")
    return False


def sync_once(
    env: dict[str, str], run_id: str, *, kill_after: float | None, mode: str = "sync"
) -> bool:
    """One sync (or resync) in a child process; SIGKILLed after `kill_after` seconds if it is
    still running. True when it was killed."""
    return _finish(_start(env, run_id, mode), run_id, kill_after, may_refuse=False)


def _mysql_keys(connect: Callable[[], pymysql.connections.Connection]) -> set[int]:
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM soak")
            return {int(r[0]) for r in cur.fetchall()}
    finally:
        conn.close()


def _checked_resync(
    env: dict[str, str],
    run_id: str,
    kill_after: float | None,
    connect: Callable[[], pymysql.connections.Connection],
    warehouse_keys: Callable[[], set[int]] | None,
) -> bool:
    """A resync; one that finished must leave in the warehouse every row committed before it
    started and still in MySQL after it (a replace never shrinks what it should hold: open
    transactions elsewhere must not cut it). True when it was killed."""
    before = _mysql_keys(connect) if warehouse_keys else set()
    killed = sync_once(env, run_id, kill_after=kill_after, mode="resync")
    if warehouse_keys is None or killed:
        return killed
    missing = sorted((before & _mysql_keys(connect)) - warehouse_keys())
    if missing:
        raise AssertionError(
            f"{run_id}: the resync left out {len(missing)} committed row(s), e.g. {missing[:10]}"
        )
    return False


def sync_and_resync(env: dict[str, str], run_id: str, *, kill_after: float | None) -> int:
    """A sync and a resync of the table started together; how many were killed."""
    children = [_start(env, f"{run_id}-{mode}", mode) for mode in ("sync", "resync")]
    return sum(_finish(child, run_id, kill_after, may_refuse=True) for child in children)


def run_soak(
    *,
    seed: int,
    seconds: float,
    connect: Callable[[], pymysql.connections.Connection],
    env: dict[str, str],
    writers: int = 3,
    kill_rate: float = 0.35,
    resync_rate: float = 0.12,
    overlap_rate: float = 0.08,
    warehouse_keys: Callable[[], set[int]] | None = None,
    log: Callable[[str], Any] = print,
) -> SoakStats:
    """Writers and syncs for `seconds`, then the final syncs. The caller compares the tables."""
    stats = SoakStats(seed)
    log(f"soak seed {seed} ({seconds:.0f} s, {writers} writers); replay: MRA_SOAK_SEED={seed}")
    rng = random.Random(seed)
    stop, lock = threading.Event(), threading.Lock()
    threads = [
        threading.Thread(
            target=_writer,
            args=(connect, random.Random(rng.getrandbits(64)), stop, stats, lock),
            name=f"soak-writer-{i}",
        )
        for i in range(writers)
    ]
    threads.append(
        threading.Thread(
            target=_reporter,
            args=(connect, random.Random(rng.getrandbits(64)), stop, stats, lock),
            name="soak-reporter",
        )
    )
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not stats.errors:
            kill_after = rng.uniform(0.05, 2.0) if rng.random() < kill_rate else None
            run_id, draw = f"soak-{stats.syncs:04d}", rng.random()
            if (
                stats.syncs == 2
            ):  # however the draws fall, one resync runs to its end and is checked
                draw, kill_after = overlap_rate, None
            if draw < overlap_rate:
                stats.killed += sync_and_resync(env, run_id, kill_after=kill_after)
                stats.overlaps += 1
            elif draw < overlap_rate + resync_rate:
                stats.killed += _checked_resync(env, run_id, kill_after, connect, warehouse_keys)
                stats.resyncs += 1
            else:
                stats.killed += sync_once(env, run_id, kill_after=kill_after)
            stats.syncs += 1
            time.sleep(rng.uniform(0.0, 0.5))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    if stats.errors:
        raise AssertionError(f"{stats}: {stats.errors[:3]}")
    for i in range(2):  # every transaction is committed now: an ordinary sync catches up
        sync_once(env, f"soak-final-{i}", kill_after=None)
    log(str(stats))
    return stats


def soak_seed() -> int:
    value = os.environ.get("MRA_SOAK_SEED")
    return int(value) if value else random.SystemRandom().randrange(1, 2**31)
