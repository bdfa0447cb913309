"""Keyset pages: `(c > :c) OR (c = :c AND pk > :pk)`, never OFFSET, never the timestamp alone.

MariaDB does not use an index for the row-constructor form `(c, pk) > (:c, :pk)`, so the
predicate is spelled out; it extends lexicographically to composite keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple


class Bound(NamedTuple):
    """One side of a range on a column: `column op value` (the column quoted for the source)."""

    column: str
    op: Literal["<", "<=", ">="]
    value: Any


@dataclass(frozen=True)
class Page:
    sql: str
    params: list[Any]


def after_predicate(quoted: Sequence[str], values: Sequence[Any], ph: str) -> tuple[str, list[Any]]:
    """Rows strictly after `values` in the order of `quoted` columns.

    Fewer values than columns is a position set by hand (`watermark set --timestamp T`): rows
    whose leading columns are at or after the values, i.e. `c >= T` for a (c, pk) keyset.
    """
    terms: list[str] = []
    params: list[Any] = []
    for i, column in enumerate(quoted[: len(values)]):
        equal = [f"{quoted[j]} = {ph}" for j in range(i)]
        terms.append("(" + " AND ".join([*equal, f"{column} > {ph}"]) + ")")
        params.extend([*values[:i], values[i]])
    if 0 < len(values) < len(quoted):
        terms.append("(" + " AND ".join(f"{quoted[j]} = {ph}" for j in range(len(values))) + ")")
        params.extend(values)
    return "(" + " OR ".join(terms) + ")", params


def page_query(
    *,
    select_list: Sequence[str],
    table_ref: str,
    order_by: Sequence[str],
    after: Sequence[Any] | None,
    upper: Bound | None,
    limit: int,
    placeholder: str,
    bounds: Sequence[Bound] = (),
) -> Page:
    """One page of at most `limit` rows after `after`, below `upper`, inside every bound of
    `bounds` (a partition's window, a key range)."""
    where: list[str] = []
    params: list[Any] = []
    if after is not None:
        predicate, params = after_predicate(order_by, after, placeholder)
        where.append(predicate)
    for column, op, value in [*bounds, *([upper] if upper is not None else [])]:
        where.append(f"{column} {op} {placeholder}")
        params.append(value)
    sql = f"SELECT {', '.join(select_list)} FROM {table_ref}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {', '.join(order_by)} LIMIT {placeholder}"
    params.append(int(limit))
    return Page(sql, params)
