"""DATETIME written in the application's zone (daylight saving included), DATE cursors and NULL
cursors with a fallback: after each, MySQL == the warehouse row by row, on DuckDB and on the
PostgreSQL stand-in. Each fails on the code before issue 14 (values shifted by the offset, rows
of the repeated hour or a same-day update skipped, NULL-cursor rows never carried)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mysql_redshift_assets.extract.source import MySQLSource
from mysql_redshift_assets_tests.exactness import assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = pytest.mark.mariadb
COLUMNS, KEY = ["id", "v", "at"], ["id"]


@pytest.mark.parametrize("target", TARGETS)
def test_datetime_written_at_plus_8_is_read_in_its_zone(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT, at DATETIME(6), KEY (at, id))")
    app = mysql_sessions(time_zone="+08:00")  # NOW() is eight hours ahead of UTC
    with app.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (1, 1, NOW(6)), (2, 2, NOW(6) - INTERVAL 1 HOUR)")
    spec = {"cursor": "at", "time_zone": "Asia/Shanghai"}
    sync = sync_on(request, make_project, mysql_db, "t", spec, target)
    extracted, _ = sync.run("r1")
    assert extracted.rows == 2  # not held back eight hours as future rows
    with app.cursor() as cur:
        cur.execute("UPDATE t SET v = 10, at = NOW(6) WHERE id = 2")
    sync.run("r2")
    assert_same_rows(mysql, sync, COLUMNS, KEY, datetime_zone="Asia/Shanghai")


def _fake_clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The source's UTC clock (every bound is computed from it), set by the test."""
    now = [datetime(2024, 11, 3, 5, 50)]
    monkeypatch.setattr(MySQLSource, "utc_now", lambda self: now[0])
    return now


def _write_at(app, instant: datetime, offset: str, sql: str) -> None:
    """`sql` as a New York application runs it at `instant` (NOW() = its wall clock)."""
    with app.cursor() as cur:
        cur.execute("SET time_zone = %s", (offset,))
        cur.execute("SET timestamp = %s", (instant.replace(tzinfo=UTC).timestamp(),))
        cur.execute(sql)
        cur.execute("SET timestamp = DEFAULT")


@pytest.mark.parametrize("target", TARGETS)
def test_a_daylight_saving_fall_back_repeats_an_hour_and_loses_nothing(
    mysql, mysql_db, mysql_sessions, make_project, request, target, monkeypatch
):
    """New York, 2024-11-03: 01:00-02:00 happens in EDT (-4) and again in EST (-5)."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT, at DATETIME(6), KEY (at, id))")
    now = _fake_clock(monkeypatch)
    app = mysql_sessions()
    _write_at(app, datetime(2024, 11, 3, 5, 40), "-04:00", "INSERT INTO t VALUES (1, 1, NOW())")
    _write_at(app, datetime(2024, 11, 3, 5, 45), "-04:00", "INSERT INTO t VALUES (2, 2, NOW())")
    spec = {"cursor": "at", "time_zone": "America/New_York", "late_commit_window_seconds": 600}
    sync = sync_on(request, make_project, mysql_db, "t", spec, target)
    assert sync.run("r1")[0].rows == 2  # at 01:50 EDT; the position is 01:45
    # After the fall-back: wall clocks 01:10 and 01:12 again, below the position.
    _write_at(app, datetime(2024, 11, 3, 6, 10), "-05:00", "INSERT INTO t VALUES (3, 3, NOW())")
    _write_at(
        app, datetime(2024, 11, 3, 6, 12), "-05:00", "UPDATE t SET v = 10, at = NOW() WHERE id = 1"
    )
    now[0] = datetime(2024, 11, 3, 6, 20)  # 01:20 EST
    extracted, _ = sync.run("r2")
    assert extracted.rows == 2 and extracted.reread_from is not None
    assert extracted.reread_from.cursor == "2024-11-03 01:00:00.000000"  # the repeated hour
    now[0] = datetime(2024, 11, 3, 7, 0)
    sync.run("r3")
    assert_same_rows(mysql, sync, COLUMNS, KEY, datetime_zone="America/New_York")


@pytest.mark.parametrize("target", TARGETS)
def test_a_same_day_update_of_a_date_cursor_is_read(mysql, mysql_db, make_project, request, target):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT, d DATE, KEY (d, id))")
        cur.execute("INSERT INTO t VALUES (1, 1, CURDATE()), (2, 2, CURDATE()), (3, 3, CURDATE())")
    spec = {"cursor": "d", "late_commit_window_seconds": 0}
    sync = sync_on(request, make_project, mysql_db, "t", spec, target)
    sync.run("r1")  # the position is (today, 3)
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET v = 10 WHERE id = 1")  # same day: the cursor does not move
    extracted, _ = sync.run("r2")
    assert extracted.reread_rows == 3
    assert_same_rows(mysql, sync, ["id", "v", "d"], KEY)


@pytest.mark.parametrize("target", TARGETS)
def test_null_cursors_are_carried_by_the_fallback(mysql, mysql_db, make_project, request, target):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v INT, updated_at DATETIME(6) NULL, "
            "created_at DATETIME(6) NOT NULL)"
        )
        cur.execute(
            "INSERT INTO t VALUES (1, 1, NULL, '2024-01-01 00:00:01'), "
            "(2, 2, '2024-01-02 00:00:00', '2024-01-01 00:00:02'), "
            "(3, 3, NULL, '2024-01-03 00:00:00')"
        )
    spec = {"cursor": "updated_at", "cursor_fallback": "created_at"}
    sync = sync_on(request, make_project, mysql_db, "t", spec, target)
    extracted, _ = sync.run("r1")
    assert (extracted.rows, extracted.null_cursor_rows) == (3, 0)
    assert extracted.position_after is not None
    assert extracted.position_after.cursor == "2024-01-03 00:00:00.000000"  # COALESCE's value
    assert any("COALESCE" in w and "CREATE INDEX" in w for w in extracted.warnings)
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET v = 10, updated_at = '2024-02-01 00:00:00' WHERE id = 1")
        cur.execute("INSERT INTO t VALUES (4, 4, NULL, '2024-02-02 00:00:00')")
    sync.run("r2")
    assert_same_rows(mysql, sync, ["id", "v", "updated_at", "created_at"], KEY)


def test_without_a_fallback_null_cursors_are_counted_and_named(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, at DATETIME NULL)")
        cur.execute("INSERT INTO t VALUES (1, NULL), (2, '2024-01-01'), (3, NULL)")
    sync = sync_on(None, make_project, mysql_db, "t", {"cursor": "at"}, "duckdb")
    extracted = sync.extract("r1")
    assert extracted.null_cursor_rows == 2
    (null,) = [w for w in extracted.warnings if "NULL cursor" in w]
    assert "2 rows" in null and "cursor_fallback" in null
    (index,) = [w for w in extracted.warnings if "no index" in w]
    assert f"table {mysql_db}.t, key cursor" in index and "'at'" in index
    assert "CREATE INDEX sync_cursor ON" in index and "rows)" in index
