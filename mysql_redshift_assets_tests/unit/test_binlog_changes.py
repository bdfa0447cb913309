"""Keyed changes of a binlog read (extract/binlog/changes.py): a primary-key change is a delete
of the old key and an upsert of the new one, the newest change of a key wins whatever order the
changes arrive in, deletes delete, and other tables' changes are left out."""

from __future__ import annotations

import random

import pytest

from mysql_redshift_assets.extract.binlog.changes import applied, newest_per_key, table_changes
from mysql_redshift_assets.extract.binlog.positions import FilePosition
from mysql_redshift_assets.extract.binlog.stream import RowChange, Transaction

T = ("shop", "items")


def _tx(offset: int, *changes: RowChange) -> Transaction:
    where = FilePosition("binlog.000001", offset)
    return Transaction(where, where, None, changes)


def _ins(id_: int, v: str) -> RowChange:
    return RowChange(T, "insert", None, {"id": id_, "v": v})


def _upd(old: int, new: int, v: str) -> RowChange:
    return RowChange(T, "update", {"id": old, "v": "?"}, {"id": new, "v": v})


def _del(id_: int) -> RowChange:
    return RowChange(T, "delete", {"id": id_, "v": "?"}, None)


READ = [
    _tx(100, _ins(1, "a"), _ins(2, "b"), RowChange(("shop", "other"), "delete", {"id": 1}, None)),
    _tx(200, _upd(1, 10, "a'")),  # a key change: 1 is gone, 10 appears
    _tx(300, _ins(1, "again"), _del(2)),  # the old key reused; a delete
    _tx(400, _upd(10, 10, "a''"), _ins(2, "back")),  # same key updated; deleted key re-inserted
]


def test_key_changes_split_and_the_newest_change_of_a_key_wins() -> None:
    changes = list(table_changes(READ, T, ["id"]))
    assert [(c.key, c.operation, c.position.format()) for c in changes] == [
        ((1,), "upsert", "binlog.000001:100"), ((2,), "upsert", "binlog.000001:100"),
        ((1,), "delete", "binlog.000001:200"), ((10,), "upsert", "binlog.000001:200"),
        ((1,), "upsert", "binlog.000001:300"), ((2,), "delete", "binlog.000001:300"),
        ((10,), "upsert", "binlog.000001:400"), ((2,), "upsert", "binlog.000001:400"),
    ]  # fmt: skip
    assert [c.sequence for c in changes] == list(range(8))
    expected = {(1,): {"id": 1, "v": "again"}, (2,): {"id": 2, "v": "back"},
                (10,): {"id": 10, "v": "a''"}, (7,): {"id": 7, "v": "untouched"}}  # fmt: skip
    start = {(1,): {"id": 1, "v": "old"}, (7,): {"id": 7, "v": "untouched"}}
    assert applied(start, changes) == expected
    shuffled = changes[:]
    random.Random(4).shuffle(shuffled)  # a batch read in another order: sequence decides
    assert applied(start, shuffled) == expected
    assert newest_per_key(shuffled)[(1,)].position == FilePosition("binlog.000001", 300)


def test_only_a_delete_of_a_key_removes_it() -> None:
    changes = list(table_changes([_tx(1, _ins(5, "x")), _tx(2, _del(5))], T, ["id"]))
    assert applied({(5,): {"id": 5, "v": "before"}}, changes) == {}


def test_a_row_image_without_a_key_column_is_an_error_naming_resync() -> None:
    bad = _tx(1, RowChange(T, "insert", None, {"v": "no id"}))
    with pytest.raises(KeyError, match="no column id of the key.*resync"):
        list(table_changes([bad], T, ["id"]))
