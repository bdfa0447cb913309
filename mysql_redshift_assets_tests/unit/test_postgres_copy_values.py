"""The values the PostgreSQL stand-in COPYs: Python objects, or PostgreSQL's own text for a date /
timestamp column holding a value Python's `date` cannot (issue 22, defect 7). The round trip
through a real PostgreSQL is `integration/test_year_zero.py`."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa

from mysql_redshift_assets.load.postgres import copy_values

US = pa.timestamp("us", tz="UTC")


def test_values_python_holds_go_as_python_objects() -> None:
    days = pa.array([date(1, 1, 1), date(9999, 12, 31), None], pa.date32())
    assert copy_values(days) == [date(1, 1, 1), date(9999, 12, 31), None]
    edge = [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
    assert copy_values(pa.array(edge, US)) == edge
    assert copy_values(pa.array([None, None], US)) == [None, None]


def test_year_zero_goes_as_1_bc_text() -> None:
    year_zero = pa.array(["0000-01-01", "0000-12-31", "2024-02-29", None]).cast(pa.date32())
    assert copy_values(year_zero) == ["0001-01-01 BC", "0001-12-31 BC", "2024-02-29", None]
    clocks = pa.array(["0000-12-31 23:59:59.999999", "0000-01-01 00:00:00", "0001-01-01 00:00:00"])
    stamps = clocks.cast(pa.timestamp("us"))
    assert copy_values(stamps) == [
        "0001-12-31 23:59:59.999999 BC",
        "0001-01-01 00:00:00.000000 BC",
        "0001-01-01 00:00:00.000000",
    ]
    assert copy_values(stamps.cast(US))[0] == "0001-12-31 23:59:59.999999+00 BC"


def test_a_datetime_past_9999_after_its_zone_goes_as_text() -> None:
    # 9999-12-31 23:00 read in America/New_York is 10000-01-01 04:00 UTC.
    micros = (date(9999, 12, 31).toordinal() - date(1970, 1, 1).toordinal() + 1) * 86_400_000_000
    later = pa.array([micros + 4 * 3_600_000_000, 0], pa.int64()).cast(US)
    assert copy_values(later) == ["10000-01-01 04:00:00.000000+00", "1970-01-01 00:00:00.000000+00"]
