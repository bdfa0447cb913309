"""Binlog positions (extract/binlog/positions.py): the three kinds parsed, formatted, compared
and round-tripped through their JSON dicts. The MySQL GTID set cases are MySQL's documented
examples (MySQL cannot run here):
- GTID_SUBSET: https://dev.mysql.com/doc/refman/8.4/en/gtid-functions.html
- GTID set syntax, intervals merged: https://dev.mysql.com/doc/refman/8.4/en/replication-gtids-concepts.html
"""

from __future__ import annotations

import json

import pytest

from mysql_redshift_assets.extract.binlog.positions import (
    FilePosition,
    MariaDbGtid,
    MariaDbGtidPos,
    MysqlGtidSet,
    PositionError,
    at_or_after,
    position_from_json,
)

UUID = "3E11FA47-71CA-11E1-9E33-C80AA9429562"


def test_file_positions_order_by_file_number_then_offset() -> None:
    a = FilePosition.parse("binlog.000009:4000")
    b = FilePosition.parse("binlog.000010:4")
    assert a.format() == "binlog.000009:4000"
    assert at_or_after(b, a) and not at_or_after(a, b)  # 10 > 9 as numbers, whatever the offset
    assert at_or_after(a, a)
    assert FilePosition.parse("mysql-bin.1000000:5").at_or_after(
        FilePosition("mysql-bin.999999", 9)
    )
    with pytest.raises(PositionError, match="two different logs"):
        a.at_or_after(FilePosition("other.000001", 4))
    for bad in ("binlog.000001", "binlog:12", "binlog.000001:x", ""):
        with pytest.raises(PositionError, match="not a binlog file position"):
            FilePosition.parse(bad)


def test_mariadb_gtid_positions_compare_per_domain() -> None:
    pos = MariaDbGtidPos.parse("1-2-7,0-1-42")
    assert pos.format() == "0-1-42,1-2-7"  # sorted by domain, like the server prints it
    assert pos.domain(1) == MariaDbGtid(1, 2, 7)
    assert at_or_after(pos, MariaDbGtidPos.parse("0-1-41,1-2-7"))
    assert at_or_after(pos, MariaDbGtidPos.parse("0-3-42"))  # the server id does not order
    assert not at_or_after(pos, MariaDbGtidPos.parse("0-1-43"))
    assert not at_or_after(pos, MariaDbGtidPos.parse("2-1-1"))  # a domain A has never seen
    assert at_or_after(pos, MariaDbGtidPos.parse(""))  # the empty position: before everything
    assert pos.advanced(MariaDbGtid(0, 5, 43)).format() == "0-5-43,1-2-7"
    assert MariaDbGtidPos.parse("").format() == ""
    with pytest.raises(PositionError, match="names a domain twice"):
        MariaDbGtidPos.parse("0-1-1,0-1-2")
    with pytest.raises(PositionError, match="not a MariaDB GTID"):
        MariaDbGtidPos.parse("0-1")


def test_mysql_gtid_sets_follow_the_documented_examples() -> None:
    # GTID_SUBSET(set1, set2): set1 within set2, the manual's three examples.
    big = MysqlGtidSet.parse(f"{UUID}:21-57")
    assert at_or_after(big, MysqlGtidSet.parse(f"{UUID}:23"))
    assert at_or_after(big, MysqlGtidSet.parse(f"{UUID}:23-25"))
    assert not at_or_after(big, MysqlGtidSet.parse(f"{UUID}:20-25"))
    # The concepts page's multi-source set, and the server's own lower-case spelling.
    two = MysqlGtidSet.parse(
        "2174B383-5441-11E8-B90A-C80AA9429562:1-3, 24DA167C-0C0C-11E8-8442-00059A3C7B00:1-19"
    )
    assert two.format() == (
        "2174b383-5441-11e8-b90a-c80aa9429562:1-3,24da167c-0c0c-11e8-8442-00059a3c7b00:1-19"
    )
    assert not at_or_after(two, big) and not at_or_after(big, two)  # disjoint sources
    # Intervals merge: 1-3:4-5:11-18 is 1-5:11-18; a single number prints alone.
    assert MysqlGtidSet.parse(f"{UUID}:4-5:1-3:11-18:7").format() == f"{UUID.lower()}:1-5:7:11-18"
    assert MysqlGtidSet.parse(f"{UUID}:1-5") == MysqlGtidSet.parse(f"{UUID.lower()}:1-3:4-5")
    grown = MysqlGtidSet.parse(f"{UUID}:1-5").added(UUID, 6).added(UUID, 9)
    assert grown.format() == f"{UUID.lower()}:1-6:9"
    assert grown.contains(UUID, 9) and not grown.contains(UUID, 7)
    assert at_or_after(grown, MysqlGtidSet.parse(f"{UUID}:2-6"))
    assert not at_or_after(grown, MysqlGtidSet.parse(f"{UUID}:2-7"))  # the gap at 7-8
    assert MysqlGtidSet.parse("").format() == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{UUID}", "not a MySQL GTID set"),
        ("not-a-uuid:1-5", "not a MySQL GTID set"),
        (f"{UUID}:5-1", "empty or zero GTID interval"),
        (f"{UUID}:0", "empty or zero GTID interval"),
        (f"{UUID}:mytag:1-5", "tagged GTIDs"),
    ],
)
def test_bad_mysql_gtid_sets_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(PositionError, match=message):
        MysqlGtidSet.parse(text)


def test_positions_round_trip_through_json_and_kinds_never_compare() -> None:
    positions = [
        FilePosition("binlog.000003", 1234),
        MariaDbGtidPos.parse("0-1-42,1-2-7"),
        MysqlGtidSet.parse(f"{UUID}:1-5:11-18"),
    ]
    for position in positions:
        text = json.dumps(position.to_json())
        assert position_from_json(json.loads(text)) == position
    with pytest.raises(PositionError, match="cannot be compared"):
        at_or_after(positions[0], positions[1])
    with pytest.raises(PositionError, match="cannot be compared"):
        at_or_after(positions[1], positions[2])
    with pytest.raises(PositionError, match="not a binlog position"):
        position_from_json({"kind": "lsn", "lsn": 5})
    with pytest.raises(PositionError, match="incomplete"):
        position_from_json({"kind": "file", "file": "binlog.000001"})
