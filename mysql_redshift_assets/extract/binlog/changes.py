"""A read's row changes as one table's keyed changes (what a change file will hold: the row's
after image, or its key for a delete, the operation, the commit position), and the rule the
load will apply: the newest change of a key wins, deletes delete.

An update that changes the primary key is two keyed changes: a delete of the old key, then an
upsert of the new one (so a later read that sees only the new key still finds the old one gone).
`sequence` numbers the changes of one read in commit order, then binlog order within a
transaction: the order the load must respect when one batch holds several changes of a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mysql_redshift_assets.extract.binlog.positions import BinlogPosition
from mysql_redshift_assets.extract.binlog.stream import RowChange, TableName, Transaction

Key = tuple[Any, ...]


@dataclass(frozen=True)
class KeyedChange:
    """One change of a key: `row` is the after image of an upsert, None for a delete."""

    key: Key
    operation: Literal["upsert", "delete"]
    row: dict[str, Any] | None
    position: BinlogPosition
    sequence: int


def _key(image: Mapping[str, Any], key_columns: Sequence[str], change: RowChange) -> Key:
    missing = [name for name in key_columns if name not in image]
    if missing:
        raise KeyError(
            f"the binlog's row image of {'.'.join(change.table)} has no column "
            f"{', '.join(missing)} of the key: the table changed (resync it)"
        )
    return tuple(image[name] for name in key_columns)


def table_changes(
    transactions: Iterable[Transaction], table: TableName, key_columns: Sequence[str]
) -> Iterator[KeyedChange]:
    """The keyed changes of `table` in the order read (commit order)."""
    sequence = 0
    for transaction in transactions:
        for change in transaction.changes:
            if change.table != table:
                continue
            before = _key(change.before, key_columns, change) if change.before else None
            after = _key(change.after, key_columns, change) if change.after else None
            if before is not None and before != after:
                yield KeyedChange(before, "delete", None, transaction.position, sequence)
                sequence += 1
            if after is not None:
                yield KeyedChange(after, "upsert", change.after, transaction.position, sequence)
                sequence += 1


def newest_per_key(changes: Iterable[KeyedChange]) -> dict[Key, KeyedChange]:
    """The newest change of each key (by `sequence`)."""
    newest: dict[Key, KeyedChange] = {}
    for change in changes:
        kept = newest.get(change.key)
        if kept is None or change.sequence > kept.sequence:
            newest[change.key] = change
    return newest


def applied(rows: Mapping[Key, dict[str, Any]], changes: Iterable[KeyedChange]) -> dict[Key, Any]:
    """`rows` (key -> row) with the newest change of each key applied: an in-memory model of
    the load's merge (the warehouse does the same in SQL)."""
    result = dict(rows)
    for key, change in newest_per_key(changes).items():
        if change.row is None:
            result.pop(key, None)
        else:
            result[key] = dict(change.row)
    return result
