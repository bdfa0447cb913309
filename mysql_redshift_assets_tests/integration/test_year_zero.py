"""Year 0 (issue 22, defect 7): MariaDB stores DATE and DATETIME values in year 0 in strict
mode (`0000-01-01`; not `0000-02-29`: MariaDB's calendar has no leap day in year 0; TIMESTAMP
cannot hold year 0). Every target holds them, as 1 BC (ISO 8601's astronomical year 0):

- PostgreSQL: DATE 4713 BC to 5874897 AD, TIMESTAMP(TZ) 4713 BC to 294276 AD, in the Gregorian
  calendar even before it was introduced (https://www.postgresql.org/docs/15/datatype-datetime.html).
- Redshift: DATE, TIMESTAMP and TIMESTAMPTZ 4713 BC to 294276 AD
  (https://docs.aws.amazon.com/redshift/latest/dg/r_Datetime_types.html).
- DuckDB: proleptic Gregorian dates (https://duckdb.org/docs/stable/sql/data_types/date);
  TIMESTAMP is int64 microseconds since 1970 (https://duckdb.org/docs/stable/sql/data_types/timestamp),
  about 290309 BC to 294247 AD.

So nothing MySQL holds is refused: year-0 values load exactly on every target, through every
reader, by an incremental and a full sync, and `validate` finds MySQL and the warehouse equal.
Python's `date` cannot hold year 0: the comparison reads such values as their ISO text with the
astronomical year (`exactness.py`).
"""

from __future__ import annotations

import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = [pytest.mark.mariadb]
COLUMNS = ["id", "d", "dt", "dt0", "updated_at"]
ROWS = [
    (1, "0000-01-01", "0000-12-31 23:59:59.999999", "0000-01-01 00:00:00"),
    (2, "0000-02-28", "0000-01-01 00:00:00.000001", "0000-12-31 23:59:59"),
    (3, "0000-12-31", "0000-06-15 12:00:00.5", "0000-02-28 01:02:03"),
    (4, "0001-01-01", "0001-01-01 00:00:00", "0001-01-01 00:00:00"),
    (5, "9999-12-31", "9999-12-31 23:59:59.999999", "9999-12-31 23:59:59"),
    (6, None, None, None),
]


@pytest.fixture(params=["wire", "pymysql", "connectorx"])
def mysql_reader(request: pytest.FixtureRequest) -> str:
    if request.param == "connectorx":
        pytest.importorskip("connectorx")
    return request.param


def _create(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE'")
        cur.execute(
            "CREATE TABLE dates (id INT PRIMARY KEY, d DATE, dt DATETIME(6), dt0 DATETIME, "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO dates VALUES (%s, %s, %s, %s, '2024-05-01' + INTERVAL %s MINUTE)",
            [(*row, row[0]) for row in ROWS],
        )


def _change(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE'")
        cur.execute(
            "UPDATE dates SET d = '0000-03-01', dt = '0000-02-28 23:59:59.999999', "
            "dt0 = '0000-01-01 00:00:01', updated_at = '2024-06-01' WHERE id IN (1, 4)"
        )
        cur.execute(
            "INSERT INTO dates VALUES (7, '0000-01-02', '0000-01-01 00:00:00', "
            "'0000-12-31 00:00:00', '2024-06-01')"
        )
        cur.execute("DELETE FROM dates WHERE id = 5")


def _validate(sync: Sync) -> int:
    argv = ["--pipelines-dir", str(sync.project.root), "validate", "-p", "testpipe"]
    return main([*argv, "-t", sync.table.qualified])


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    "spec", [{"cursor": "updated_at"}, {"mode": "full"}], ids=["incremental", "full"]
)
def test_year_zero_dates_load_exactly(mysql, mysql_db, make_project, request, target, spec):
    _create(mysql)
    sync = sync_on(request, make_project, mysql_db, "dates", spec, target)

    sync.run("first")
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
    assert _validate(sync) == 0

    _change(mysql)
    sync.run("second")
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
    assert _validate(sync) == 0
    rows = {r[0]: r for r in sync.warehouse_rows(COLUMNS, ["id"])}
    assert rows[1][1:4] == (
        "0000-03-01",
        "0000-02-28 23:59:59.999999",
        "0000-01-01 00:00:01.000000",
    )
    assert rows[7][1:4] == (
        "0000-01-02",
        "0000-01-01 00:00:00.000000",
        "0000-12-31 00:00:00.000000",
    )
    assert rows[4][1:4] == rows[1][1:4]  # year 1 updated into year 0
    assert rows[2][1:4] == (
        "0000-02-28",
        "0000-01-01 00:00:00.000001",
        "0000-12-31 23:59:59.000000",
    )
    if "cursor" in spec:  # the values are compared too: a microsecond in year 0 is seen
        with mysql.cursor() as cur:
            cur.execute("UPDATE dates SET dt = '0000-12-31 23:59:59.999998' WHERE id = 3")
        assert _validate(sync) == 1


@pytest.mark.parametrize("target", TARGETS)
def test_a_year_zero_cursor_moves_the_watermark(mysql, mysql_db, make_project, request, target):
    """The cursor itself in year 0: positions, the re-read window and the keyset hold it."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE dates (id INT PRIMARY KEY, d DATE, dt DATETIME(6), KEY (dt, id))")
        cur.execute(
            "INSERT INTO dates VALUES (1, '0000-01-01', '0000-01-01 00:00:00'), "
            "(2, '0000-05-01', '0000-05-01 23:59:59.999999'), (3, '0000-02-01', '0000-02-01')"
        )
    sync = sync_on(request, make_project, mysql_db, "dates", {"cursor": "dt"}, target)
    sync.run("first")
    with mysql.cursor() as cur:
        cur.execute(
            "INSERT INTO dates VALUES (4, '0000-12-31', '0000-12-31 23:59:59.999999'), "
            "(5, '0001-01-01', '0001-01-01 00:00:00')"
        )
        cur.execute("UPDATE dates SET d = '0000-07-01', dt = '0000-07-01 12:00:00' WHERE id = 1")
    sync.run("second")
    assert_same_rows(mysql, sync, ["id", "d", "dt"], ["id"])
    assert _validate(sync) == 0
