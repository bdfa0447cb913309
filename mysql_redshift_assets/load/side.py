"""The side table a swap or a rebuild fills beside the target, outside the target's lock.

Each attempt fills a table of its own: `<target>__mra_<hash of the target's name>_<time><random>`
(`side_table`), cut to 63 bytes, the smallest identifier limit of the warehouses (PostgreSQL's
NAMEDATALEN - 1; Redshift's is 127 bytes, https://docs.aws.amazon.com/redshift/latest/dg/r_names.html),
so two swaps of one table, or a swap and its retry, never fill each other's. An attempt that
fails drops its own (`drop_quietly`). A process killed between filling it and swapping it in
cannot: the next swap or rebuild of the same table drops, under the target's lock, every other
side table of that table (`drop_dead_side_tables`), so leftovers never outlive the next swap.

Dropping one whose attempt is still alive is safe, and its work was stale anyway. Such an
attempt has committed its fill and waits for the target's lock (a fill not yet committed is
invisible in the catalog, and its table locked). Under the lock it re-reads, in this order:
the ledger (our swap recorded the generation: a swap of the same one finds it done; a rebuild
finds the table's ledger rows changed and fills again), the fence (a swap of an older
generation is refused), then that its own side table still exists, else `RetryLoad`: fill
again. So no row is lost or doubled; the worst case, a swap racing a rebuild of the same table,
is one more fill. The time in the name only tells an operator when a side table was made.
"""

from __future__ import annotations

import re
import secrets
import time
from contextlib import suppress

from mysql_redshift_assets.identifiers import short_hash
from mysql_redshift_assets.load.base import Warehouse

NAME_LIMIT = 63  # bytes: PostgreSQL's identifier limit, the smallest of the warehouses
_STAMP = 7  # base-36 digits of the Unix time (until the year 4453)
_RANDOM = 6  # hex digits


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(_STAMP, "0")


def _prefix(name: str) -> str:
    """What every side table of `name` starts with."""
    tail = f"__mra_{short_hash(name, 6)}_"
    room = NAME_LIMIT - len(tail) - _STAMP - _RANDOM
    return name.encode()[:room].decode("utf-8", "ignore") + tail


def side_table(name: str, now: float | None = None) -> str:
    """A new side table's (unquoted) name for target `name`, unique to the attempt."""
    stamp = _base36(int(time.time() if now is None else now))
    return f"{_prefix(name)}{stamp}{secrets.token_hex(_RANDOM // 2)}"


def side_tables_of(warehouse: Warehouse, schema: str, name: str) -> dict[str, int]:
    """{side table: its Unix time of creation} of target `name` in `schema`."""
    prefix = _prefix(name)
    pattern = re.compile(re.escape(prefix) + f"([0-9a-z]{{{_STAMP}}})[0-9a-f]{{{_RANDOM}}}")
    rows = warehouse.fetchall(
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_schema = {warehouse.ph} AND table_name LIKE {warehouse.ph}",
        # `_` and `%` match themselves too, and a backslash (an escape in some dialects' LIKE)
        # becomes `_`: the pattern only ever widens; the regex decides.
        (schema, prefix.replace("\\", "_") + "%"),
    )
    found = {}
    for (table,) in rows:
        match = pattern.fullmatch(table)
        if match:
            found[table] = int(match.group(1), 36)
    return found


def side_exists(warehouse: Warehouse, schema: str, side: str) -> bool:
    return bool(warehouse.table_columns(schema, side))


def drop_dead_side_tables(warehouse: Warehouse, schema: str, name: str, keep: str) -> list[str]:
    """Under the target's lock: drop every side table of `name` but `keep` (the caller's own);
    the names dropped."""
    dead = sorted(t for t in side_tables_of(warehouse, schema, name) if t != keep)
    for table in dead:
        warehouse.execute(f"DROP TABLE IF EXISTS {warehouse.ref(schema, table)}")
    return dead


def drop_quietly(warehouse: Warehouse, schema: str, side: str) -> None:
    """A failed attempt's side table, in a transaction of its own; a failure here is left to
    `drop_dead_side_tables` (the original error is what matters)."""
    with suppress(Exception):
        warehouse.rollback()  # a failed COMMIT may leave the transaction open
    with suppress(Exception):
        warehouse.execute(f"DROP TABLE IF EXISTS {warehouse.ref(schema, side)}")
        warehouse.commit()


class Side:
    """The side table of one swap or rebuild, kept across its attempts: filled once, and reused
    by an attempt run again after a serialization failure of the locked step (the abort
    AWS documents comes at the ledger write or COMMIT, after the whole copy: refilling each
    time would make every retry a full copy). Dropped when the step ends without swapping it
    in, or when an attempt fails for another reason."""

    def __init__(self, warehouse: Warehouse, schema: str, target: str) -> None:
        self.warehouse, self.schema, self.target = warehouse, schema, target
        self.name: str | None = None
        self.rows = 0  # rows the fill copied (the swap's)
        self.seen: object = None  # what the fill saw (the rebuild's ledger rows)

    def ready(self) -> bool:
        """Filled by an earlier attempt, and still there."""
        return self.name is not None and side_exists(self.warehouse, self.schema, self.name)

    def new(self) -> str:
        self.drop()
        self.name = side_table(self.target)
        return self.name

    def swapped(self) -> None:
        self.name = None  # it is the target now

    def drop(self) -> None:
        if self.name is not None:
            drop_quietly(self.warehouse, self.schema, self.name)
            self.name = None
