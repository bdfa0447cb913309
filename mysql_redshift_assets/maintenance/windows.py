"""A partitioned table reconciled window by window: MySQL's rows in a window vs the warehouse's.

A window is what a partition's load replaces: `[lo, hi)` on the cursor (time) or the primary
key (id_range). Each side is restricted to it by the predicate its own path uses (MySQL: the
extraction's `window_bounds`; the warehouse: the load's replace predicate): two scopes, then
counted and, where the source can, reconciled (`reconcile/scope.py`): key by key and value by
value; a window of a table without a primary key by its count and a multiset hash of its rows
(`reconcile/keyless.py`): nothing pairs its rows, but a row lost, doubled or changed shows.

A window is *loaded* when the ledger holds every file of one of its complete generations:
- the newest one: compared (`ok` / `mismatch`);
- an older one, a newer one extracted but not loaded yet: `behind` (not compared);
- none: `not_loaded` (never extracted, or extracted and not loaded): never a mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import TablePlan, window_bounds
from mysql_redshift_assets.extract.scope import Scope, count_in, source_scope
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.partitions import Window, id_window, time_key_window
from mysql_redshift_assets.reconcile.scope import (
    Counts,
    TableVerdict,
    WindowVerdict,
    reconcile_scope,
    values_comparable,
    warehouse_count,
)
from mysql_redshift_assets.state.watermark import Generation, Watermark
from mysql_redshift_assets.sync.load import replace_window


@dataclass(kw_only=True)
class WindowCounts(Counts):
    """One window reconciled (`Counts`), and where it stands."""

    partition: str
    verdict: WindowVerdict = "not_loaded"
    lo: str
    hi: str
    # Its newest generation was read while rows could still commit into it: the table's next
    # sync reads the window again (`Generation.provisional`).
    provisional: bool = False


def window_of(table: TableConfig, key: str) -> Window:
    """The window of `table`'s partition `key`; a key of another shape is refused, named."""
    try:
        if table.mode == "id_range":
            return id_window(key)
        assert table.partitions is not None
        spec = table.partitions
        return time_key_window(key, spec.granularity, spec.timezone)
    except ValueError as exc:
        raise ConfigError(table.error("partitions", str(exc))) from None


def known_partitions(watermark: Watermark | None) -> list[str]:
    """Every partition the watermark has a generation of, in the order first extracted."""
    keys = [g.partition for g in (watermark.generations if watermark else []) if g.partition]
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class WindowState:
    """What the ledger holds of one partition's generations."""

    loaded: Generation | None  # the newest complete generation whose files are all loaded
    newest: Generation | None  # the newest complete generation
    files_pending: int  # files of the newest generation the ledger lacks


def window_state(watermark: Watermark | None, loaded_keys: set[str], key: str) -> WindowState:
    if watermark is None:
        return WindowState(None, None, 0)
    complete = [g for g in watermark.generations if g.partition == key and g.complete]

    def files(g: Generation) -> list[str]:
        return [f.key for f in watermark.files_of(g.id)]

    loaded = next((g for g in reversed(complete) if set(files(g)) <= loaded_keys), None)
    newest = complete[-1] if complete else None
    pending = len(set(files(newest)) - loaded_keys) if newest else 0
    return WindowState(loaded, newest, pending)


def reconcile_window(
    source: Source,
    warehouse: Warehouse,
    table: TableConfig,
    plan: TablePlan,
    watermark: Watermark | None,
    loaded_keys: set[str],
    key: str,
) -> WindowCounts:
    window = window_of(table, key)
    state = window_state(watermark, loaded_keys, key)
    counts = WindowCounts(
        partition=key,
        lo=window.lo,
        hi=window.hi,
        files_pending=state.files_pending,
        provisional=state.newest is not None and state.newest.provisional,
    )
    if watermark is None or state.loaded is None:
        counts.note = (
            "never extracted"
            if state.newest is None
            else f"extracted, {state.files_pending} file(s) not loaded yet"
        )
        return counts
    counts.parquet_rows = sum(f.rows for f in watermark.files_of(state.loaded.id))
    mysql_scope = _mysql_window(source, plan, window)
    warehouse_scope = _warehouse_window(warehouse, table, window, watermark)
    counts.source_rows = count_in(source, mysql_scope)
    counts.warehouse_rows = warehouse_count(warehouse, warehouse_scope)
    if state.loaded is not state.newest:
        counts.verdict = "behind"
        counts.note = f"a newer generation waits: {state.files_pending} file(s) not loaded yet"
        return counts
    if values_comparable(source, plan):
        diff = reconcile_scope(source, warehouse, plan, mysql_scope, warehouse_scope)
        counts.take(diff, what="the window's rows")
    elif counts.source_rows == counts.warehouse_rows:
        counts.verdict, counts.note = "ok", "counts match (this source compares counts only)"
    else:
        counts.verdict = "mismatch"
        counts.note = f"warehouse has {counts.warehouse_rows - counts.source_rows:+,} rows"
    if counts.provisional and state.newest is not None:
        counts.note += (
            f"; provisional: read while rows could still commit into it (safe bound "
            f"{state.newest.safe_bound or 'unknown'}), the next sync reads it again"
        )
    return counts


def _mysql_window(source: Source, plan: TablePlan, window: Window) -> Scope:
    """The extraction's own window predicate (not its late-commit bound: rows newer than it
    are missing until the window's next run, and reported so)."""
    bounds, _late = window_bounds(source, plan, window)
    ph = source.placeholder
    where = " AND ".join(f"{b.column} {b.op} {ph}" for b in bounds)
    return source_scope(plan).within(where, [b.value for b in bounds])


def _warehouse_window(
    warehouse: Warehouse, table: TableConfig, window: Window, watermark: Watermark
) -> Scope:
    """The predicate the load deletes the window by (`sync/load.replace_window`)."""
    replaced = replace_window(window, watermark)
    if replaced is None:
        raise ValueError(f"partition {window.key}: the watermark records no cursor column")
    column, lo, hi = replaced
    col, ph = quote_ident(column), warehouse.ph
    target = Scope(*target_table(table, watermark))
    return target.within(f"{col} >= {ph} AND {col} < {ph}", [lo, hi])


def summarise(windows: Sequence[WindowCounts]) -> tuple[TableVerdict, str]:
    """The table's verdict over its windows, and a one-line note naming the windows that differ."""
    by: dict[str, list[str]] = {}
    for w in windows:
        by.setdefault(w.verdict, []).append(w.partition)
    verdict: TableVerdict = "empty"
    if "mismatch" in by:
        verdict = "mismatch"
    elif "behind" in by:
        verdict = "behind"
    elif "ok" in by:
        verdict = "ok"
    order = ("ok", "mismatch", "behind", "not_loaded")
    parts = [f"{len(by[v])} {v.replace('_', ' ')}" for v in order if v in by]
    note = (
        f"{len(windows)} window(s): " + ", ".join(parts) if windows else "no window extracted yet"
    )
    bad = [w for w in windows if w.verdict == "mismatch"]
    if bad:
        note += "; " + "; ".join(f"{w.partition}: {w.note}" for w in bad[:5])
    provisional = [w.partition for w in windows if w.provisional]
    if provisional:
        note += f"; provisional (read again by the next sync): {', '.join(provisional[:5])}"
    return verdict, note
