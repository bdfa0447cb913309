"""A run's bounds, asked of the source when the run starts (the plan itself runs no SQL)."""

from __future__ import annotations

from mysql_redshift_assets.extract.keyset import Bound
from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.partitions import Window

_TEMPORAL = {"datetime", "timestamp", "date"}


def upper_bound(source: Source, plan: TablePlan) -> Bound | None:
    """Rows at or past this bound wait for the next run (late commits are not skipped)."""
    if plan.cursor_is_pk:
        if len(plan.primary_key) != 1:
            return None
        column = plan.order_quoted[0]
    else:
        cursor = plan.cursor or ""
        column = source.quote(cursor)
        if plan.column(cursor).source.data_type in _TEMPORAL:
            return Bound(column, "<", source.now_minus(plan.table.upper_bound_lag_seconds))
    row = source.query_one(f"SELECT {column} FROM {plan.table_ref} ORDER BY {column} DESC LIMIT 1")
    return (
        None if row is None or row[0] is None else Bound(column, "<=", plan.keyset.bound(0, row[0]))
    )


def window_bounds(
    source: Source, plan: TablePlan, window: Window
) -> tuple[list[Bound], Bound | None]:
    """The window `[lo, hi)` on its column, and for a window still open in time, the
    late-commit bound (rows newer than NOW() - lag wait for the partition's next run)."""
    column = source.quote((plan.cursor or "") if window.kind == "time" else plan.primary_key[0])
    bounds = [Bound(column, ">=", window.lo), Bound(column, "<", window.hi)]
    if window.kind != "time":
        return bounds, None
    now = source.now_minus(plan.table.upper_bound_lag_seconds)
    return bounds, (Bound(column, "<", now) if now < window.hi else None)


def null_cursor_rows(source: Source, plan: TablePlan) -> int:
    """Rows a keyset on the cursor can never see; reported, never silently dropped."""
    if plan.cursor_is_pk or not plan.column(plan.cursor or "").source.nullable:
        return 0
    column = source.quote(plan.cursor or "")
    row = source.query_one(f"SELECT COUNT(*) FROM {plan.table_ref} WHERE {column} IS NULL")
    return int(raw_text(row[0])) if row else 0
