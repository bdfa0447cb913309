"""A time partition key's window without Dagster (`validate` reads the keys a watermark
recorded) is the window Dagster's partitions definition gives the same key."""

from __future__ import annotations

import dagster as dg
import pytest

from mysql_redshift_assets.partitions import time_key_window, time_window

CASES = [
    ("daily", "UTC", "2024-01-01", ["2024-01-01", "2024-02-29", "2024-12-31"]),
    # Days of 23 and 25 hours: the window ends at the next local midnight.
    ("daily", "Europe/Berlin", "2024-01-01", ["2024-03-31", "2024-10-27", "2024-06-01"]),
    ("daily", "America/Sao_Paulo", "2017-01-01", ["2017-10-15", "2018-02-17"]),
    ("hourly", "UTC", "2024-01-01-00:00", ["2024-01-01-00:00", "2024-02-29-23:00"]),
    ("hourly", "Europe/Berlin", "2024-01-01-00:00", ["2024-03-31-01:00", "2024-03-31-03:00",
                                                     "2024-10-27-01:00", "2024-10-27-03:00"]),
    ("monthly", "UTC", "2024-01-01", ["2024-01-01", "2024-02-01", "2024-12-01"]),
    ("monthly", "Asia/Tokyo", "2024-01-01", ["2024-11-01", "2024-12-01"]),
]  # fmt: skip
DEFS = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


@pytest.mark.parametrize(("granularity", "zone", "start", "keys"), CASES)
def test_a_time_keys_window_is_dagsters(granularity, zone, start, keys) -> None:
    pdef = DEFS[granularity](start_date=start, timezone=zone)
    for key in keys:
        span = pdef.time_window_for_partition_key(key)
        assert time_key_window(key, granularity, zone) == time_window(key, span.start, span.end)


def test_a_key_of_another_shape_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match="'2024-01-01-00:00'"):
        time_key_window("2024-01-01", "hourly", "UTC")
