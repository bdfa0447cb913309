"""What the server says about commits still to come: the oldest open InnoDB transaction, and
whether this server is a replica (and how far behind).

A row written by a transaction that is still open is invisible; its cursor value (`NOW()` at
statement time, an AUTO_INCREMENT id allocated at insert) is not younger than the transaction's
start. So on a primary, no row can still appear with a cursor before the start of the oldest
open transaction that can still write: that start bounds what a run may treat as complete.

Which open transactions hold the bound (`_OLDEST_WRITER`; the run reads the server's clock
first, then INNODB_TRX, so every statement that starts after the read stamps a later NOW()):
- READ ONLY ones never (`trx_is_read_only = 1`): `START TRANSACTION READ ONLY`, a session in
  `SET SESSION TRANSACTION READ ONLY`, an autocommit non-locking SELECT. The server refuses
  them every change to a table other sessions can see ("ERROR 1792 (25006): Cannot execute
  statement in a READ ONLY transaction", MySQL manual, "Optimizing InnoDB Read-Only
  Transactions"; on MariaDB 10.11 even CREATE TEMPORARY TABLE is refused), so they can commit
  no row at all. The project's own reads are such: autocommit SELECTs (pages, the sensor's
  probe, bucket hashes) and `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`
  (generations, the delete pass, this module's freshness check), so a sibling table's run
  never holds this one's bound.
- A read-write transaction that has modified rows (`trx_rows_modified > 0`): always.
- A read-write transaction that has modified nothing and is running a statement: always, even
  a SELECT. A SELECT may write (`SELECT f()` where the stored function inserts), and what it
  writes is stamped with the calling statement's start (NOW() in a function), which may lie
  before the bound; INNODB_TRX's `trx_query` then shows the function's inner statement, not
  the SELECT, so no reading of the text could tell. Only the server's READ ONLY flag proves
  a statement cannot write.
- A read-write transaction that has modified nothing and is idle (`trx_query` NULL): never.
  Whatever it writes comes from a later statement, whose NOW() is later than this read of
  INNODB_TRX and so than the run's clock and bound.

- `information_schema.INNODB_TRX` needs the PROCESS privilege. Without it MariaDB refuses and
  MySQL 8 shows only the account's own transactions: the run warns once, naming the grant, and
  relies on the re-read window alone.
- `trx_started` is a DATETIME in the server's *system* time zone (checked on MariaDB 10.11: it
  does not follow the session's `time_zone`), converted here with `CONVERT_TZ(.., 'SYSTEM',
  '+00:00')`; on MySQL the earlier of that and the raw value is taken (an earlier bound only
  re-reads more).
- INNODB_TRX is a snapshot InnoDB refreshes only when it was not read for 0.1 s ("This buffer is
  refreshed only if more than 0.1 seconds has elapsed since the last time the buffer was read",
  MySQL manual, "Persistence and Consistency of InnoDB Transaction and Locking Information";
  seen here: two reads 50 ms apart return the same rows). A stale snapshot could miss a
  transaction that began since, so it is read inside a transaction of this session's own,
  begun just before: the snapshot is fresh iff it shows that transaction; else the read is
  tried again after 0.1 s, and if it never is, the run is bounded as without PROCESS.
- One reading serves the run's later tables of the same source for `REUSE_SECONDS`
  (`clock_and_oldest`, shared by the worker threads: `readings.py`): reading INNODB_TRX for
  each table made tables finishing less than 0.1 s apart wait out the stale snapshot (0.11 s a
  retry, most of a no-op table's wall). It stays a valid bound for any read that begins after
  it: at the reading, every row with a cursor below the bound was committed (the rule above),
  so a later read sees it. The bound is only older (up to `REUSE_SECONDS`): a table moves on
  less, never misses a row; and the next run's window reaches back from the reading's clock.
- A replica: the primary's open transactions are not visible at all, and rows arrive as late
  as the replication delay. `SHOW ALL SLAVES STATUS` (MariaDB) / `SHOW REPLICA STATUS` (MySQL
  8.0.22+) / `SHOW SLAVE STATUS` tell it; the delay widens the window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.source import MySQLSource, Source

log = logging.getLogger(__name__)

PROCESS_FIX = (
    "GRANT PROCESS ON *.* TO '<user>'@'<host>' (it lets a run see the start of the oldest open "
    "transaction; without it only the re-read window `late_commit_window_seconds` protects "
    "rows committed late)"
)
REPLICA_FIX = (
    "GRANT SLAVE MONITOR ON *.* (MariaDB) or REPLICATION CLIENT ON *.* (MySQL) to the account, "
    "so a run can tell whether it reads a replica and widen its re-read window by the delay"
)
_DENIED = {1227, 1142, 1044, 1045}  # access denied, in its several forms
# The transactions that can still commit a row whose cursor is in the past (the module's
# rule): read-write ones that have written, or are running a statement that may write. This
# session's own (READ ONLY) transaction is read too, only to prove the snapshot fresh.
_OLDEST_WRITER = """SELECT CONVERT_TZ(MIN(IF(mine, NULL, trx_started)), 'SYSTEM', '+00:00'),
  MIN(IF(mine, NULL, trx_started)), MAX(mine)
FROM (SELECT trx_started, trx_mysql_thread_id = CONNECTION_ID() AS mine
  FROM information_schema.INNODB_TRX
  WHERE trx_mysql_thread_id = CONNECTION_ID()
     OR (trx_is_read_only = 0 AND (trx_rows_modified > 0
         OR (trx_query IS NOT NULL AND trx_autocommit_non_locking = 0)))) AS open_writers"""
FRESH_TRIES = 5  # reads of INNODB_TRX, 0.1 s apart, before a run gives up on a fresh one
REUSE_SECONDS = 1.0  # how long one reading of clock and INNODB_TRX serves later tables


@dataclass(frozen=True)
class ReplicaStatus:
    is_replica: bool
    delay_seconds: int | None = None  # None on a replica: replication is not running
    channels: int = 0


def parse_replica_status(rows: Sequence[Mapping[str, Any]]) -> ReplicaStatus:
    """`SHOW ALL SLAVES STATUS` / `SHOW REPLICA STATUS` rows (as dicts) -> the worst delay.

    MariaDB and MySQL < 8.0.22 say `Seconds_Behind_Master`, MySQL 8.0.22+ `Seconds_Behind_Source`;
    NULL means the replica threads are not running (the delay is unknown)."""
    if not rows:
        return ReplicaStatus(is_replica=False)
    delays: list[int | None] = []
    for row in rows:
        value = row.get("Seconds_Behind_Source", row.get("Seconds_Behind_Master"))
        delays.append(None if value is None else int(raw_text(value)))
    if any(d is None for d in delays):
        return ReplicaStatus(True, None, len(rows))
    return ReplicaStatus(True, max(d for d in delays if d is not None), len(rows))


def _error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _query_dicts(source: MySQLSource, sql: str) -> list[dict[str, Any]]:
    with source._connection().cursor() as cur:  # noqa: SLF001 - a control query, same session
        cur.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def replica_status(source: Source) -> tuple[ReplicaStatus | None, str | None]:
    """This source's replica status (asked once a source), or None and a warning when the
    account may not ask."""
    if not isinstance(source, MySQLSource):
        return ReplicaStatus(is_replica=False), None
    if "replica" not in source.facts:
        status, warning = None, None
        for sql in ("SHOW ALL SLAVES STATUS", "SHOW REPLICA STATUS", "SHOW SLAVE STATUS"):
            try:
                status = parse_replica_status(_query_dicts(source, sql))
                break
            except Exception as exc:  # noqa: BLE001 - any refusal: try the next spelling
                if _error_code(exc) in _DENIED:
                    warning = f"source {source.name!r}: cannot tell whether it is a replica "
                    warning += f"(the account may not run `{sql}`); fix: {REPLICA_FIX}"
                    break
        source.facts["replica"] = (status, warning)
    return source.facts["replica"]


def _has_process(source: MySQLSource) -> bool:
    """MySQL 8 shows an account without PROCESS only its own transactions: ask the grants."""
    with source._connection().cursor() as cur:  # noqa: SLF001
        cur.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = " ".join(raw_text(r[0]).upper() for r in cur.fetchall())
    return "PROCESS" in grants or "ALL PRIVILEGES ON *.*" in grants or " SUPER" in grants


def oldest_open_transaction(source: Source) -> tuple[datetime | None, str | None]:
    """The start (naive UTC) of the oldest open InnoDB transaction on the server (None: none
    open, or not visible), and a warning when the account cannot see them (once a source)."""
    if not isinstance(source, MySQLSource):
        return None, None
    if "process" not in source.facts:
        try:
            source.facts["process"] = _has_process(source)
        except Exception as exc:  # noqa: BLE001 - the table query below decides
            log.debug("SHOW GRANTS failed: %s", exc)
            source.facts["process"] = True
        source.facts["mariadb"] = (
            "MARIADB" in raw_text((source.query_one("SELECT VERSION()") or ("",))[0]).upper()
        )
    warning = None
    if not source.facts["process"]:
        warning = _process_warning(source)
        return None, warning
    try:
        row = _fresh_oldest_writer(source)
    except Exception as exc:
        if _error_code(exc) not in _DENIED:
            raise
        source.facts["process"] = False
        return None, _process_warning(source)
    if row is None:
        return None, (
            f"source {source.name!r}: information_schema.INNODB_TRX gave no fresh snapshot in "
            f"{FRESH_TRIES} tries (something reads it more than every 0.1 s); this run is "
            "bounded by the re-read window `late_commit_window_seconds` alone"
        )
    if row[0] is None:
        return None, None
    converted = datetime.fromisoformat(raw_text(row[0]))
    if source.facts["mariadb"]:
        return converted, None
    return min(converted, datetime.fromisoformat(raw_text(row[1]))), None


def _fresh_oldest_writer(source: MySQLSource) -> tuple[Any, ...] | None:
    """`_OLDEST_WRITER` from a snapshot taken after this call began (see the module), or None."""
    for attempt in range(FRESH_TRIES):
        if attempt:
            time.sleep(0.11)
        source.query_one("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        try:
            row = source.query_one(_OLDEST_WRITER)
        finally:
            source.query_one("COMMIT")
        if row is not None and row[2] is not None and int(raw_text(row[2])) == 1:
            return row
    return None


def clock_and_oldest(source: Source) -> tuple[datetime, datetime | None, str | None]:
    """The server's clock, then the oldest open transaction's start and its warning, as
    `source.utc_now()` then `oldest_open_transaction(source)`; a reading younger than
    `REUSE_SECONDS` is reused (see the module: still a valid bound for what reads after)."""

    def read() -> tuple[datetime, datetime | None, str | None]:
        clock = source.utc_now()  # first, then the open transactions (the module's rule)
        return (clock, *oldest_open_transaction(source))

    reading = source.readings.get(read, REUSE_SECONDS)
    return reading.clock, reading.oldest, reading.warning


def _process_warning(source: Source) -> str:
    return (
        f"source {source.name!r}: the account lacks the PROCESS privilege, so open "
        f"transactions cannot bound the run; fix: {PROCESS_FIX}"
    )
