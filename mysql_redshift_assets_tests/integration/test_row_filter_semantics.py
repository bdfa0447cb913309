"""The row filter means the same thing in its three forms: MySQL evaluating the user's text,
MySQL evaluating our rendering of it (what every read selects from), and Python evaluating it
on a row's values (what a binlog table does with each row image; a UTC session's SELECT gives
the values the binlog gives, `test_binlog_values.py`). One table of every accepted column kind,
NULLs and edge values (trailing spaces and tabs under PAD SPACE and NO PAD binary collations,
case, non-ASCII, float32 values, dates against datetimes, TIMESTAMPs in the table's zone)."""

from __future__ import annotations

import pymysql
import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source
from mysql_redshift_assets.extract import plan_table

pytestmark = pytest.mark.mariadb

ZONE, OFFSET = "Asia/Kolkata", "+05:30"  # the table's zone (no DST)
TABLE = """CREATE TABLE t (
  id INT PRIMARY KEY, i INT, d DECIMAL(10,3), f DOUBLE, r FLOAT,
  s VARCHAR(20) COLLATE utf8mb4_bin, n VARCHAR(20) COLLATE utf8mb4_nopad_bin,
  b VARBINARY(10), dt DATETIME(6), dd DATE, ts TIMESTAMP(6) NULL)"""
ROWS = [
    (1, 5, "1.500", 0.5, 0.1, "a", "a", b"ab", "2024-03-01 10:00:00", "2024-03-01", "2024-03-01 04:30:00"),
    (2, -1, "2.000", 0.1, 0.5, "a ", "a ", b"a", "2024-03-01 09:59:59.999999", "2024-02-29", "2024-03-01 05:00:00"),
    (3, 0, "-0.001", -2.5, -1, "A", "A", b"b", "2024-02-29 23:00:00", "2024-03-02", "2024-03-01 06:00:00"),
    (4, 7, "100.001", 1e20, 3.25, "a\t", "a\t", b"", "2024-03-01 00:00:00", "2024-03-01", None),
    (5, 2, None, None, None, "ä", "ä", b"ab\x00", None, None, "2024-03-01 04:29:59.999999"),
    (6, None, "3.000", 0.30000000000000004, 0.3, "😀", "😀", None, "2024-03-01 10:00:00.000001", "2024-03-01", "2024-03-01 04:30:00.000001"),
    (7, 3, "0.000", 0.0, 0, "", "", b"\xff", "2024-03-02 00:00:00", "2024-03-03", "2024-02-29 18:30:00"),
    (8, 1, "-5.250", -0.0, 2, "b", "b", b"abc", "2023-12-31 23:59:59", "2023-12-31", "2024-03-01 04:30:00"),
    (9, None, None, None, None, None, None, None, None, None, None),
]  # fmt: skip
PREDICATES = [
    "i = 5", "i <> 5", "i < 0", "i BETWEEN -1 AND 3", "i NOT BETWEEN -1 AND 3",
    "i IN (1, 2, 7)", "i NOT IN (1, 2)", "i IS NULL", "i IS NOT NULL", "i >= 2.5",
    "d >= 1.5", "d = 2", "d < -0.001", "d <= -0.001", "d > 100", "d IN (3, 0, -5.25)",
    "f > 0.1", "f = 0.5", "f < 0", "f = 0", "f >= 100000000000000000000", "f = 0.3",
    "r = 0.1", "r = 0.5", "r > 3.2", "r IN (-1, 2)",
    "s = 'a'", "s > 'a'", "s < 'a'", "s IN ('A', '😀')", "s <> ''", "s BETWEEN 'a' AND 'b'",
    "s = 'a   '", "s >= 'ä'", "s < 'a '",
    "n = 'a'", "n > 'a'", "n < 'a'", "n = 'a '", "n <> ''",
    "b = 'ab'", "b > 'a'", "b < 'ab'", "b = ''", "b IN ('a', 'abc')",
    "dt >= '2024-03-01 10:00:00'", "dt < '2024-03-01'", "dt BETWEEN '2024-03-01' AND '2024-03-01 10:00'",
    "dd = '2024-03-01'", "dd < '2024-03-01 12:00:00'", "dd > '2024-03-01 00:00:00'", "dd <> '2024-03-01'",
    "ts >= '2024-03-01 10:00:00'", "ts < '2024-03-01 10:00'", "ts = '2024-03-01 10:00:00'",
    "ts BETWEEN '2024-03-01 00:00' AND '2024-03-01 10:30:00'",
    "NOT (i = 5 OR s = 'a')", "NOT i = 5 AND d IS NULL", "i = 5 OR d > 100 OR s IS NULL",
    "(i > 1 AND NOT (d < 2)) OR NOT (s IN ('a'))", "NOT (i IN (1, 2) AND d IS NOT NULL)",
    "NOT NOT i < 3", "i <> 5 AND (f > 0 OR dt IS NULL)", "NOT (dt < '2024-03-01' OR ts IS NULL)",
]  # fmt: skip


def _ids(mysql: pymysql.Connection, sql: str, zone: str = "+00:00") -> list[int]:
    with mysql.cursor() as cur:
        cur.execute(f"SET time_zone = '{zone}'")
        cur.execute(sql)
        ids = sorted(int(r[0]) for r in cur.fetchall())
        cur.execute("SET time_zone = '+00:00'")
    return ids


def test_mysql_our_sql_and_python_agree_on_every_predicate(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.execute(f"SET time_zone = '{OFFSET}'")  # TIMESTAMPs written as the zone's clock
        cur.executemany(f"INSERT INTO t VALUES ({', '.join(['%s'] * 11)})", ROWS)
        cur.execute("SET time_zone = '+00:00'")
    with mysql.cursor(pymysql.cursors.DictCursor) as cur:
        # A UTC session: the values a binlog image carries (a FLOAT's float32 value exactly,
        # as the extractors read it: `r * 1E0`, not the 6 digits of its text).
        cur.execute("SELECT id, i, d, f, r * 1E0 AS r, s, n, b, dt, dd, ts FROM t")
        rows = {int(r["id"]): r for r in cur.fetchall()}
    failures = []
    for predicate in PREDICATES:
        spec = {"capture": "binlog", "where": predicate, "time_zone": ZONE}
        project = make_project({f"{mysql_db}.t": spec}, store="local")
        table = table_config(project.pipeline("testpipe"), f"{mysql_db}.t")
        source = open_source(project, table.source)
        try:
            plan = plan_table(source, table)
        finally:
            source.close()
        assert plan.row_filter is not None
        theirs = _ids(mysql, f"SELECT id FROM t WHERE {predicate}", OFFSET)  # MySQL, the text
        ours = _ids(mysql, f"SELECT id FROM {plan.table_ref}")  # MySQL, our rendering
        python = sorted(i for i, row in rows.items() if plan.row_filter.holds(row))
        if not theirs == ours == python:
            failures.append(f"{predicate}: mysql {theirs}, rendered {ours}, python {python}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (
            {"cursor": "dt", "where": "nope = 1"},
            r"key where: unknown column 'nope' \(columns: b, c, d, dd",
        ),
        (
            {"capture": "binlog", "where": "c = 'x'"},
            r"key where: column 'c' has collation utf8mb4_general_ci",
        ),
        (
            {"cursor": "dt", "where": "i = 'x'"},
            r"key where: column 'i' is int: compare it with a number",
        ),
    ],
)
def test_a_filter_that_does_not_fit_mysqls_columns_is_refused_at_plan_time(
    mysql, mysql_db, make_project, spec, says
):
    with mysql.cursor() as cur:
        cur.execute(TABLE.replace("ts TIMESTAMP(6) NULL", "ts TIMESTAMP(6) NULL, c VARCHAR(5)"))
    project = make_project({f"{mysql_db}.t": spec}, store="local")
    table = table_config(project.pipeline("testpipe"), f"{mysql_db}.t")
    source = open_source(project, table.source)
    try:
        with pytest.raises(ConfigError, match=says) as err:
            plan_table(source, table)
    finally:
        source.close()
    assert f"table {mysql_db}.t" in str(err.value) and "testpipe.yml" in str(err.value)
