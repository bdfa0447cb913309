"""Compare a MySQL table with its warehouse table bucket by bucket, descending only where a
bucket's count or hash sums differ, down to the keys of the differing buckets.

One GROUP BY over the key on each side answers for the whole table; a differing key-range bucket
is split (`FANOUT`) until it is `LEAF_WIDTH` keys wide, then its keys (and row hashes) are read
from both sides. A differing hash-prefix bucket is read key by key at once (another level would
scan the whole table again). What is read per query is bounded by `CHUNK` buckets.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.scope import Scope
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.reconcile.buckets import (
    FANOUT,
    LEAF_WIDTH,
    TOP_BUCKETS,
    Level,
    Restrict,
    Shape,
    first_level,
)

CHUNK = 500  # buckets (or key ranges) per query: bounds the SQL text and the keys held
EXAMPLES = 10
Summaries = dict[Any, tuple[int, int, int]]


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value)
    return int(raw_text(value))


class MySQLSide:
    def __init__(self, source: Source, shape: Shape) -> None:
        self.source, self.shape = source, shape

    def rows(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        for batch in self.source.stream(sql, params, 10_000):
            yield from batch


class WarehouseSide:
    def __init__(self, warehouse: Warehouse, shape: Shape) -> None:
        self.warehouse, self.shape = warehouse, shape

    def rows(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        yield from self.warehouse.fetchall(sql, params)


Side = MySQLSide | WarehouseSide


@dataclass
class Diff:
    """What differs between a scope of MySQL and one of the warehouse: of a keyed table, key by
    key (`compare`); of a keyless one, as multisets of rows (`keyless.compare_rows`: no
    `changed`, `pending`, `duplicates` or keys). Keys are shown as their canonical text, rows
    as their values'; `extra_keys` holds the warehouse's own typed key values of the keys MySQL
    no longer has (what a delete needs)."""

    mysql_rows: int = 0
    warehouse_rows: int = 0
    missing: int = 0  # settled in MySQL, absent from the warehouse (keyless: held less often)
    extra: int = 0  # in the warehouse, not in MySQL (keyless: held more often)
    extra_keys: list[tuple[Any, ...]] = field(default_factory=list)
    changed: int = 0  # settled in MySQL, another value in the warehouse
    pending: int = 0  # past the watermark in MySQL: the next run carries them
    duplicates: int = 0  # warehouse rows sharing a key
    # False when no column has a text every dialect hashes alike: only counts were compared
    values_compared: bool = True
    keyed: bool = True  # False: compared as multisets of rows (a table without a primary key)
    examples: dict[str, list[str]] = field(default_factory=dict)
    buckets_compared: int = 0
    keys_fetched: int = 0
    levels: int = 0

    @property
    def same(self) -> bool:
        return not (self.extra or self.missing or self.changed or self.duplicates)

    def _note(self, kind: str, key: str) -> None:
        shown = self.examples.setdefault(kind, [])
        if len(shown) < EXAMPLES:
            shown.append(key)


def _summaries(side: Side, level: Level, restricts: list[Restrict]) -> Summaries:
    out: Summaries = {}
    for restrict in restricts:
        sql, params = side.shape.summary_sql(level, restrict)
        for row in side.rows(sql, params):
            label = raw_text(row[0]) if level.prefix else _int(row[0])
            rows = _int(row[3]) if len(row) > 3 else 0
            out[label] = (_int(row[1]), _int(row[2]), rows)
    return out


def _chunks(restrict: Restrict) -> list[Restrict]:
    assert restrict is not None
    return [restrict[i : i + CHUNK] for i in range(0, len(restrict), CHUNK)]


def compare(
    mysql: MySQLSide,
    warehouse: WarehouseSide,
    *,
    pending: Scope | None = None,
    deletes_only: bool = False,
    top_buckets: int = TOP_BUCKETS,
    fanout: int = FANOUT,
    leaf_width: int = LEAF_WIDTH,
) -> Diff:
    """Compare both sides. `pending`: MySQL's rows past the watermark (not settled): those
    are pending, not wrong. `deletes_only` skips buckets the warehouse has no
    row in (nothing there to delete)."""
    diff = Diff()
    wh_bounds = list(warehouse.rows(*warehouse.shape.bounds_sql(count=True)))[0]
    my_bounds = list(mysql.rows(*mysql.shape.bounds_sql(count=False)))[0]
    ends = [_int(v) for v in (*my_bounds[:2], *wh_bounds[:2]) if v is not None]
    level = first_level(
        mysql.shape.int_key, min(ends, default=None), max(ends, default=None),
        _int(wh_bounds[2]), top_buckets, fanout, leaf_width,
    )  # fmt: skip
    restricts: list[Restrict] = [None]
    while True:
        diff.levels += 1
        a, b = _summaries(mysql, level, restricts), _summaries(warehouse, level, restricts)
        if diff.levels == 1:
            diff.mysql_rows = sum(v[0] for v in a.values())
            diff.warehouse_rows = sum(v[0] for v in b.values())
        diff.buckets_compared += len(a.keys() | b.keys())
        labels = [x for x in a.keys() | b.keys() if a.get(x) != b.get(x)]
        if deletes_only:
            labels = [x for x in labels if x in b]
        if not labels:
            return diff
        restricts = _chunks(level.restrict(labels))
        if level.is_leaf:
            break
        level = level.child()
    for restrict in restricts:
        _compare_keys(mysql, warehouse, restrict, pending, diff)
    return diff


def _compare_keys(
    mysql: MySQLSide,
    warehouse: WarehouseSide,
    restrict: Restrict,
    pending: Scope | None,
    diff: Diff,
) -> None:
    flag = [f"CASE WHEN {pending.predicate} THEN 1 ELSE 0 END"] if pending else []
    sql, params = mysql.shape.leaf_sql(restrict, flag)
    mine = {
        raw_text(r[0]): (None if r[1] is None else raw_text(r[1]), bool(flag) and _int(r[2]) == 1)
        for r in mysql.rows(sql, [*(pending.params if pending else ()), *params])
    }
    typed = [warehouse.shape.ref(c) for c in warehouse.shape.key]
    sql, params = warehouse.shape.leaf_sql(restrict, typed)
    theirs: dict[str, tuple[Any, tuple[Any, ...]]] = {}
    for r in warehouse.rows(sql, params):
        if str(r[0]) in theirs:
            diff.duplicates += 1
            diff._note("duplicated", str(r[0]))
        theirs[str(r[0])] = (r[1], tuple(r[2:]))
    diff.keys_fetched += len(mine) + len(theirs)
    for key, (_, values) in theirs.items():
        if key not in mine:
            diff.extra += 1
            diff.extra_keys.append(values)
            diff._note("extra", key)
    for key, (row_hash, later) in mine.items():
        if key in theirs and theirs[key][0] == row_hash:
            continue
        kind = "pending" if later else ("changed" if key in theirs else "missing")
        setattr(diff, kind, getattr(diff, kind) + 1)
        diff._note(kind, key)
