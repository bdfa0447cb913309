"""The wire reader's C row parser, fed crafted binary-protocol packets.

Every wire type and its edges, NULLs, packets split anywhere between feeds, the end of the
rows, and each way a result can go wrong: an error packet, a row of 16 MiB or more, a packet out
of sequence, a malformed row, a zero or impossible date. The integration tests compare whole
tables read through a real MariaDB against the pymysql path (test_fast_reader.py).
"""

from __future__ import annotations

import os
import struct
from datetime import date, datetime

import pyarrow as pa
import pytest

from mysql_redshift_assets.extract.readers import wire

if wire._wire is None:  # built at install; CI must not pass without it
    pytest.fail("the wire parser (_wire.c) was not built", pytrace=False)

from mysql_redshift_assets.extract.readers._wire import (  # noqa: E402
    BadTemporal,
    RowParser,
    TooLarge,
    WireError,
)

W = wire


def packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def lenenc(data: bytes) -> bytes:
    n = len(data)
    if n < 0xFB:
        head = bytes([n])
    elif n < 1 << 16:
        head = b"\xfc" + struct.pack("<H", n)
    elif n < 1 << 24:
        head = b"\xfd" + struct.pack("<I", n)[:3]
    else:
        head = b"\xfe" + struct.pack("<Q", n)
    return head + data


def row(values: list[bytes | None]) -> bytes:
    """A binary-protocol row: 0x00, the NULL bitmap (offset 2), the non-NULL values."""
    bitmap = bytearray((len(values) + 9) // 8)
    for i, v in enumerate(values):
        if v is None:
            bitmap[(i + 2) // 8] |= 1 << ((i + 2) % 8)
    return b"\x00" + bytes(bitmap) + b"".join(v for v in values if v is not None)


EOF = b"\xfe\x00\x00\x02\x00"


def parse(types: list[int], unsigned: list[int], rows: list[list[bytes | None]], *, split=None):
    stream = b"".join(packet(5 + i, row(r)) for i, r in enumerate(rows))
    stream += packet(5 + len(rows), EOF)
    parser = RowParser(5, bytes(types), bytes(unsigned))
    pending, pos = b"", 0
    step = split or len(stream)
    while pos < len(stream):
        data = pending + stream[pos : pos + step]
        pos += step
        used = parser.feed(data)
        pending = data[used:]
    assert parser.done and pending == b""
    return parser.take()


class Field:
    def __init__(self, type_code: int, flags: int = 0) -> None:
        self.type_code, self.flags = type_code, flags


def arrays(fields: list[Field], rows: list[list[bytes | None]], *, split=None) -> list[pa.Array]:
    types = [W.WIRE_TYPES.get(f.type_code, W.W_BYTES) for f in fields]
    unsigned = [1 if f.flags & W.UNSIGNED_FLAG else 0 for f in fields]
    n, buffers = parse(types, unsigned, rows, split=split)
    assert n == len(rows)
    return W.raw_arrays(n, fields, buffers)


def dt(y, m, d, hh=None, mi=0, ss=0, us=None) -> bytes:
    if hh is None:
        return bytes([4]) + struct.pack("<HBB", y, m, d)
    if us is None:
        return bytes([7]) + struct.pack("<HBBBBB", y, m, d, hh, mi, ss)
    return bytes([11]) + struct.pack("<HBBBBBI", y, m, d, hh, mi, ss, us)


def test_integers_floats_and_their_edges() -> None:
    fields = [
        Field(1), Field(1, 32), Field(2), Field(13), Field(3), Field(9, 32), Field(8),
        Field(8, 32), Field(4), Field(5),
    ]  # fmt: skip
    rows = [
        [b"\x80", b"\xff", struct.pack("<h", -32768), struct.pack("<H", 2155),
         struct.pack("<i", -(2**31)), struct.pack("<I", 16777215), struct.pack("<q", -(2**63)),
         struct.pack("<Q", 2**64 - 1), struct.pack("<f", -3.4e38), struct.pack("<d", 5e-324)],
        [None] * 10,
        [b"\x7f", b"\x00", struct.pack("<h", 32767), struct.pack("<H", 1901),
         struct.pack("<i", 2**31 - 1), struct.pack("<I", 0), struct.pack("<q", 2**63 - 1),
         struct.pack("<Q", 0), struct.pack("<f", 0.1), struct.pack("<d", 1.7976931348623157e308)],
    ]  # fmt: skip
    out = arrays(fields, rows)
    assert [a.type for a in out] == [
        pa.int64(), pa.uint64(), pa.int64(), pa.int64(), pa.int64(), pa.uint64(), pa.int64(),
        pa.uint64(), pa.float64(), pa.float64(),
    ]  # fmt: skip
    assert [a.to_pylist() for a in out] == [
        [-128, None, 127], [255, None, 0], [-32768, None, 32767], [2155, None, 1901],
        [-(2**31), None, 2**31 - 1], [16777215, None, 0], [-(2**63), None, 2**63 - 1],
        [2**64 - 1, None, 0], [struct.unpack("<f", struct.pack("<f", -3.4e38))[0], None,
                               struct.unpack("<f", struct.pack("<f", 0.1))[0]],
        [5e-324, None, 1.7976931348623157e308],
    ]  # fmt: skip
    assert all(a.null_count == 1 for a in out)


def test_dates_and_datetimes_in_every_length() -> None:
    fields = [Field(10), Field(12), Field(7), Field(12)]
    rows = [
        [dt(2024, 2, 29), dt(2024, 1, 1, 12, 34, 56), dt(1970, 1, 1, 0, 0, 1, 1000),
         dt(9999, 12, 31, 23, 59, 59, 999999)],
        [dt(0, 1, 1), dt(1000, 1, 1), dt(2038, 1, 19, 3, 14, 7), None],
        [dt(1969, 12, 31), dt(1, 1, 1, 0, 0, 0, 1), None, dt(2000, 2, 29, 0, 0, 0)],
    ]  # fmt: skip
    out = arrays(fields, rows)
    assert out[0].type == pa.date32() and out[1].type == pa.timestamp("us")
    # year 0 is out of Python's range: days since 1970-01-01 for that one
    assert out[0].cast(pa.int32()).to_pylist() == [19782, -719528, -1]
    assert out[0].take([0, 2]).to_pylist() == [date(2024, 2, 29), date(1969, 12, 31)]
    assert out[1].to_pylist() == [
        datetime(2024, 1, 1, 12, 34, 56),
        datetime(1000, 1, 1),
        datetime(1, 1, 1, 0, 0, 0, 1),
    ]
    assert out[2].to_pylist() == [
        datetime(1970, 1, 1, 0, 0, 1, 1000),
        datetime(2038, 1, 19, 3, 14, 7),
        None,
    ]
    assert out[3].to_pylist() == [
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        None,
        datetime(2000, 2, 29),
    ]


@pytest.mark.parametrize(
    "value",
    [b"\x00", dt(2024, 0, 5), dt(2024, 2, 30), dt(2023, 2, 29), dt(2024, 4, 31, 1, 0, 0),
     dt(2024, 1, 0), dt(2024, 13, 1), dt(2024, 1, 1, 24, 0, 0)],
    ids=["zero", "month-0", "feb-30", "feb-29-not-leap", "apr-31", "day-0", "month-13", "hour-24"],
)  # fmt: skip
def test_zero_and_impossible_dates_raise_bad_temporal(value: bytes) -> None:
    with pytest.raises(BadTemporal):
        arrays([Field(12)], [[value]])


def test_lengths_of_every_encoding_and_nulls_among_bytes() -> None:
    values = [b"", b"x" * 250, b"y" * 251, b"z" * 65536, "ñ日本 🚚".encode(), b"\xfb\xfe\xff"]
    rows = [[lenenc(v), None if i % 2 else lenenc(b"%d" % i)] for i, v in enumerate(values)]
    out = arrays([Field(253), Field(246)], rows)
    assert out[0].type == pa.large_binary()
    assert out[0].to_pylist() == values
    assert out[1].to_pylist() == [b"0", None, b"2", None, b"4", None]


def test_packets_split_anywhere_between_feeds_give_the_same_columns() -> None:
    fields = [Field(3), Field(253), Field(12)]
    rows = [
        [struct.pack("<i", i), lenenc(os.urandom(i % 300)), dt(2024, 1, 1 + i % 28, 1, 2, 3, i)]
        for i in range(200)
    ]
    whole = arrays(fields, rows)
    for split in (1, 7, 64, 1000):
        assert [a.to_pylist() for a in arrays(fields, rows, split=split)] == [
            a.to_pylist() for a in whole
        ]


def test_take_hands_over_and_starts_again() -> None:
    parser = RowParser(1, bytes([W.W_I32]), b"\x00")
    parser.feed(packet(1, row([struct.pack("<i", 7)])))
    n, buffers = parser.take()
    assert n == 1 and parser.rows == 0
    parser.feed(packet(2, row([None])) + packet(3, EOF))
    n2, buffers2 = parser.take()
    assert [a.to_pylist() for a in W.raw_arrays(n, [Field(3)], buffers)] == [[7]]
    assert [a.to_pylist() for a in W.raw_arrays(n2, [Field(3)], buffers2)] == [[None]]


def test_an_error_packet_raises_with_the_servers_code_and_message() -> None:
    parser = RowParser(1, bytes([W.W_BYTES]), b"\x00")
    err = b"\xff" + struct.pack("<H", 1317) + b"#70100" + b"Query execution was interrupted"
    with pytest.raises(WireError) as exc:
        parser.feed(packet(1, row([lenenc(b"a")])) + packet(2, err))
    assert exc.value.args == (1317, "Query execution was interrupted")


def test_a_row_of_16_mib_or_more_raises_too_large() -> None:
    parser = RowParser(1, bytes([W.W_BYTES]), b"\x00")
    with pytest.raises(TooLarge):
        parser.feed(b"\xff\xff\xff\x01" + b"\x00" * 16)


@pytest.mark.parametrize(
    "stream",
    [
        packet(2, row([lenenc(b"a")])),  # out of sequence (1 expected)
        packet(1, b"\x01" + row([lenenc(b"a")])[1:]),  # not a row header
        packet(1, row([b"\x05ab"])),  # a value longer than its packet
        packet(1, row([lenenc(b"a")]) + b"extra"),  # bytes left after the last value
        packet(1, b""),  # an empty packet
        packet(1, b"\x00"),  # no NULL bitmap
    ],
    ids=["sequence", "header", "overlong-value", "trailing-bytes", "empty", "no-bitmap"],
)
def test_malformed_packets_raise_instead_of_guessing(stream: bytes) -> None:
    parser = RowParser(1, bytes([W.W_BYTES]), b"\x00")
    with pytest.raises(WireError):
        parser.feed(stream)


def test_nothing_may_follow_the_end_of_the_rows() -> None:
    parser = RowParser(1, bytes([W.W_I8]), b"\x00")
    assert parser.feed(packet(1, EOF) + b"\x01\x00\x00\x02\x00") == 9  # stops after the EOF
    assert parser.done
    with pytest.raises(WireError):
        parser.feed(b"\x00")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        RowParser(1, b"", b"")
    with pytest.raises(ValueError):
        RowParser(1, bytes([W.W_I8, W.W_I8]), b"\x00")
    with pytest.raises(ValueError):
        RowParser(1, bytes([99]), b"\x00")
