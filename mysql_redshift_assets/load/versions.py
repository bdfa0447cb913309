"""Soft deletes (`deletes: soft`) and history (`history: true`): rows the warehouse keeps after
MySQL let go of them, in columns the target has and the files never carry.

- `deletes: soft`: `mra$deleted_at` (TIMESTAMP, UTC), NULL for a live row. The delete pass sets
  it to the pass's time instead of deleting the row (`load/deletes.py`); a binlog delete sets it
  to the load's time (the change files carry the commit order, not the commit time) and keeps
  the deleted row's last values (its before image). A key inserted again comes back to life: the
  merge replaces the row, `mra$deleted_at` NULL.
- `history: true` (type 2): every version kept with `mra$valid_from` / `mra$valid_to` (the
  load's time; NULL: the current version) and `mra$version` (the change's commit order with
  binlog capture, the row's place in its extraction with a cursor). A merge closes the current
  version and inserts the new one in the load's transaction; a delete closes the current
  version and opens none. With a cursor a version is the row as one load found it (a version
  equal to the current one, a re-read, opens nothing); with binlog capture every committed
  change is one, the versions of one load ordered by `mra$version` (intervals of zero length
  but for the last).

The current rows are those where the `retire_column` IS NULL (`live_where`): reconciliation,
`validate` and the delete pass compare MySQL with them alone. Every timestamp is taken once in
Python (UTC, naive as TIMESTAMP holds it) and bound as a parameter, so that one transaction's
closing and opening times are equal in every dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.request import LoadError, LoadRequest
from mysql_redshift_assets.store.parquet import DELETED_COLUMN, ORDER_COLUMN

DELETED_AT = "mra$deleted_at"
VALID_FROM = "mra$valid_from"
VALID_TO = "mra$valid_to"
VERSION = "mra$version"
# Every column this module adds to a target: never in a file, so never "gone from MySQL".
KEPT_COLUMNS = frozenset({DELETED_AT, VALID_FROM, VALID_TO, VERSION})


def now() -> datetime:
    """The instant one transaction writes, as a TIMESTAMP holds it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def soft(table: TableConfig) -> bool:
    return table.deletes == "soft"


def kept_columns(table: TableConfig) -> list[tuple[str, str]]:
    """The columns `table`'s target has beyond the files' (name, type)."""
    if table.history:
        return [(VALID_FROM, "TIMESTAMP"), (VALID_TO, "TIMESTAMP"), (VERSION, "BIGINT")]
    if soft(table):
        return [(DELETED_AT, "TIMESTAMP")]
    return []


def retire_column(table: TableConfig) -> str | None:
    """The column a delete sets instead of deleting the row (None: rows are deleted)."""
    if table.history:
        return VALID_TO
    return DELETED_AT if soft(table) else None


def live_where(table: TableConfig) -> str:
    """The predicate of the rows MySQL still has ("": every row)."""
    column = retire_column(table)
    return f"{quote_ident(column)} IS NULL" if column else ""


def retired_where(table: TableConfig) -> str:
    """The predicate of the rows kept for history or as deleted ("": none)."""
    column = retire_column(table)
    return f"{quote_ident(column)} IS NOT NULL" if column else ""


def check_keyed(request: LoadRequest) -> None:
    """Soft deletes and history mark rows by key: a keyless table cannot have them."""
    if request.primary_key or not retire_column(request.table):
        return
    what = "`history: true`" if request.table.history else "`deletes: soft`"
    raise LoadError(
        request.table.error(
            None,
            f"{what} needs a primary key and MySQL's table has none (declare `primary_key:`, "
            "or remove it)",
        )
    )


def changes_sql(
    request: LoadRequest, target: str, staging: str, names: Sequence[str], ph: str
) -> list[tuple[str, int]]:
    """Change files' statements for a soft-delete or history table (empty: neither)."""
    key = request.primary_key
    if request.table.history:
        return history_changes_sql(target, staging, names, key, ph)
    if soft(request.table):
        return soft_changes_sql(target, staging, names, key, ph)
    return []


def _match(target: str, other: str, key: Sequence[str]) -> str:
    return " AND ".join(f"{target}.{k} = {other}.{k}" for k in key)


def retire_sql(target: str, doomed: str, key_columns: Sequence[str], column: str, ph: str) -> str:
    """The delete pass's UPDATE: the live rows of the doomed keys retired at the bound time."""
    key = [quote_ident(k) for k in key_columns]
    col = quote_ident(column)
    return (
        f"UPDATE {target} SET {col} = {ph} FROM {doomed} "
        f"WHERE {_match(target, doomed, key)} AND {target}.{col} IS NULL"
    )


def history_merge_sql(
    target: str,
    staging: str,
    names: Sequence[str],
    key: Sequence[str],
    order: str,
    ph: str,
    *,
    ordered: bool,
) -> list[tuple[str, int]]:
    """A cursor table's merge with history: (SQL, how many times it binds the load's time).
    The newest staged version of each key (`order`) closes the current version if any value
    differs, and is inserted where the key has no current version left."""
    cols = ", ".join(quote_ident(n) for n in names)
    pk = [quote_ident(k) for k in key]
    order_col = quote_ident(ORDER_COLUMN)
    picked = f"{cols}, {order_col}" if ordered else cols
    latest = (
        f"(SELECT * FROM (SELECT {picked}, ROW_NUMBER() OVER (PARTITION BY {', '.join(pk)} "
        f'ORDER BY {order}) AS "mra_rank" FROM {staging}) AS "ranked" WHERE "mra_rank" = 1) '
        'AS "latest"'
    )
    new = '"latest"'
    valid_to, valid_from, version = map(quote_ident, (VALID_TO, VALID_FROM, VERSION))
    same = " AND ".join(
        f"({target}.{c} = {new}.{c} OR ({target}.{c} IS NULL AND {new}.{c} IS NULL))"
        for c in map(quote_ident, names)
    )
    close = (
        f"UPDATE {target} SET {valid_to} = {ph} FROM {latest} "
        f"WHERE {_match(target, new, pk)} AND {target}.{valid_to} IS NULL AND NOT ({same})"
    )
    open_ = (
        f"INSERT INTO {target} ({cols}, {valid_from}, {valid_to}, {version}) "
        f"SELECT {cols}, {ph}, NULL, {order_col if ordered else 'NULL'} FROM {latest} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {_match(target, new, pk)} "
        f"AND {target}.{valid_to} IS NULL)"
    )
    return [(close, 1), (open_, 1)]


def history_changes_sql(
    target: str, staging: str, names: Sequence[str], key: Sequence[str], ph: str
) -> list[tuple[str, int]]:
    """Change files with history: every key a change touches has its current version closed;
    every change that is not a delete is inserted as a version, open only if it is its key's
    last change in the load."""
    cols = ", ".join(quote_ident(n) for n in names)
    pk = [quote_ident(k) for k in key]
    order, deleted = quote_ident(ORDER_COLUMN), quote_ident(DELETED_COLUMN)
    valid_to, valid_from, version = map(quote_ident, (VALID_TO, VALID_FROM, VERSION))
    close = (
        f"UPDATE {target} SET {valid_to} = {ph} FROM (SELECT DISTINCT {', '.join(pk)} FROM "
        f"{staging}) AS {staging} WHERE {_match(target, staging, pk)} "
        f"AND {target}.{valid_to} IS NULL"
    )
    open_ = (
        f"INSERT INTO {target} ({cols}, {valid_from}, {valid_to}, {version}) "
        f'SELECT {cols}, {ph}, CASE WHEN "mra_next" IS NULL THEN NULL ELSE {ph} END, {order} '
        f"FROM (SELECT {cols}, {deleted}, {order}, LEAD({order}) OVER (PARTITION BY "
        f'{", ".join(pk)} ORDER BY {order}) AS "mra_next" FROM {staging}) AS "changes" '
        f"WHERE NOT {deleted}"
    )
    return [(close, 1), (open_, 2)]


def soft_changes_sql(
    target: str, staging: str, names: Sequence[str], key: Sequence[str], ph: str
) -> list[tuple[str, int]]:
    """Change files with soft deletes: every key a change touches is replaced by its newest
    change; a delete's row (its before image: the row's last values) stays, deleted at the
    load's time."""
    cols = ", ".join(quote_ident(n) for n in names)
    pk = [quote_ident(k) for k in key]
    order, deleted, at = (quote_ident(c) for c in (ORDER_COLUMN, DELETED_COLUMN, DELETED_AT))
    latest = (
        f"(SELECT {cols}, {deleted}, ROW_NUMBER() OVER (PARTITION BY {', '.join(pk)} "
        f'ORDER BY {order} DESC) AS "mra_rank" FROM {staging})'
    )
    drop = f"DELETE FROM {target} USING {staging} WHERE {_match(target, staging, pk)}"
    insert = (
        f"INSERT INTO {target} ({cols}, {at}) SELECT {cols}, CASE WHEN {deleted} THEN {ph} "
        f'ELSE NULL END FROM {latest} AS "latest" WHERE "mra_rank" = 1'
    )
    return [(drop, 0), (insert, 1)]


def opened_at_sql(side: str) -> str:
    """The instant the generation's rows opened their versions at (history): a swap closes the
    old table's current versions at it, so that each key's intervals meet (`load/swap.py`)."""
    return f"SELECT MAX({quote_ident(VALID_FROM)}) FROM {side}"


def instant(value: datetime | None) -> datetime:
    """`value` as a TIMESTAMP holds it (naive UTC); None: now."""
    if value is None:
        return now()
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def carry_over_sql(
    table: TableConfig,
    target: str,
    side: str,
    old: Sequence[str],
    new: Sequence[str],
    key: Sequence[str],
    ph: str,
) -> list[tuple[str, int]]:
    """A generation swapped in over a soft-delete or history table (a resync) keeps what the old
    table kept: soft deletes, its rows whose key the generation lacks, deleted at the swap (or
    when they were); history, every old version, the current ones closed at the swap (the
    generation's rows open the new versions). Columns the generation no longer has are not
    carried; the old table's `old` columns, the generation's `new` ones."""
    common = [c for c in new if c in old]
    cols = ", ".join(quote_ident(c) for c in common)

    def kept(column: str) -> str:  # the option turned on since the old table was made: NULL
        return f"{target}.{quote_ident(column)}" if column in old else "NULL"

    if table.history:
        vf, vt, ver = map(quote_ident, (VALID_FROM, VALID_TO, VERSION))
        return [
            (
                f"INSERT INTO {side} ({cols}, {vf}, {vt}, {ver}) SELECT {cols}, "
                f"{kept(VALID_FROM)}, COALESCE({kept(VALID_TO)}, {ph}), {kept(VERSION)} "
                f"FROM {target}",
                1,
            )
        ]
    if soft(table):
        at = quote_ident(DELETED_AT)
        pk = [quote_ident(k) for k in key]
        return [
            (
                f"INSERT INTO {side} ({cols}, {at}) SELECT {cols}, "
                f"COALESCE({kept(DELETED_AT)}, {ph}) FROM {target} WHERE NOT EXISTS (SELECT 1 "
                f"FROM {side} WHERE {_match(target, side, pk)})",
                1,
            )
        ]
    return []
