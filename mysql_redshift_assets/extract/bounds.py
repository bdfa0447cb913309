"""A run's bounds, asked of the source when the run starts (the plan itself runs no SQL).

An incremental run reads `(start, upper)` in keyset order:
- `upper`: what is provably committed. A temporal cursor: the earlier of `now - lag` and the
  start of the oldest open InnoDB transaction (`committed.py`), as a wall clock in the table's
  zone for a DATETIME. An integer cursor (an AUTO_INCREMENT key): see `samples.py`.
- `start`: where the re-read window begins, the earlier (in keyset order) of the stored
  position and `late_commit_window_seconds` (widened by the replica delay) before the server
  clock at which the last successful incremental run began reading (`Watermark.last_read_at`),
  down to the repeated hour when a daylight-saving fall-back lies between: rows committed late,
  or written with an explicit older value, are read again.

  Why that suffices. The last successful run read, at or after its clock R, every row in its
  range up to the position; a row committed before R is visible to all its reads. A row it
  missed therefore committed after R, and a row whose cursor is at most the window older than
  its commit (the window's one assumption, as before) has a cursor after R - window. Anchored
  on R and not on the position, a quiet table (a position that stays on an old bulk stamp)
  re-reads only the rows changed inside the window, never the whole table. A watermark without
  R (written before it was recorded) moves the position back by the window, as before; an
  older R only reads more, so a failed run (it may have stored only part of its reads) keeps
  the R of the last successful one.

  A DATE cursor re-reads whole days: from the day the window reaches back to (an update later
  that day keeps the date); without R, the position's day at least. An integer cursor: from
  the newest sample taken at least the window before R (`samples.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mysql_redshift_assets.extract import committed
from mysql_redshift_assets.extract.keyset import Bound, after_predicate
from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.position import Position, keyset_values
from mysql_redshift_assets.extract.samples import (
    Sample,
    kept_samples,
    safe_sample,
    window_sample,
)
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.zones import instant_of, lowest_wall_clock, wall_clock
from mysql_redshift_assets.partitions import Window

_TEMPORAL = {"datetime", "timestamp", "date"}
_INTEGER = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
# trx_started has whole seconds, and a statement's NOW() is read just before its transaction
# starts: the bound stays one second clear of the oldest open transaction.
TRX_MARGIN = timedelta(seconds=1)


@dataclass
class RunBounds:
    upper: Bound | None
    start: Position | None  # the stored position, moved back by the window
    window_seconds: int = 0  # the window this run used (widened by replica delay)
    samples: list[Sample] = field(default_factory=list)  # what the watermark keeps
    warnings: list[str] = field(default_factory=list)
    # The server's UTC clock before the run's first read: the next run's window reaches back
    # from it once this run has succeeded (`Watermark.last_read_at`).
    read_at: datetime | None = None


def _once(source: Source, warning: str | None, into: list[str]) -> None:
    """A warning about the source is given once a run (a source lives for one run)."""
    warned: set[str] = source.facts.setdefault("warned", set())
    if warning and warning not in warned:
        warned.add(warning)
        into.append(warning)


def widened_window(
    window: int, status: committed.ReplicaStatus | None, source_name: str
) -> tuple[int, bool, str | None]:
    """The re-read window for a source in `status`; whether the open transactions the server
    shows are all there are (not on a replica; assumed where the account may not ask); and a
    warning for a replica whose delay is unknown."""
    if status is None or not status.is_replica:
        return window, True, None
    if status.delay_seconds is None:
        return (
            window,
            False,
            f"source {source_name!r} is a replica whose replication is not running (delay "
            "unknown): rows may be missing until it catches up; the window is not widened",
        )
    return window + status.delay_seconds, False, None  # the primary's transactions are not here


def _window(source: Source, plan: TablePlan, warnings: list[str]) -> tuple[int, bool]:
    status, warning = committed.replica_status(source)
    _once(source, warning, warnings)
    window, primary, stopped = widened_window(
        plan.table.late_commit_window_seconds, status, source.name
    )
    _once(source, stopped, warnings)
    return window, primary


def _text(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _parse(text: str | None) -> datetime | None:
    try:
        return None if text is None else datetime.fromisoformat(text)
    except ValueError:  # a zero date ('0000-00-00'): sorts first, nothing before it
        return None


def run_bounds(
    source: Source,
    plan: TablePlan,
    position: Position | None,
    samples: list[Sample],
    last_read_at: datetime | None = None,
) -> RunBounds:
    """The bounds of one incremental run from `position`; `last_read_at`: the last successful
    run's `read_at` (None: the window is measured back from the position; see the module)."""
    warnings: list[str] = []
    window, primary = _window(source, plan, warnings)
    kind = plan.cursor_type
    if kind in _TEMPORAL:
        # The clock first, then the open transactions: a statement that starts after this
        # read of INNODB_TRX stamps a later NOW() than the bound (committed.py's rule); one
        # reading serves the run's tables for a second (`clock_and_oldest`).
        now, oldest, warning = committed.clock_and_oldest(source)
        _once(source, warning, warnings)
        return _temporal(
            source, plan, position, window, oldest, warnings, now=now, last_read_at=last_read_at
        )
    if kind in _INTEGER:
        return _integer(source, plan, position, samples, window, primary, warnings, last_read_at)
    return RunBounds(upper_bound(source, plan), position, 0, [], warnings)


def _temporal(
    source: Source,
    plan: TablePlan,
    position: Position | None,
    window: int,
    oldest: datetime | None,
    warnings: list[str],
    *,
    now: datetime | None = None,
    last_read_at: datetime | None = None,
) -> RunBounds:
    """The upper bound of a temporal cursor at `now` (the server's UTC clock, read before the
    open transactions), and where its re-read window begins (`_temporal_start`)."""
    kind = plan.cursor_type
    zone = _zone(plan)
    now = source.utc_now() if now is None else now
    upper_utc = now - timedelta(seconds=plan.table.upper_bound_lag_seconds)
    if oldest is not None:
        upper_utc = min(upper_utc, oldest - TRX_MARGIN)
    upper_wall = wall_clock(upper_utc, zone)
    if kind == "date":
        upper = Bound(plan.cursor_expr, "<=", upper_wall.date().isoformat())
    else:
        upper = Bound(plan.cursor_expr, "<", _text(upper_wall))
    start = _temporal_start(plan, position, window, now, last_read_at)
    return RunBounds(upper, start, window, [], warnings, read_at=now)


def _zone(plan: TablePlan) -> str:
    return plan.zone if plan.cursor_type in ("datetime", "date") else "UTC"


def _temporal_start(
    plan: TablePlan,
    position: Position | None,
    window: int,
    now: datetime,
    last_read_at: datetime | None,
) -> Position | None:
    """Where a temporal cursor's re-read window begins: the earlier of the position and
    `window` before `last_read_at` (None: before the position), see the module."""
    cursor = position.cursor if position is not None and not plan.cursor_is_pk else None
    at = _parse(cursor)
    if at is None:
        return position
    zone = _zone(plan)
    if last_read_at is None:
        if plan.cursor_type == "date":
            midnight = datetime.combine(at.date(), datetime.min.time())
            return Position(cursor=(midnight - timedelta(seconds=window)).date().isoformat())
        reach = instant_of(at, zone) - timedelta(seconds=window)
    else:
        reach = min(last_read_at, now) - timedelta(seconds=window)
    lowest = lowest_wall_clock(zone, reach, now)
    if plan.cursor_type == "date":
        if lowest.date() > at.date():  # no row of the position's day can still change
            return position
        return Position(cursor=lowest.date().isoformat())
    if lowest >= at:
        return position
    return Position(cursor=_text(lowest))


def _integer(
    source: Source,
    plan: TablePlan,
    position: Position | None,
    samples: list[Sample],
    window: int,
    primary: bool,
    warnings: list[str],
    last_read_at: datetime | None = None,
) -> RunBounds:
    # The sample first, then the open transactions: the order the proof needs.
    now = source.utc_now()
    row = source.query_one(f"SELECT MAX({plan.cursor_expr}) FROM {plan.table_ref}")
    top = None if row is None or row[0] is None else raw_text(row[0])
    oldest, warning = committed.oldest_open_transaction(source)
    _once(source, warning, warnings)
    taken = [*samples, Sample(at=now, value=top)] if top is not None else list(samples)
    if primary and warning is None:
        bound = safe_sample(taken, oldest)
        if bound is None and top is not None:
            warnings.append(
                f"{plan.table.qualified}: a transaction open since {oldest} UTC holds the "
                f"bound of {plan.cursor_expr}; rows after the position wait for it to end"
            )
    else:
        bound = Sample(at=now, value=top) if top is not None else None
    # The window reaches back from the last successful run's clock (see the module); the
    # sample the next run will reach back to (from this run's clock) is kept too.
    ref = window_sample(taken, now if last_read_at is None else min(last_read_at, now), window)
    kept = kept_samples(taken, ref, bound, window_sample(taken, now, window))
    if bound is None:  # nothing provably committed past the position: read nothing new
        limit = _position_value(plan, position) or "-9223372036854775808"
    else:
        limit = bound.value
    # Bound as an integer: MySQL compares an integer column with a string as doubles.
    upper = Bound(plan.cursor_expr, "<=", plan.keyset.bound(0, limit))
    stored = _position_value(plan, position)
    if ref is None or stored is None or int(ref.value) >= int(stored):
        return RunBounds(upper, position, window, kept, warnings, read_at=now)
    start = Position(pk=[ref.value]) if plan.cursor_is_pk else Position(cursor=ref.value)
    return RunBounds(upper, start, window, kept, warnings, read_at=now)


def _position_value(plan: TablePlan, position: Position | None) -> str | None:
    values = keyset_values(position, cursor_is_pk=plan.cursor_is_pk)
    return values[0] if values else None


def reread_rows(
    source: Source, plan: TablePlan, bounds: RunBounds, position: Position | None
) -> int:
    """Rows between the run's start and the stored position (both included): the rows this run
    reads again. Counted by MySQL as the run starts; the stream's first rows are these."""
    if position is None or bounds.start is None or bounds.start == position:
        return 0
    ph = source.placeholder
    start = keyset_values(bounds.start, cursor_is_pk=plan.cursor_is_pk) or []
    stop = keyset_values(position, cursor_is_pk=plan.cursor_is_pk) or []
    after, params = after_predicate(plan.order_quoted, start, ph)
    past, more = after_predicate(plan.order_quoted, stop, ph)
    where = [after, f"NOT {past}"]
    params = [*params, *more]
    if bounds.upper is not None:
        where.append(f"{bounds.upper.column} {bounds.upper.op} {ph}")
        params.append(bounds.upper.value)
    row = source.query_one(
        f"SELECT COUNT(*) FROM {plan.table_ref} WHERE {' AND '.join(where)}", params
    )
    return int(raw_text(row[0])) if row else 0


def upper_bound(source: Source, plan: TablePlan) -> Bound | None:
    """Rows at or past this bound wait for a later run (the sensor's probe asks it)."""
    kind = plan.cursor_type
    if kind in _TEMPORAL:
        now = source.utc_now()  # before the open transactions, as in run_bounds
        oldest = committed.oldest_open_transaction(source)[0]
        return _temporal(source, plan, None, 0, oldest, [], now=now).upper
    if kind is None:
        return None
    # ORDER BY, not MAX: MAX compares ENUM labels as strings; the value is bound with its type.
    column = plan.cursor_expr
    row = source.query_one(f"SELECT {column} FROM {plan.table_ref} ORDER BY {column} DESC LIMIT 1")
    return (
        None if row is None or row[0] is None else Bound(column, "<=", plan.keyset.bound(0, row[0]))
    )


def window_bounds(
    source: Source, plan: TablePlan, window: Window
) -> tuple[list[Bound], Bound | None]:
    """The window `[lo, hi)` on its column, and for a window still open in time, the
    late-commit bound (rows newer than NOW() - lag, as a wall clock in the table's zone for a
    DATETIME column, wait for the partition's next run)."""
    column = source.quote((plan.cursor or "") if window.kind == "time" else plan.primary_key[0])
    if window.kind != "time":
        return [Bound(column, ">=", window.lo), Bound(column, "<", window.hi)], None
    zone = plan.zone if plan.column(plan.cursor or "").source.data_type == "datetime" else "UTC"
    # The window is UTC; a DATETIME column holds wall clocks of `zone`: compare like with like,
    # so that the rows read are the rows the load's UTC replace predicate covers.
    lo, hi = (_text(wall_clock(datetime.fromisoformat(t), zone)) for t in (window.lo, window.hi))
    bounds = [Bound(column, ">=", lo), Bound(column, "<", hi)]
    now_utc = source.utc_now() - timedelta(seconds=plan.table.upper_bound_lag_seconds)
    now = _text(wall_clock(now_utc, zone))
    return bounds, (Bound(column, "<", now) if now < hi else None)


def null_cursor_rows(source: Source, plan: TablePlan) -> int:
    """Rows a keyset on the cursor can never see (with a fallback: neither column set);
    reported, never silently dropped."""
    if plan.cursor_is_pk:
        return 0
    if plan.fallback is None and not plan.column(plan.cursor or "").source.nullable:
        return 0
    row = source.query_one(
        f"SELECT COUNT(*) FROM {plan.table_ref} WHERE {plan.cursor_expr} IS NULL"
    )
    return int(raw_text(row[0])) if row else 0
