"""The pure rules behind the late-commit bounds: replica status parsing and the window it
widens, AUTO_INCREMENT samples, and DATETIME wall clocks in a zone (daylight saving included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pyarrow as pa
import pytest

from mysql_redshift_assets.extract.bounds import _temporal_start, widened_window
from mysql_redshift_assets.extract.committed import ReplicaStatus, parse_replica_status
from mysql_redshift_assets.extract.position import Position
from mysql_redshift_assets.extract.samples import Sample, kept_samples, safe_sample, window_sample
from mysql_redshift_assets.extract.zones import datetimes_to_utc, lowest_wall_clock

# Captured (trimmed) from `SHOW ALL SLAVES STATUS` on MariaDB 10.11 with two channels, and
# from `SHOW REPLICA STATUS` on MySQL 8.0.36; values as pymysql returns them.
MARIADB_TWO_CHANNELS = [
    {"Connection_name": "", "Slave_SQL_State": "Slave has read all relay log",
     "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 3},
    {"Connection_name": "eu", "Slave_SQL_State": "Reading event from the relay log",
     "Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 47},
]  # fmt: skip
MYSQL8_STOPPED = [
    {"Replica_IO_Running": "No", "Replica_SQL_Running": "No", "Seconds_Behind_Source": None}
]
MYSQL8_TEXT = [{"Replica_IO_Running": "Yes", "Seconds_Behind_Source": b"12"}]


def test_replica_status_parsing() -> None:
    assert parse_replica_status([]) == ReplicaStatus(is_replica=False)
    assert parse_replica_status(MARIADB_TWO_CHANNELS) == ReplicaStatus(True, 47, 2)
    assert parse_replica_status(MYSQL8_STOPPED) == ReplicaStatus(True, None, 1)
    assert parse_replica_status(MYSQL8_TEXT) == ReplicaStatus(True, 12, 1)


def test_the_replica_delay_widens_the_window() -> None:
    assert widened_window(900, parse_replica_status([]), "db") == (900, True, None)
    assert widened_window(900, None, "db") == (900, True, None)  # may not ask: assumed primary
    assert widened_window(900, parse_replica_status(MARIADB_TWO_CHANNELS), "db") == (
        947,
        False,
        None,
    )
    window, primary, warning = widened_window(900, parse_replica_status(MYSQL8_STOPPED), "db")
    assert (window, primary) == (900, False)
    assert warning is not None and "replication is not running" in warning and "'db'" in warning


T0 = datetime(2024, 6, 1, 12, 0, 0)


def _samples(*pairs: tuple[int, str]) -> list[Sample]:
    return [Sample(at=T0 + timedelta(seconds=s), value=v) for s, v in pairs]


def test_the_safe_sample_is_older_than_every_open_transaction() -> None:
    samples = _samples((0, "100"), (60, "180"), (120, "260"))
    assert safe_sample(samples, None).value == "260"  # nothing open: the newest
    assert safe_sample(samples, T0 + timedelta(seconds=90)).value == "180"
    assert safe_sample(samples, T0 + timedelta(seconds=60)).value == "100"  # strictly before
    assert safe_sample(samples, T0 - timedelta(seconds=1)) is None


def test_the_window_starts_from_a_sample_at_least_that_old() -> None:
    samples = _samples((0, "100"), (60, "180"), (120, "260"))
    now = T0 + timedelta(seconds=130)
    assert window_sample(samples, now, 60).value == "180"
    assert window_sample(samples, now, 600).value == "100"  # none that old: the oldest
    assert window_sample([], now, 60) is None


def test_kept_samples_keep_the_ones_in_use() -> None:
    samples = _samples(*[(i, str(i)) for i in range(100)])
    kept = kept_samples(samples, samples[3], None)
    assert len(kept) == 33 and kept[0] == samples[3] and kept[-1] == samples[-1]


def _utc(*values: datetime | None) -> pa.Array:
    return pa.array(list(values), pa.timestamp("us", tz="UTC"))


def test_datetime_wall_clocks_become_utc_instants_by_the_stated_rule() -> None:
    got = datetimes_to_utc(
        _utc(
            datetime(2024, 7, 1, 12, 0),  # daylight time: -4h
            datetime(2024, 12, 1, 12, 0),  # standard time: -5h
            datetime(2024, 11, 3, 1, 30),  # ambiguous: the first occurrence (EDT)
            datetime(2024, 3, 10, 2, 30),  # non-existent: the offset before the gap (EST)
            None,
        ),
        "America/New_York",
    )
    assert got.type == pa.timestamp("us", tz="UTC")
    assert got.to_pylist() == [
        datetime(2024, 7, 1, 16, 0, tzinfo=UTC),
        datetime(2024, 12, 1, 17, 0, tzinfo=UTC),
        datetime(2024, 11, 3, 5, 30, tzinfo=UTC),
        datetime(2024, 3, 10, 7, 30, tzinfo=UTC),
        None,
    ]
    same = _utc(datetime(2024, 1, 1))
    assert datetimes_to_utc(same, "UTC") is same


@pytest.mark.parametrize(
    ("start", "end", "lowest"),
    [
        # 01:50 EDT back 10 minutes, nothing in between: 01:40.
        (datetime(2024, 11, 3, 5, 40), datetime(2024, 11, 3, 5, 55), datetime(2024, 11, 3, 1, 40)),
        # The fall-back at 06:00 UTC (02:00 EDT -> 01:00 EST) lies between: down to 01:00.
        (datetime(2024, 11, 3, 5, 40), datetime(2024, 11, 3, 6, 20), datetime(2024, 11, 3, 1, 0)),
        # Spring forward moves clocks on, never back: the start's wall clock.
        (datetime(2024, 3, 10, 6, 50), datetime(2024, 3, 10, 7, 30), datetime(2024, 3, 10, 1, 50)),
    ],
)
def test_the_window_reaches_down_to_the_repeated_hour(start, end, lowest) -> None:
    assert lowest_wall_clock("America/New_York", start, end) == lowest


def _plan(kind: str, zone: str = "UTC") -> SimpleNamespace:
    """What `_temporal_start` reads of a TablePlan: the cursor's type and zone."""
    return SimpleNamespace(cursor_type=kind, cursor_is_pk=False, zone=zone)


def test_the_window_reaches_back_from_the_last_run_not_from_the_position() -> None:
    """Issue 22: a position that stays on an old stamp is not re-read once the last run began
    reading more than the window after it; without that clock, the rule before it."""
    bulk = Position(cursor="2024-06-01 11:00:00.000000", pk=["50000"])
    now, read = T0 + timedelta(seconds=60), T0  # the last run began reading at T0 (12:00)
    assert _temporal_start(_plan("datetime"), bulk, 900, now, read) == bulk
    moved = Position(cursor="2024-06-01 11:59:00.000000", pk=["7"])
    assert _temporal_start(_plan("datetime"), moved, 900, now, read) == Position(
        cursor="2024-06-01 11:45:00.000000"
    )
    assert _temporal_start(_plan("datetime"), bulk, 900, now, None) == Position(
        cursor="2024-06-01 10:45:00.000000"
    )
    # A recorded clock ahead of the server's (a clock set back) counts as now.
    ahead = T0 + timedelta(days=1)
    assert _temporal_start(_plan("timestamp"), moved, 900, now, ahead) == Position(
        cursor="2024-06-01 11:46:00.000000"
    )


def test_a_date_cursor_rereads_from_the_day_the_window_reaches_back_to() -> None:
    day = Position(cursor="2024-06-01", pk=["3"])
    now = T0 + timedelta(seconds=60)
    # Read on that day: the whole day again (a later update that day keeps the date).
    assert _temporal_start(_plan("date"), day, 0, now, T0) == Position(cursor="2024-06-01")
    # The window reaches back over midnight: the day before too.
    assert _temporal_start(_plan("date"), day, 13 * 3600, now, T0) == Position(cursor="2024-05-31")
    # Read the next day, past the window: no row of 2024-06-01 can change any more.
    later = datetime(2024, 6, 2, 12, 0)
    assert _temporal_start(_plan("date"), day, 900, later, later) == day
    # Without the last run's clock: the position's day moved back by the window.
    assert _temporal_start(_plan("date"), day, 900, later, None) == Position(cursor="2024-05-31")
