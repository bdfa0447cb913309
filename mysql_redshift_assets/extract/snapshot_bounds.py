"""What a generation's snapshot provably holds whole, and where the increments after it start.

A generation (a resync of an incremental table, a full table, a partition window) *replaces*
what the warehouse holds, so it is never cut at the open-transaction bound an increment stops
at: it reads everything visible in ONE MySQL snapshot (`START TRANSACTION WITH CONSISTENT
SNAPSHOT`), a window inside its own `[lo, hi)` (and, for a window still open in time, below
`now - lag`, as before), and `COUNT(*)` in that same snapshot must equal the rows written, or
nothing is swapped in (`check_written`).

What the snapshot cannot see is carried by what comes after it. The safe bound `B` is computed
BEFORE the snapshot opens (`generation_bound`, the increment's own bound: `bounds.run_bounds`):

- A temporal cursor: `B = min(now - lag, start of the oldest open writer - 1 s)`, read at time
  `r`, before the snapshot opens at `s >= r`. A row the snapshot cannot see was written by a
  transaction that had not committed at `s`: one open at `r` (in INNODB_TRX then, as a writer:
  its rows are stamped at or after its start, so at or after `B`; one that had not written yet
  stamps its rows with `NOW()` of a later statement, after `r`), or one begun after `r` (its
  rows are stamped after `r >= B`). So every row with cursor `< B` the table will ever hold
  (written with the server's clock) is in the snapshot.
- An AUTO_INCREMENT key: `B` is the newest sample `(t, MAX(id))` older than every open writer
  (`samples.py`: every id `<= B` was allocated before `t` by a transaction that has ended), so
  every id `<= B` that will ever exist is in the snapshot. A resync carries the old
  watermark's samples (and its position, proven safe when it was stored) into the computation,
  so a transaction open since before the resync's own sample does not leave it with nothing.

The increments after the generation start at the last row the snapshot holds at or below `B`
(`last_row_within`, asked in the snapshot): every row before it in keyset order is in the
generation, and every row after it (the open transactions' rows among them) is read by the next
increment, whenever it commits. When nothing is provably safe (an AUTO_INCREMENT key with a
writer open since before every sample), the increments start from the beginning: one re-read of
the table, merged harmlessly, never a start past a row still to come.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from mysql_redshift_assets.extract import committed
from mysql_redshift_assets.extract.bounds import TRX_MARGIN, run_bounds
from mysql_redshift_assets.extract.keyset import Bound
from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.position import Position, keyset_values
from mysql_redshift_assets.extract.samples import Sample
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.table import Scan
from mysql_redshift_assets.extract.zones import wall_clock
from mysql_redshift_assets.partitions import Window

# `bounds._integer` bounds a run that has nothing provably committed at the lowest BIGINT.
_NOTHING_SAFE = -9223372036854775808
_INTEGER = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}


class GenerationCountError(RuntimeError):
    """A generation whose files hold other than the rows its snapshot counted."""


@dataclass
class GenerationBound:
    """Computed before the snapshot opens: every row satisfying `upper` is visible to it (None:
    nothing is provably so)."""

    upper: Bound | None
    samples: list[Sample] = field(default_factory=list)  # what the new watermark keeps
    warnings: list[str] = field(default_factory=list)


def generation_bound(
    source: Source,
    plan: TablePlan,
    carried: tuple[Position | None, Sequence[Sample]] = (None, ()),
) -> GenerationBound:
    """The safe bound of a generation of `plan`'s table (see the module). `carried`: the old
    watermark's position and samples of the same cursor (an AUTO_INCREMENT key's proofs)."""
    position, samples = carried
    integer = plan.cursor_type in _INTEGER
    bounds = run_bounds(source, plan, position if integer else None, list(samples))
    upper = bounds.upper
    warnings = list(bounds.warnings)
    if plan.cursor_type == "date" and upper is not None and upper.op == "<=":
        # CURDATE(): a row still to come may be dated the bound's day; the rows before it are
        # the ones provably there (the increment re-reads whole days from its position's).
        upper = Bound(upper.column, "<", upper.value)
    if integer and upper is not None and upper.value == _NOTHING_SAFE:
        upper = None
        warnings.append(
            f"{plan.table.qualified}: a transaction open since before every sample of "
            f"{plan.cursor_expr} may still commit ids the snapshot cannot see; the next "
            "increment reads the table from the start once (merged, nothing doubled)"
        )
    return GenerationBound(upper, bounds.samples if integer else [], warnings)


def carried_proofs(
    source: Source,
    plan: TablePlan,
    old: tuple[Position | None, Sequence[Sample]],
    same_keyset: bool,
) -> tuple[Position | None, list[Sample]]:
    """The old watermark's position and samples, when they are proofs about this table's
    keyset (`same_keyset`: the same cursor and primary key; an integer cursor). A sample or
    position above today's MAX is dropped: ids were reused (a TRUNCATE resets AUTO_INCREMENT)."""
    if plan.cursor_type not in _INTEGER or not same_keyset:
        return None, []
    row = source.query_one(f"SELECT MAX({plan.cursor_expr}) FROM {plan.table_ref}")
    if row is None or row[0] is None:
        return None, []
    top = int(raw_text(row[0]))
    position, samples = old
    values = keyset_values(position, cursor_is_pk=plan.cursor_is_pk) or []
    if not values or int(values[0]) > top:
        position = None
    return position, [s for s in samples if int(s.value) <= top]


def last_row_within(source: Source, plan: TablePlan, upper: Bound | None) -> Position | None:
    """In the snapshot: the position of the last row, in keyset order, that satisfies `upper`
    (the rows that do are a prefix of the keyset order: `upper` is on its leading expression)."""
    if upper is None:
        return None
    columns = ", ".join(plan.order_quoted)
    order = ", ".join(f"{c} DESC" for c in plan.order_quoted)
    row = source.query_one(
        f"SELECT {columns} FROM {plan.table_ref} WHERE {upper.column} {upper.op} "
        f"{source.placeholder} ORDER BY {order} LIMIT 1",
        [upper.value],
    )
    return None if row is None else plan.keyset.position(list(row))


@dataclass
class WindowProof:
    """Computed before a window's snapshot opens: `safe_bound` (a time window: a UTC instant,
    every row stamped before it had committed; an id window: every id at or below it had), and
    whether the whole window lies below it (`complete`): else the window is provisional, and
    rows may still commit into it after the read."""

    safe_bound: str | None
    complete: bool
    samples: list[Sample] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _safe_instant(source: Source, plan: TablePlan) -> tuple[datetime | None, list[str]]:
    """The UTC instant every row stamped before had committed (None: unknown, a replica whose
    delay is unknown), computed once a source: a bound computed earlier in the run is still
    computed before every later snapshot opens, only more cautious."""
    key = f"safe_instant:{plan.table.upper_bound_lag_seconds}"
    if key not in source.facts:
        oldest, warning = committed.oldest_open_transaction(source)
        status, replica_warning = committed.replica_status(source)
        bound = source.utc_now() - timedelta(seconds=plan.table.upper_bound_lag_seconds)
        if oldest is not None:
            bound = min(bound, oldest - TRX_MARGIN)
        safe: datetime | None = bound
        if status is not None and status.is_replica:  # rows arrive as late as the delay
            delay = status.delay_seconds
            safe = None if delay is None else bound - timedelta(seconds=delay)
        source.facts[key] = (safe, [w for w in (warning, replica_warning) if w])
    safe, warnings = source.facts[key]
    return safe, _once(source, *warnings)


def window_proof(
    source: Source, plan: TablePlan, window: Window, samples: Sequence[Sample]
) -> WindowProof:
    """Whether a row can still commit into `window` after a snapshot opened now (the module's
    argument, on the window's own column)."""
    if window.kind == "id":  # the AUTO_INCREMENT argument, on the primary key
        bounds = run_bounds(source, plan, None, list(samples))
        upper = bounds.upper
        if upper is None or upper.value == _NOTHING_SAFE:
            return WindowProof(None, False, bounds.samples, bounds.warnings)
        top = int(upper.value)
        return WindowProof(str(top), top >= int(window.hi) - 1, bounds.samples, bounds.warnings)
    safe, warnings = _safe_instant(source, plan)
    if safe is None:
        return WindowProof(None, False, list(samples), warnings)
    kind = plan.column(plan.cursor or "").source.data_type
    zone = plan.zone if kind == "datetime" else "UTC"
    safe_wall = wall_clock(safe, zone)
    if kind == "date":  # CURDATE(): a row still to come is dated the safe bound's day at least
        safe_wall = datetime.combine(safe_wall.date(), datetime.min.time())
    hi = wall_clock(datetime.fromisoformat(window.hi), zone)
    text = safe.strftime("%Y-%m-%d %H:%M:%S.%f")
    return WindowProof(text, safe_wall >= hi, list(samples), warnings)


def _once(source: Source, *warnings: str | None) -> list[str]:
    """A warning about the source is given once a run (as `bounds` gives its own)."""
    warned: set[str] = source.facts.setdefault("warned", set())
    new = [w for w in dict.fromkeys(warnings) if w and w not in warned]
    warned.update(new)
    return new


def snapshot_rows(source: Source, scan: Scan) -> int:
    """In the snapshot: the rows `scan` reads (its window and upper bound), counted by MySQL."""
    where, params = [], []
    for column, op, value in [*scan.bounds, *([scan.upper] if scan.upper else [])]:
        where.append(f"{column} {op} {source.placeholder}")
        params.append(value)
    sql = f"SELECT COUNT(*) FROM {scan.plan.table_ref}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    row = source.query_one(sql, params)
    return int(raw_text(row[0])) if row else 0


def check_written(table: str, what: str, counted: int, written: int) -> None:
    """A generation's files must hold exactly the rows its snapshot counted."""
    if written != counted:
        raise GenerationCountError(
            f"{table}: {what} wrote {written:,} rows but its MySQL snapshot holds {counted:,}; "
            "nothing was swapped in and the table's state is unchanged. Run it again; if it "
            "repeats, report it with this message"
        )
