"""The soak's binlog variant (`capture: binlog`): writers, SIGKILLed syncs, binlog rotation; then
MySQL == the warehouse, row by row.

Two tables on a MariaDB with the binlog on, one keyed and one without a key (its rows a multiset:
identical rows are written on purpose, `DELETE ... LIMIT 1` removes one of them). Writers in
threads, each on its own session in its own time zone (`+00:00`, `+05:30`, `-08:00`: DATETIME
holds their wall clocks, TIMESTAMP the instant): inserts, updates that touch no timestamp,
deletes, key changes, in transactions of random length, some held open across several syncs,
some rolled back. A rotator runs `FLUSH BINARY LOGS` as root at random moments, so streams
cross file boundaries while they read. Meanwhile one sync of both tables after another runs in a
child process (`_sync_child.py`: one run, one binlog stream for the two), the first the initial
copy at a binlog position; some are resyncs of one table (a new copy at a new position), and
some are SIGKILLed, at a random moment or right after a random watermark write (the child's
`MRA_SYNC_KILL_AFTER_SAVES`: between two change files of a stream, between the extraction and
the load, ...; `file_rows` is small so that a stream writes several files). When the time is up the writers commit and stop, one
ordinary sync runs (twice: the second must read nothing new), and the caller compares both
tables. Everything random comes from one seed, printed first (`MRA_SOAK_SEED=<seed>` replays the
draws; thread timing is not replayed).
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pymysql

from mysql_redshift_assets_tests.soak import _finish, _start, sync_once

KEYED_DDL = (
    "CREATE TABLE soak_b (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL, "
    "note VARCHAR(40) NULL, amount DECIMAL(12,4) NULL, at DATETIME(6) NULL, "
    "ts TIMESTAMP(6) NULL DEFAULT NULL)"
)
KEYED_COLUMNS = ["id", "v", "note", "amount", "at", "ts"]
# No primary key, no unique key: a row is its whole image. The index on `v` keeps the writers'
# `WHERE v = ...` from locking the whole table.
KEYLESS_DDL = (
    "CREATE TABLE soak_k (v INT NOT NULL, note VARCHAR(20) NULL, d DECIMAL(6,2) NULL, KEY (v))"
)
KEYLESS_COLUMNS = ["v", "note", "d"]
ZONES = ["+00:00", "+05:30", "-08:00"]
Connect = Callable[..., pymysql.connections.Connection]


@dataclass
class BinlogSoakStats:
    seed: int
    commits: int = 0
    rollbacks: int = 0
    ops: dict[str, int] = field(default_factory=dict)
    syncs: int = 0
    resyncs: int = 0
    killed: int = 0
    rotations: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        ops = ", ".join(f"{n} {k}" for k, n in sorted(self.ops.items()))
        return (
            f"binlog soak seed {self.seed}: {self.syncs} syncs ({self.resyncs} resyncs, "
            f"{self.killed} SIGKILLed), {self.rotations} binlog rotations, {self.commits} "
            f"commits, {self.rollbacks} rollbacks; {ops}"
        )


def _keyed(cur: Any, rng: random.Random, top: int, fresh: Callable[[], int]) -> str:
    op = rng.random()
    if op < 0.4:
        cur.execute(
            "INSERT INTO soak_b (v, note, amount, at, ts) VALUES (%s, %s, %s, NOW(6), NOW(6))",
            (rng.randint(0, 10**6), rng.choice([None, "n", "é🚀", "x" * 40]),
             rng.choice([None, "0.0001", "-12345678.9999", str(rng.randint(0, 9999))])),
        )  # fmt: skip
        return "keyed inserts"
    if op < 0.7:  # no timestamp touched: only the binlog sees it
        cur.execute(
            "UPDATE soak_b SET v = v + 1, note = %s WHERE id = %s",
            (rng.choice([None, "u", "ü"]), rng.randint(1, top)),
        )
        return "keyed updates"
    if op < 0.8:  # a range: several rows in one event
        low = rng.randint(1, top)
        cur.execute(
            "UPDATE soak_b SET amount = amount + 1 WHERE id BETWEEN %s AND %s", (low, low + 5)
        )
        return "keyed range updates"
    if op < 0.9:
        cur.execute("DELETE FROM soak_b WHERE id = %s", (rng.randint(1, top),))
        return "keyed deletes"
    # A key change to a key no one else takes (negative: AUTO_INCREMENT never reaches it); then,
    # sometimes, an update of the new row.
    old, new = rng.randint(1, top), fresh()
    cur.execute("UPDATE soak_b SET id = %s, ts = NOW(6) WHERE id = %s", (new, old))
    if rng.random() < 0.5:
        cur.execute("UPDATE soak_b SET note = 'moved' WHERE id = %s", (new,))
    return "key changes"


def _keyless(cur: Any, rng: random.Random) -> str:
    v = rng.randint(0, 30)  # few values: identical rows are common
    op = rng.random()
    if op < 0.45:
        copies = rng.choice([1, 1, 2, 3])
        row = (v, rng.choice([None, "a", "b"]), rng.choice([None, "1.50", "2.00"]))
        cur.executemany("INSERT INTO soak_k (v, note, d) VALUES (%s, %s, %s)", [row] * copies)
        return "keyless inserts"
    if op < 0.65:  # one of several identical rows
        cur.execute(
            "UPDATE soak_k SET note = %s WHERE v = %s LIMIT 1", (rng.choice([None, "c"]), v)
        )
        return "keyless updates"
    if op < 0.75:  # every row of a value, into rows that may equal others
        cur.execute("UPDATE soak_k SET v = v + 1 WHERE v = %s", (v,))
        return "keyless multi-row updates"
    cur.execute("DELETE FROM soak_k WHERE v = %s LIMIT 1", (v,))
    return "keyless deletes"


def _one_transaction(
    conn: pymysql.connections.Connection,
    rng: random.Random,
    fresh: Callable[[], int],
    stats: BinlogSoakStats,
    lock: threading.Lock,
) -> None:
    done: list[str] = []
    with conn.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(id), 1) FROM soak_b")
        top = int(cur.fetchone()[0])
        for _ in range(rng.randint(1, 6)):
            done.append(_keyed(cur, rng, top, fresh) if rng.random() < 0.6 else _keyless(cur, rng))
    time.sleep(
        rng.choice([0.0, 0.0, 0.0, 0.01, 0.01, 0.1, 0.5, 1.5, 3.0])
    )  # sometimes across syncs
    if rng.random() < 0.1:
        conn.rollback()
        with lock:
            stats.rollbacks += 1
        return
    conn.commit()
    with lock:
        stats.commits += 1
        for op in done:
            stats.ops[op] = stats.ops.get(op, 0) + 1


def _writer(
    connect: Connect,
    number: int,
    rng: random.Random,
    stop: threading.Event,
    stats: BinlogSoakStats,
    lock: threading.Lock,
) -> None:
    conn = connect(ZONES[number % len(ZONES)])
    conn.autocommit(False)
    # This writer's new keys: negative, so that AUTO_INCREMENT never reaches them.
    keys = iter(range(-(10**9) * (number + 1), -(10**9) * (number + 2), -1))
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION innodb_lock_wait_timeout = 5")
        while not stop.is_set():
            try:
                _one_transaction(conn, rng, lambda: next(keys), stats, lock)
            except pymysql.err.OperationalError as exc:
                if exc.args[0] not in (1205, 1213):  # lock wait timeout, deadlock: the
                    raise  # application's transaction is rolled back, as in production
                conn.rollback()
                with lock:
                    stats.rollbacks += 1
        conn.commit()
    except Exception as exc:  # noqa: BLE001 - reported by the soak, not swallowed
        with lock:
            stats.errors.append(f"writer {number}: {type(exc).__name__}: {exc}")
    finally:
        conn.close()


def _rotator(
    root: Callable[[], pymysql.connections.Connection],
    rng: random.Random,
    stop: threading.Event,
    stats: BinlogSoakStats,
    lock: threading.Lock,
) -> None:
    """`FLUSH BINARY LOGS` as root now and then: the binlog moves to a new file."""
    try:
        with root() as conn, conn.cursor() as cur:
            while not stop.wait(rng.uniform(0.2, 3.0)):
                cur.execute("FLUSH BINARY LOGS")
                with lock:
                    stats.rotations += 1
    except Exception as exc:  # noqa: BLE001 - reported by the soak, not swallowed
        with lock:
            stats.errors.append(f"rotator: {type(exc).__name__}: {exc}")


def _sync(env: dict[str, str], run_id: str, kill_after: float | None, mode: str) -> bool:
    """One sync (or resync) in a child process; True when it was killed (by the timer, or by
    itself after its N-th watermark write)."""
    child = _start(env, run_id, mode)
    if env.get("MRA_SYNC_KILL_AFTER_SAVES"):
        _, err = child.communicate(timeout=300)
        if child.returncode == -signal.SIGKILL:
            return True
        if child.returncode != 0:
            raise AssertionError(f"{run_id} failed ({child.returncode}):\n{err[-3000:]}")
        return False
    return _finish(child, run_id, kill_after, may_refuse=False)


def run_binlog_soak(
    *,
    seed: int,
    seconds: float,
    connect: Connect,
    root: Callable[[], pymysql.connections.Connection],
    env: dict[str, str],
    tables: list[str],
    writers: int = 3,
    kill_rate: float = 0.5,
    resync_rate: float = 0.08,
    log: Callable[[str], Any] = print,
) -> BinlogSoakStats:
    """Writers, rotations and syncs of `tables` (one run each) for `seconds`, then the final
    syncs. The caller compares the tables."""
    stats = BinlogSoakStats(seed)
    log(
        f"binlog soak seed {seed} ({seconds:.0f} s, {writers} writers); replay: MRA_SOAK_SEED={seed}"
    )
    rng = random.Random(seed)
    stop, lock = threading.Event(), threading.Lock()
    threads = [
        threading.Thread(
            target=_writer,
            args=(connect, i, random.Random(rng.getrandbits(64)), stop, stats, lock),
            name=f"soak-binlog-writer-{i}",
        )
        for i in range(writers)
    ]
    threads.append(
        threading.Thread(
            target=_rotator,
            args=(root, random.Random(rng.getrandbits(64)), stop, stats, lock),
            name="soak-binlog-rotator",
        )
    )
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not stats.errors:
            run_id, kill, draw = f"soak-binlog-{stats.syncs:04d}", rng.random(), rng.random()
            # Killed at a random moment, or right after a random watermark write (a change
            # file recorded, the load's ledger, ...: the steps a timer rarely hits).
            kill_after = rng.uniform(0.05, 2.0) if kill < kill_rate / 2 else None
            saves = rng.randint(1, 12) if kill_rate / 2 <= kill < kill_rate else None
            child = {**env, "MRA_SYNC_KILL_AFTER_SAVES": str(saves or "")}
            mode = "resync" if stats.syncs > 1 and draw < resync_rate else "sync"
            if mode == "resync":
                child["MRA_SYNC_TABLE"] = rng.choice(tables)
                stats.resyncs += 1
            stats.killed += _sync(child, run_id, kill_after, mode)
            stats.syncs += 1
            # Now and then a longer gap, as between scheduled runs: the next stream carries a
            # backlog into many files, and a SIGKILL may land between two of them.
            time.sleep(rng.uniform(1.0, 4.0) if rng.random() < 0.15 else rng.uniform(0.0, 0.5))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    if stats.errors:
        raise AssertionError(f"{stats}: {stats.errors[:3]}")
    for i in range(2):  # every transaction is committed now: an ordinary sync catches up
        sync_once(env, f"soak-binlog-final-{i}", kill_after=None)
    log(str(stats))
    return stats
