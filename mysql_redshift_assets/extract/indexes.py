"""Whether the keyset of an incremental table can be read through an index.

Without an index that starts with the cursor, every run's page query reads the whole table
(MySQL sorts it to find the rows past the position): the cost grows with the table, not with
the changes. Reported as a warning naming the table, the column, the estimated cost and the
index to add, never an error (a small table does not need one).
"""

from __future__ import annotations

from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.source import MySQLSource, Source

_INDEXED_FIRST = """SELECT COUNT(*) FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND SEQ_IN_INDEX = 1 AND COLUMN_NAME = %s"""
_ROWS = """SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s"""


def cursor_index_warning(source: Source, plan: TablePlan) -> str | None:
    """A warning when no index starts with the incremental cursor (None: there is one)."""
    if plan.cursor_is_pk or not isinstance(source, MySQLSource):
        return None
    table = plan.table
    schema, name, cursor = table.source_schema, table.source_table, plan.cursor or ""
    row = source.query_one(_INDEXED_FIRST, (schema, name, cursor))
    if plan.fallback is None and row is not None and int(raw_text(row[0])) > 0:
        return None
    estimate = source.query_one(_ROWS, (schema, name))
    rows = int(raw_text(estimate[0])) if estimate and estimate[0] is not None else 0
    keys = ", ".join(source.quote(c) for c in plan.primary_key)
    if plan.fallback is not None:
        fallback = source.quote(plan.fallback)
        return table.error(
            "cursor_fallback",
            f"the keyset runs on {plan.cursor_expr}, which no plain index serves: each run "
            f"scans and sorts the table (~{rows:,} rows). Fix: on MySQL 8.0.13+ `CREATE INDEX "
            f"sync_cursor ON {plan.base_ref or plan.table_ref} (({plan.cursor_expr}), {keys})`; on MariaDB a "
            f"generated column `sync_at AS ({plan.cursor_expr}) STORED` with an index on "
            f"(sync_at, {keys}), used as `cursor: sync_at` (no fallback then; {fallback} is "
            "then only in the generated column)",
        )
    return table.error(
        "cursor",
        f"no index starts with column {cursor!r}: each incremental run scans and sorts the "
        f"whole table (~{rows:,} rows) to find the rows past the position. Fix: CREATE INDEX "
        f"sync_cursor ON {plan.base_ref or plan.table_ref} ({source.quote(cursor)}, {keys})",
    )
