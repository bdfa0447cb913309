"""`where:` refusals (one clear config error each: functions, subqueries, bad syntax, an unknown
column, a type mismatch, a text comparison a binlog table cannot evaluate in Python), the SQL we
render (no text of the user's in it), and what a binlog change becomes through the filter."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.config.row_filter import parse_filter
from mysql_redshift_assets.defs.translator import MysqlRedshiftTranslator
from mysql_redshift_assets.extract.row_filter import FilterError, bind_filter, through_filter
from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.unit.test_config import PIPELINE, write_folder


def _load(tmp_path: Path, where: str) -> None:
    table = {"cursor": "updated_at", "where": where}
    load_project(
        write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.orders": table}}})
    )


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (
            "created_at > NOW() - INTERVAL 1 DAY",
            r"function NOW\(\.\.\.\) at character 13 is not accepted",
        ),
        ("LOWER(region) = 'eu'", r"function LOWER\(\.\.\.\) at character 0"),
        ("RAND() < 0.5", r"function RAND"),
        ("created_at > CURRENT_TIMESTAMP", r"time-dependent predicates are not accepted"),
        ("id IN (SELECT id FROM vip)", r"SELECT at character 7: a subquery is not accepted"),
        ("EXISTS (SELECT 1 FROM vip)", r"function EXISTS"),
        ("amount = other_amount", r"not with another column"),
        ("region = NULL", r"write `col IS NULL`"),
        ("region LIKE 'e%'", r"LIKE is not accepted"),
        ("region = 'eu' AND", r"expected a column name at character 17, found 'end of text'"),
        ("region = 'eu'; DROP TABLE t", r"unexpected '; DROP TABLE t' at character 13"),
        ("region = 'it\\'s'", r"backslash escapes are not accepted"),
        ("(region = 'eu'", r"expected '\)' at character 14"),
        ("region IN ()", r"expected a literal"),
        ("   ", r"the filter is empty"),
    ],
)
def test_a_filter_outside_the_grammar_is_one_config_error(
    tmp_path: Path, where: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, where)
    message = str(err.value)
    assert "shop.yml" in message and "shop.orders" in message and "where" in message
    assert re.search(says, message), message


def test_an_accepted_filter_loads(tmp_path: Path) -> None:
    _load(
        tmp_path,
        "region IN ('eu', 'us') AND NOT (amount < 10 OR amount IS NULL) AND `order` BETWEEN 1 AND 9",
    )


def _column(name: str, data_type: str, collation: str | None = None) -> SourceColumn:
    return SourceColumn(
        name, data_type, data_type, True, None, None, None, None, 1, None, collation
    )


COLUMNS = {
    c.name: c
    for c in [
        _column("id", "int"),
        _column("Region", "varchar", "utf8mb4_bin"),
        _column("name", "varchar", "utf8mb4_general_ci"),
        _column("latin", "varchar", "latin1_bin"),
        _column("amount", "decimal"),
        _column("at", "timestamp"),
        _column("day", "date"),
        _column("kind", "enum"),
        _column("payload", "varbinary"),
    ]
}


def _bind(where: str, *, binlog: bool = False, zone: str = "UTC"):
    return bind_filter(
        where, parse_filter(where), COLUMNS, quote=lambda n: f"`{n}`", zone=zone, binlog=binlog
    )


@pytest.mark.parametrize(
    ("where", "binlog", "says"),
    [
        (
            "region_code = 'eu'",
            False,
            r"unknown column 'region_code' \(columns: Region, amount, at,",
        ),
        ("amount > '10'", False, r"column 'amount' is decimal: compare it with a number, not '10'"),
        ("Region = 1", False, r"compare it with a 'quoted string'"),
        ("kind = 'a'", False, r"column 'kind' is enum: a filter compares numbers, text"),
        ("day > 'yesterday'", False, r"compare it with 'YYYY-MM-DD'"),
        ("day > '2024-W09-5'", False, r"compare it with 'YYYY-MM-DD'"),
        ("at > '2024-03-01T10:00'", False, r"compare it with 'YYYY-MM-DD'"),
        ("at > '2024-03-01 24:00:00'", False, r"compare it with 'YYYY-MM-DD'"),
        ("at > '2024-01-01 00:00:00+02:00'", False, r"a wall clock in the table's zone, no offset"),
        ("name = 'bob'", True, r"collation utf8mb4_general_ci: a binlog table's filter"),
        ("latin = 'x'", True, r"collation latin1_bin"),
    ],
)
def test_a_filter_that_does_not_fit_the_columns_is_refused(
    where: str, binlog: bool, says: str
) -> None:
    with pytest.raises(FilterError, match=says):
        _bind(where, binlog=binlog)


def test_a_cursor_table_may_filter_on_any_collation_mysql_evaluates_it() -> None:
    assert _bind("name = 'bob'").sql == "`name` = _utf8mb4 X'626f62'"


def test_the_sql_holds_no_text_of_the_users() -> None:
    evil = "x' OR 1=1 -- \\"
    bound = _bind(
        f"region = '{evil.replace(chr(39), chr(39) * 2).replace(chr(92), '')}' OR id IN (1, -2.50)"
    )
    assert bound.sql == (
        "(`Region` = _utf8mb4 X'7827204f5220313d31202d2d20') OR (`id` IN (1, -2.50))"
    )
    assert "OR 1=1" not in bound.sql


def test_a_timestamp_literal_is_the_tables_wall_clock() -> None:
    bound = _bind("at >= '2024-03-01 10:00' AND day = '2024-03-01'", zone="Asia/Kolkata")
    assert bound.sql == "(`at` >= '2024-03-01 04:30:00') AND (`day` = '2024-03-01 00:00:00')"


F = "Region = 'eu'"


def _through(before: dict[str, Any] | None, after: dict[str, Any] | None, keyed: bool = True):
    return through_filter(_bind(F, binlog=True), keyed, before, after)


IN, IN2, OUT, NULL = (
    {"id": 1, "Region": "eu"},
    {"id": 2, "Region": "eu"},
    {"id": 1, "Region": "us"},
    {"id": 1, "Region": None},
)


def test_a_binlog_change_through_the_filter() -> None:
    assert _through(None, IN) == (None, IN)  # an insert inside: an upsert
    assert _through(None, OUT) == (None, None)  # an insert outside: dropped
    assert _through(None, NULL) == (None, None)  # NULL is unknown: outside
    assert _through(IN, None) == (IN, None)  # a delete inside: a delete
    assert _through(OUT, None) == (None, None)  # a delete outside: dropped
    assert _through(IN, OUT) == (IN, None)  # updated out: a delete of its key
    assert _through(OUT, IN) == (OUT, IN)  # updated into it: its after image (same key)
    assert _through(OUT, NULL) == (OUT, None)  # out -> out, keyed: deleting an absent key
    assert _through(IN, IN2) == (IN, IN2)  # a key change inside: delete the old, the new
    assert through_filter(None, True, OUT, OUT) == (OUT, OUT)  # no filter: as is


def test_a_keyless_binlog_change_deletes_only_a_row_inside_the_filter() -> None:
    assert _through(OUT, NULL, keyed=False) == (None, None)  # a multiset: never a stray delete
    assert _through(OUT, IN, keyed=False) == (None, IN)
    assert _through(IN, OUT, keyed=False) == (IN, None)


@pytest.mark.parametrize(
    ("collation", "equal"),
    [("utf8mb4_bin", True), ("utf8mb4_nopad_bin", False), ("utf8mb4_0900_bin", False)],
)
def test_trailing_spaces_follow_the_collations_pad_attribute(collation: str, equal: bool) -> None:
    """PAD SPACE ('a ' = 'a'): utf8mb4_bin on MariaDB and MySQL; NO PAD: MariaDB's
    utf8mb4_nopad_bin and MySQL 8's utf8mb4_0900_bin (MySQL cannot run here: "This new
    collation will be NO_PAD", https://dev.mysql.com/worklog/task/?id=13054; MariaDB's
    SHOW COLLATION shows utf8mb4_bin PAD SPACE)."""
    columns = {"s": _column("s", "varchar", collation)}
    bound = bind_filter(
        "s = 'a'", parse_filter("s = 'a'"), columns, quote=str, zone="UTC", binlog=True
    )
    assert bound.holds({"s": "a "}) is equal
    assert bound.holds({"s": "a"}) is True


def test_the_parquet_assets_description_shows_the_filter(tmp_path: Path) -> None:
    where = "region IN ('eu', 'us')"
    table = {"cursor": "updated_at", "where": where}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.orders": table}}})
    project = load_project(root)
    config = table_config(project.pipeline("shop"), "shop.orders")
    spec = MysqlRedshiftTranslator().get_asset_spec(project, config, "parquet")
    assert f"Only the rows where `{where}`" in (spec.description or "")
