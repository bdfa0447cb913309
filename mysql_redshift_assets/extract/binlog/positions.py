"""Where a binlog reader stands, one type per kind of server position: parsed from and
formatted to the server's own text, compared ("is A at or after B"), and turned into a
JSON-friendly dict (the watermark is JSON) and back.

- `FilePosition`: `binlog.000042:1234`, a file of the server's binlog and a byte offset in it.
  Files of one server sort by their numeric extension (the server numbers them in order).
- `MariaDbGtidPos`: MariaDB's `@@gtid_binlog_pos`, one `domain-server-seq` per replication
  domain (`0-1-42,1-2-7`). Sequence numbers grow within a domain, so A is at or after B when
  every domain of B is in A with a sequence number at least B's; domains are independent.
- `MysqlGtidSet`: MySQL's `@@gtid_executed`, `uuid:1-5:11-18,uuid2:1-27`, the set of every
  transaction applied. A is at or after B when B is a subset of A (MySQL's `GTID_SUBSET(B, A)`:
  https://dev.mysql.com/doc/refman/8.4/en/gtid-functions.html). MySQL cannot run here: this
  type is tested against the documented examples only.

The GTID formats are not compatible with each other (https://mariadb.com/kb/en/global-transaction-id/),
and comparing two kinds is an error, never False.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_FILE = re.compile(r"^(?P<file>[^:]+\.(?P<seq>\d+)):(?P<offset>\d+)$")
_MARIADB_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_INTERVAL = re.compile(r"^(\d+)(?:-(\d+))?$")


class PositionError(ValueError):
    """A position's text or dict that is not one, or two positions of different kinds compared."""


@dataclass(frozen=True)
class FilePosition:
    """A byte offset in one binlog file (`SHOW MASTER STATUS`'s File and Position)."""

    file: str
    offset: int

    @classmethod
    def parse(cls, text: str) -> FilePosition:
        match = _FILE.match(text.strip())
        if not match:
            raise PositionError(f"not a binlog file position (`binlog.000042:1234`): {text!r}")
        return cls(match["file"], int(match["offset"]))

    def format(self) -> str:
        return f"{self.file}:{self.offset}"

    def sort_key(self) -> tuple[str, int, int]:
        base, _, seq = self.file.rpartition(".")
        if not seq.isdigit():
            raise PositionError(f"a binlog file name ends in a number: {self.file!r}")
        return base, int(seq), self.offset

    def at_or_after(self, other: FilePosition) -> bool:
        mine, theirs = self.sort_key(), other.sort_key()
        if mine[0] != theirs[0]:
            raise PositionError(
                f"binlog files of two different logs cannot be ordered: {self.file} vs {other.file}"
            )
        return mine[1:] >= theirs[1:]

    def to_json(self) -> dict[str, Any]:
        return {"kind": "file", "file": self.file, "offset": self.offset}


@dataclass(frozen=True)
class MariaDbGtid:
    """One MariaDB GTID: `domain-server-seq`."""

    domain: int
    server: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> MariaDbGtid:
        match = _MARIADB_GTID.match(text.strip())
        if not match:
            raise PositionError(f"not a MariaDB GTID (`domain-server-seq`, `0-1-42`): {text!r}")
        return cls(*(int(part) for part in match.groups()))

    def format(self) -> str:
        return f"{self.domain}-{self.server}-{self.seq}"


@dataclass(frozen=True)
class MariaDbGtidPos:
    """MariaDB's GTID position: the last GTID of each replication domain, sorted by domain."""

    gtids: tuple[MariaDbGtid, ...] = ()

    def __post_init__(self) -> None:
        domains = [g.domain for g in self.gtids]
        if len(set(domains)) != len(domains):
            raise PositionError(f"a MariaDB GTID position names a domain twice: {self.format()}")
        object.__setattr__(self, "gtids", tuple(sorted(self.gtids, key=lambda g: g.domain)))

    @classmethod
    def parse(cls, text: str) -> MariaDbGtidPos:
        parts = [part for part in text.replace("\n", "").split(",") if part.strip()]
        return cls(tuple(MariaDbGtid.parse(part) for part in parts))

    def format(self) -> str:
        return ",".join(g.format() for g in self.gtids)

    def domain(self, domain: int) -> MariaDbGtid | None:
        return next((g for g in self.gtids if g.domain == domain), None)

    def advanced(self, gtid: MariaDbGtid) -> MariaDbGtidPos:
        """This position after the transaction `gtid` (its domain's entry replaced)."""
        return MariaDbGtidPos(tuple(g for g in self.gtids if g.domain != gtid.domain) + (gtid,))

    def at_or_after(self, other: MariaDbGtidPos) -> bool:
        for theirs in other.gtids:
            mine = self.domain(theirs.domain)
            if mine is None or mine.seq < theirs.seq:
                return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {"kind": "mariadb_gtid", "gtid": self.format()}


def _normalized(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass(frozen=True)
class MysqlGtidSet:
    """MySQL's GTID set: per source uuid (lower case), closed intervals of transaction numbers,
    merged and sorted (so two spellings of one set are equal)."""

    sets: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> MysqlGtidSet:
        found: dict[str, list[tuple[int, int]]] = {}
        for part in text.replace("\n", "").split(","):
            if not part.strip():
                continue
            uuid, *ranges = (piece.strip() for piece in part.split(":"))
            if not _UUID.match(uuid) or not ranges:
                raise PositionError(f"not a MySQL GTID set (`uuid:1-5:11-18`): {part.strip()!r}")
            for text_range in ranges:
                match = _INTERVAL.match(text_range)
                if not match:
                    raise PositionError(
                        f"not a GTID interval (`1-5` or `7`; tagged GTIDs of MySQL 8.3+ are "
                        f"not supported yet): {text_range!r} in {part.strip()!r}"
                    )
                start, end = int(match[1]), int(match[2] or match[1])
                if start < 1 or end < start:
                    raise PositionError(f"an empty or zero GTID interval: {text_range!r}")
                found.setdefault(_canonical_uuid(uuid), []).append((start, end))
        return cls(tuple(sorted((uuid, _normalized(iv)) for uuid, iv in found.items())))

    def format(self) -> str:
        return ",".join(
            uuid + "".join(f":{s}" if s == e else f":{s}-{e}" for s, e in intervals)
            for uuid, intervals in self.sets
        )

    def contains(self, uuid: str, gno: int) -> bool:
        intervals = dict(self.sets).get(_canonical_uuid(uuid), ())
        return any(start <= gno <= end for start, end in intervals)

    def added(self, uuid: str, gno: int) -> MysqlGtidSet:
        """This set with the transaction `uuid:gno` added."""
        found = {u: list(iv) for u, iv in self.sets}
        found.setdefault(_canonical_uuid(uuid), []).append((gno, gno))
        return MysqlGtidSet(tuple(sorted((u, _normalized(iv)) for u, iv in found.items())))

    def at_or_after(self, other: MysqlGtidSet) -> bool:
        """`other` is a subset of this set (MySQL's `GTID_SUBSET(other, self)`)."""
        mine = dict(self.sets)
        for uuid, intervals in other.sets:
            for start, end in intervals:
                if not any(s <= start and end <= e for s, e in mine.get(uuid, ())):
                    return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {"kind": "mysql_gtid", "gtid_set": self.format()}


def _canonical_uuid(text: str) -> str:
    digits = text.replace("-", "").lower()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


BinlogPosition = FilePosition | MariaDbGtidPos | MysqlGtidSet


def position_from_json(data: dict[str, Any]) -> BinlogPosition:
    """The position a `to_json()` dict describes (the watermark's text)."""
    kind = data.get("kind") if isinstance(data, dict) else None
    try:
        if kind == "file":
            return FilePosition(str(data["file"]), int(data["offset"]))
        if kind == "mariadb_gtid":
            return MariaDbGtidPos.parse(str(data["gtid"]))
        if kind == "mysql_gtid":
            return MysqlGtidSet.parse(str(data["gtid_set"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PositionError(f"a binlog position of kind {kind!r} is incomplete: {data!r}") from exc
    raise PositionError(f"not a binlog position (kind file, mariadb_gtid or mysql_gtid): {data!r}")


def at_or_after(a: BinlogPosition, b: BinlogPosition) -> bool:
    """Whether `a` is at or after `b`; positions of two kinds are not comparable (an error)."""
    if isinstance(a, FilePosition) and isinstance(b, FilePosition):
        return a.at_or_after(b)
    if isinstance(a, MariaDbGtidPos) and isinstance(b, MariaDbGtidPos):
        return a.at_or_after(b)
    if isinstance(a, MysqlGtidSet) and isinstance(b, MysqlGtidSet):
        return a.at_or_after(b)
    raise PositionError(
        f"a {type(a).__name__} and a {type(b).__name__} cannot be compared: "
        f"{a.format()} vs {b.format()}"
    )


def earliest(positions: list[BinlogPosition]) -> BinlogPosition:
    """A position at or before each of `positions` (one stream serves tables at different
    positions): the earliest file position; per MariaDB domain every position names, the lowest
    GTID (a domain one of them lacks is left out: the server sends it from its start); the
    intersection of MySQL GTID sets."""
    first = positions[0]
    if isinstance(first, FilePosition):
        files = [p for p in positions if isinstance(p, FilePosition)]
        return min(files, key=lambda p: p.sort_key())
    if isinstance(first, MariaDbGtidPos):
        gtids = [p for p in positions if isinstance(p, MariaDbGtidPos)]
        kept = []
        for gtid in first.gtids:
            found = [g for p in gtids if (g := p.domain(gtid.domain)) is not None]
            if len(found) == len(gtids):
                kept.append(min(found, key=lambda g: g.seq))
        return MariaDbGtidPos(tuple(kept))
    sets = [p for p in positions if isinstance(p, MysqlGtidSet)]
    common = dict(sets[0].sets)
    for other in sets[1:]:
        theirs = dict(other.sets)
        common = {
            uuid: tuple(
                (max(s, t), min(e, f))
                for s, e in intervals
                for t, f in theirs.get(uuid, ())
                if max(s, t) <= min(e, f)
            )
            for uuid, intervals in common.items()
        }
    return MysqlGtidSet(tuple(sorted((u, _normalized(list(iv))) for u, iv in common.items() if iv)))


def latest(a: BinlogPosition, b: BinlogPosition) -> BinlogPosition:
    """The position that holds both `a` and `b`: the later file position, per MariaDB domain
    the higher GTID, the union of MySQL GTID sets."""
    if isinstance(a, FilePosition) and isinstance(b, FilePosition):
        return a if a.at_or_after(b) else b
    if isinstance(a, MariaDbGtidPos) and isinstance(b, MariaDbGtidPos):
        merged = {g.domain: g for g in a.gtids}
        for gtid in b.gtids:
            if gtid.domain not in merged or merged[gtid.domain].seq < gtid.seq:
                merged[gtid.domain] = gtid
        return MariaDbGtidPos(tuple(merged.values()))
    if isinstance(a, MysqlGtidSet) and isinstance(b, MysqlGtidSet):
        found: dict[str, list[tuple[int, int]]] = {u: list(iv) for u, iv in a.sets}
        for uuid, intervals in b.sets:
            found.setdefault(uuid, []).extend(intervals)
        return MysqlGtidSet(tuple(sorted((u, _normalized(iv)) for u, iv in found.items())))
    raise PositionError(f"a {type(a).__name__} and a {type(b).__name__} cannot be combined")


def holds(position: BinlogPosition, gtid: str | None, end: FilePosition) -> bool:
    """Whether the transaction with `gtid` that ended at file position `end` is at or before
    `position` (a table at `position` already has it)."""
    if isinstance(position, FilePosition):
        try:
            return position.at_or_after(end)
        except PositionError:
            return False
    if gtid is None:
        raise PositionError(f"a transaction without a GTID at {end.format()} in a GTID read")
    if isinstance(position, MariaDbGtidPos):
        parsed = MariaDbGtid.parse(gtid)
        mine = position.domain(parsed.domain)
        return mine is not None and mine.seq >= parsed.seq
    uuid, _, gno = gtid.rpartition(":")
    return position.contains(uuid, int(gno))
