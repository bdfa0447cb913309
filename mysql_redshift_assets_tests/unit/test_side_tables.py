"""Side table names (one per attempt, within every warehouse's identifier limit) and the cut of
a big load into transactions of consecutive files."""

from __future__ import annotations

from datetime import UTC, datetime

from mysql_redshift_assets.load.exactly_once import file_chunks
from mysql_redshift_assets.load.side import NAME_LIMIT, _prefix, side_table
from mysql_redshift_assets.state.watermark import FileRecord


def test_each_attempt_has_its_own_side_table_within_63_bytes() -> None:
    long = "zoë_" * 40
    names = {side_table(long) for _ in range(50)} | {side_table("orders") for _ in range(50)}
    assert len(names) == 100
    assert all(len(n.encode()) <= NAME_LIMIT for n in names)
    assert side_table("orders", now=0).startswith("orders__mra_")
    # Two targets sharing a long prefix have side tables of their own (the name's hash).
    assert _prefix("x" * 60 + "a") != _prefix("x" * 60 + "b")


def _file(i: int, size: int) -> FileRecord:
    return FileRecord(key=f"f{i}", rows=1, bytes=size, fingerprint="x", run_id="r",
                      written_at=datetime(2024, 1, 1, tzinfo=UTC))  # fmt: skip


def test_a_big_load_is_cut_into_runs_of_consecutive_files() -> None:
    files = [_file(i, s) for i, s in enumerate([4, 4, 3, 9, 1, 1])]
    chunks = file_chunks(files, 8)
    assert [[f.key for f in c] for c in chunks] == [["f0", "f1"], ["f2"], ["f3"], ["f4", "f5"]]
    assert file_chunks([], 8) == []
