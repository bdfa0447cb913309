"""Which rows past the watermark's position are still pending, and which are settled.

An incremental table's rows past the position are "not yet extracted": the next run reads them.
That is only true of rows the last run could not have read. The last run that read everything up
to its bound (`Watermark.read_to`) read every row committed before it below the bound; a row
whose cursor is older than that bound by more than the run's re-read window, and that the
warehouse lacks, was written late beyond every guarantee or is waiting on a sync that no longer
runs: it is missing, and `validate` says so. Rows newer than that stay pending.

| cursor | settled (below: missing if absent) |
|---|---|
| DATETIME, TIMESTAMP | `cursor < T`, T = the lowest wall clock shown since (bound - window) |
| DATE | `cursor < D`, D = the day of (the bound's day, 00:00, - window) |
| integer (AUTO_INCREMENT) | `cursor <= min(bound, the newest sample at least a window older than the run)` |
| anything else, or no run read to its bound | nothing settled: every row past the position is pending |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mysql_redshift_assets.extract import keyset_values
from mysql_redshift_assets.extract.keyset import Bound, after_predicate
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.scope import Scope, count_in, source_scope
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.zones import instant_of, lowest_wall_clock, wall_clock
from mysql_redshift_assets.state.watermark import Watermark

_INTEGER = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}


def settled_bound(source: Source, plan: TablePlan, watermark: Watermark) -> Bound | None:
    """The rows `cursor op value` that the last complete run proves are in its files, or lost."""
    read_to = watermark.read_to
    kind = plan.cursor_type
    if read_to is None or kind is None:
        return None
    column = plan.cursor_expr
    window = timedelta(seconds=read_to.window_seconds)
    if kind in ("datetime", "timestamp", "date"):
        zone = plan.zone if kind in ("datetime", "date") else "UTC"
        try:
            bound = datetime.fromisoformat(read_to.value)
        except ValueError:
            return None
        if kind == "date":
            start = instant_of(datetime.combine(bound.date(), datetime.min.time()), zone) - window
            return Bound(column, "<", wall_clock(start, zone).date().isoformat())
        start = instant_of(bound, zone) - window
        lowest = lowest_wall_clock(zone, start, max(start, source.utc_now()))
        return Bound(column, "<", lowest.strftime("%Y-%m-%d %H:%M:%S.%f"))
    if kind in _INTEGER and read_to.at is not None:
        old = [s for s in watermark.samples if s.at <= read_to.at - window]
        if not old:
            return None
        floor = max(old, key=lambda s: s.at)
        value = min(int(read_to.value), int(floor.value))
        return Bound(column, "<=", plan.keyset.bound(0, str(value)))
    return None


def pending_scope(
    source: Source, plan: TablePlan, watermark: Watermark, settled: Bound | None
) -> Scope:
    """MySQL's rows not yet extracted: past the position, and not settled (every row when
    nothing is extracted or settled)."""
    ph = source.placeholder
    values = keyset_values(watermark.position, cursor_is_pk=plan.cursor_is_pk)
    terms: list[str] = []
    params: list[Any] = []
    if values is not None:
        after, params = after_predicate(plan.order_quoted, values, ph)
        terms.append(after)
    if settled is not None:
        terms.append(f"NOT ({settled.column} {settled.op} {ph})")
        params.append(settled.value)
    return source_scope(plan).within(" AND ".join(terms), params)


@dataclass(frozen=True)
class Pending:
    """An incremental table's rows not yet extracted (`where`, in MySQL), and how many."""

    settled: Bound | None
    where: Scope
    rows: int


def not_yet_extracted(source: Source, plan: TablePlan, watermark: Watermark, total: int) -> Pending:
    """The rows past the position that the last complete run does not prove settled, counted
    (`total`: all of MySQL's rows, when every row is pending)."""
    settled = settled_bound(source, plan, watermark)
    where = pending_scope(source, plan, watermark, settled)
    if where.whole:
        return Pending(settled, where, total)
    return Pending(settled, where, count_in(source, where))


def settled_note(plan: TablePlan, watermark: Watermark, settled: Bound | None) -> str:
    """What a mismatch note adds when rows past the position were settled."""
    read_to = watermark.read_to
    if settled is None or read_to is None:
        return ""
    return (
        f"; rows with {plan.cursor or plan.primary_key[0]} {settled.op} {settled.value} are "
        f"settled (run {read_to.run_id} read up to {read_to.value}, re-read window "
        f"{read_to.window_seconds:,} s): one the warehouse lacks is missing (the sync is stuck, "
        "or the row was written that late), not pending"
    )
