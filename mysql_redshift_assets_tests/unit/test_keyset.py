"""Keyset pages: the exact SQL, and (on SQLite) that the predicate means "strictly after"."""

from __future__ import annotations

import itertools
import random
import sqlite3

import pytest

from mysql_redshift_assets.extract.keyset import after_predicate, page_query


# -- exact SQL and parameters ------------------------------------------------------------------
def test_after_predicate_one_column() -> None:
    sql, params = after_predicate(["`id`"], ["42"], "%s")
    assert sql == "((`id` > %s))"
    assert params == ["42"]


def test_after_predicate_two_columns() -> None:
    sql, params = after_predicate(["`updated_at`", "`id`"], ["2024-01-01 00:00:00", "7"], "%s")
    assert sql == "((`updated_at` > %s) OR (`updated_at` = %s AND `id` > %s))"
    assert params == ["2024-01-01 00:00:00", "2024-01-01 00:00:00", "7"]


def test_after_predicate_three_columns() -> None:
    sql, params = after_predicate(['"c"', '"a"', '"b"'], ["C", "A", "B"], "?")
    assert sql == '(("c" > ?) OR ("c" = ? AND "a" > ?) OR ("c" = ? AND "a" = ? AND "b" > ?))'
    assert params == ["C", "C", "A", "C", "A", "B"]
    assert sql.count("?") == len(params)


def test_first_page_has_no_where_clause() -> None:
    page = page_query(
        select_list=["`id`", "`v`"],
        table_ref="`s`.`t`",
        order_by=["`id`"],
        after=None,
        upper=None,
        limit=10,
        placeholder="%s",
    )
    assert page.sql == "SELECT `id`, `v` FROM `s`.`t` ORDER BY `id` LIMIT %s"
    assert page.params == [10]


def test_first_page_with_upper_bound() -> None:
    page = page_query(
        select_list=["`id`", "`u`"],
        table_ref="`s`.`t`",
        order_by=["`u`", "`id`"],
        after=None,
        upper=("`u`", "<", "2024-05-01 10:00:00.000000"),
        limit=500,
        placeholder="%s",
    )
    assert page.sql == "SELECT `id`, `u` FROM `s`.`t` WHERE `u` < %s ORDER BY `u`, `id` LIMIT %s"
    assert page.params == ["2024-05-01 10:00:00.000000", 500]


def test_next_page_one_column_with_upper_bound() -> None:
    page = page_query(
        select_list=["`id`"],
        table_ref="`s`.`t`",
        order_by=["`id`"],
        after=["99"],
        upper=("`id`", "<=", "1000"),
        limit=25,
        placeholder="%s",
    )
    assert page.sql == (
        "SELECT `id` FROM `s`.`t` WHERE ((`id` > %s)) AND `id` <= %s ORDER BY `id` LIMIT %s"
    )
    assert page.params == ["99", "1000", 25]


def test_next_page_two_columns() -> None:
    page = page_query(
        select_list=["`id`", "`u`", "(`f` * 1E0)"],
        table_ref="`s`.`t`",
        order_by=["`u`", "`id`"],
        after=["2024-01-01 00:00:00", "5"],
        upper=("`u`", "<", "2024-06-01 00:00:00"),
        limit=3,
        placeholder="%s",
    )
    assert page.sql == (
        "SELECT `id`, `u`, (`f` * 1E0) FROM `s`.`t` "
        "WHERE ((`u` > %s) OR (`u` = %s AND `id` > %s)) AND `u` < %s "
        "ORDER BY `u`, `id` LIMIT %s"
    )
    assert page.params == [
        "2024-01-01 00:00:00",
        "2024-01-01 00:00:00",
        "5",
        "2024-06-01 00:00:00",
        3,
    ]


def test_next_page_three_columns_no_upper_bound() -> None:
    page = page_query(
        select_list=["`c`", "`a`", "`b`"],
        table_ref="`s`.`t`",
        order_by=["`c`", "`a`", "`b`"],
        after=["x", "1", "2"],
        upper=None,
        limit=7,
        placeholder="%s",
    )
    assert page.sql == (
        "SELECT `c`, `a`, `b` FROM `s`.`t` "
        "WHERE ((`c` > %s) OR (`c` = %s AND `a` > %s) OR (`c` = %s AND `a` = %s AND `b` > %s)) "
        "ORDER BY `c`, `a`, `b` LIMIT %s"
    )
    assert page.params == ["x", "x", "1", "x", "1", "2", 7]


def test_limit_is_always_an_int_parameter() -> None:
    page = page_query(
        select_list=["`id`"],
        table_ref="`t`",
        order_by=["`id`"],
        after=None,
        upper=None,
        limit="12",  # type: ignore[arg-type]
        placeholder="%s",
    )
    assert page.params == [12] and "12" not in page.sql


# -- property-style: the predicate selects exactly the rows after a position (SQLite) ----------
ORDER = ['"c"', '"a"', '"b"']


@pytest.fixture(scope="module")
def tied_rows() -> list[tuple[int, int, int]]:
    """Rows (c, a, b), unique as a whole, with heavy ties on c and on (c, a)."""
    rng = random.Random(20240501)
    rows = set()
    while len(rows) < 300:
        rows.add((rng.randint(0, 5), rng.randint(0, 6), rng.randint(0, 40)))
    return sorted(rows)


@pytest.fixture(scope="module")
def db(tied_rows: list[tuple[int, int, int]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (c INTEGER, a INTEGER, b INTEGER, PRIMARY KEY (c, a, b))")
    shuffled = list(tied_rows)
    random.Random(7).shuffle(shuffled)  # insertion order must not matter
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", shuffled)
    return conn


def _after_sql(db: sqlite3.Connection, width: int, position: tuple[int, ...]) -> list[tuple]:
    """Whole rows (c, a, b) after `position` on the first `width` order columns."""
    predicate, params = after_predicate(ORDER[:width], list(position), "?")
    sql = f"SELECT c, a, b FROM t WHERE {predicate} ORDER BY c, a, b"
    return db.execute(sql, params).fetchall()


@pytest.mark.parametrize("width", [1, 2, 3])
def test_predicate_selects_exactly_the_rows_after(db, tied_rows, width) -> None:
    # Positions in the table, between rows, before the first and after the last.
    rng = random.Random(width)
    probes = {row[:width] for row in tied_rows}
    probes |= {tuple(rng.randint(-1, 41) for _ in range(width)) for _ in range(200)}
    probes |= {(-1,) * width, (99,) * width}
    sizes = set()
    for position in sorted(probes):
        got = _after_sql(db, width, position)
        expected = [row for row in tied_rows if row[:width] > position]
        assert got == expected, f"position {position}"
        sizes.add(len(got))
    # The probes covered "everything", "nothing" and many partial answers.
    assert {0, len(tied_rows)} <= sizes and len(sizes) > 5


@pytest.mark.parametrize("width", [1, 2, 3])
def test_predicate_on_tied_prefix_excludes_equal_rows(db, tied_rows, width) -> None:
    # Rows equal to the position on every order column are never "after" it.
    for row in tied_rows[::17]:
        position = row[:width]
        got = _after_sql(db, width, position)
        assert all(r[:width] > position for r in got)
        assert not [r for r in got if r[:width] == position]
        assert len(got) == sum(1 for r in tied_rows if r[:width] > position)


@pytest.mark.parametrize("limit", [1, 3, 10, 299, 300, 1000])
def test_paging_with_ties_reads_every_row_exactly_once(db, tied_rows, limit) -> None:
    seen: list[tuple] = []
    after = None
    for _ in itertools.count():
        page = page_query(
            select_list=ORDER,
            table_ref="t",
            order_by=ORDER,
            after=after,
            upper=('"c"', "<=", 4),
            limit=limit,
            placeholder="?",
        )
        rows = db.execute(page.sql, page.params).fetchall()
        seen.extend(rows)
        if len(rows) < limit:
            break
        after = list(rows[-1])
    assert seen == [r for r in tied_rows if r[0] <= 4]
    assert len(seen) == len(set(seen))
