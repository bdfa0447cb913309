"""The watermark: one change moves the position and the counts; a broken one says how to fix it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.naming import watermark_key
from mysql_redshift_assets.state.watermark import (
    Counts,
    FileRecord,
    Position,
    Session,
    Watermark,
    WatermarkError,
    WatermarkStore,
)
from mysql_redshift_assets.store.objectstore import LocalStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_table(name: str = "orders", schema: str = "shop", mode: str = "incremental"):
    return TableConfig(
        pipeline="pipe",
        source_schema=schema,
        source_table=name,
        mode=mode,  # type: ignore[arg-type]
        cursor="updated_at",
        primary_key=("id",),
        chunk_rows=10,
        file_rows=20,
        max_rows=None,
        upper_bound_lag_seconds=0,
        target_schema="public",
        target_table=None,
        distkey=None,
        sortkey=None,
        source="mysql",
        store="local",
        target="duckdb",
        store_prefix="",
        config_file="/nowhere/pipe.yml",
    )


def record(seq: int, rows: int, *, run_id: str = "r1", generation: str | None = None) -> FileRecord:
    return FileRecord(
        key=f"pipe/shop/orders/incremental/{seq:010d}.parquet",
        rows=rows,
        bytes=rows * 10,
        fingerprint="abc",
        run_id=run_id,
        written_at=T0,
        generation=generation,
        first=Position(cursor="2024-01-01 00:00:00", pk=[str(seq * 100 + 1)]),
        last=Position(cursor="2024-01-01 00:00:00", pk=[str(seq * 100 + rows)]),
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


# -- record_file ---------------------------------------------------------------------------------
def test_record_file_moves_position_and_counts_in_one_change() -> None:
    wm = Watermark(table="shop.orders", mode="incremental")
    wm.session = Session(run_id="r1", started_at=T0)
    pos = Position(cursor="2024-01-01 00:00:00", pk=["25"])
    wm.record_file(record(0, 25), pos)

    assert wm.position == pos
    assert wm.next_seq == 1
    assert [f.key for f in wm.files] == ["pipe/shop/orders/incremental/0000000000.parquet"]
    assert wm.cumulative == Counts(rows=25, files=1, bytes=250)
    assert wm.session.counts == Counts(rows=25, files=1, bytes=250)
    assert wm.session.position_after == pos

    pos2 = Position(cursor="2024-01-02 00:00:00", pk=["3"])
    wm.record_file(record(1, 7), pos2)
    assert wm.position == pos2 and wm.next_seq == 2
    assert wm.cumulative == Counts(rows=32, files=2, bytes=320)
    assert wm.session.counts == Counts(rows=32, files=2, bytes=320)


def test_record_file_without_a_session_still_moves_position() -> None:
    wm = Watermark(table="shop.orders", mode="incremental")
    pos = Position(cursor=None, pk=["9"])
    wm.record_file(record(0, 9), pos)
    assert wm.session is None
    assert wm.position == pos and wm.next_seq == 1 and wm.cumulative.rows == 9


def test_generation_file_does_not_move_the_incremental_position() -> None:
    before = Position(cursor="2024-01-01 00:00:00", pk=["5"])
    wm = Watermark(table="shop.orders", mode="full", position=before, next_seq=3)
    wm.session = Session(run_id="r1", started_at=T0)
    wm.record_file(record(0, 11, generation="S1"), Position(cursor=None, pk=["11"]))
    wm.record_file(record(1, 4, generation="S1"), Position(cursor=None, pk=["15"]))
    assert wm.position == before and wm.next_seq == 3
    snap = wm.generation("S1")
    assert (snap.rows, snap.files, snap.complete) == (15, 2, False)
    assert wm.latest_complete_generation() is None
    snap.complete = True
    assert wm.latest_complete_generation() is snap
    assert [f.rows for f in wm.files_of("S1")] == [11, 4] and wm.files_of(None) == []
    assert wm.cumulative.rows == 15 and wm.session.counts.rows == 15


def test_session_counts_restart_cumulative_counts_do_not(store: LocalStore) -> None:
    table = make_table()
    watermarks = WatermarkStore(store)
    wm = Watermark(table=table.qualified, mode="incremental")
    wm.session = Session(run_id="r1", started_at=T0)
    wm.record_file(record(0, 20), Position(cursor="a", pk=["20"]))
    wm.record_file(record(1, 5), Position(cursor="a", pk=["25"]))
    watermarks.save(table, wm)

    again = watermarks.load(table)
    assert again is not None
    again.session = Session(run_id="r2", started_at=T0, position_before=again.position)
    again.record_file(record(2, 3, run_id="r2"), Position(cursor="b", pk=["1"]))
    watermarks.save(table, again)

    third = watermarks.load(table)
    assert third is not None
    assert third.session is not None and third.session.run_id == "r2"
    assert third.session.counts == Counts(rows=3, files=1, bytes=30)
    assert third.session.position_before == Position(cursor="a", pk=["25"])
    assert third.cumulative == Counts(rows=28, files=3, bytes=280)
    assert [f.run_id for f in third.files] == ["r1", "r1", "r2"]
    assert third.next_seq == 3 and third.position == Position(cursor="b", pk=["1"])


# -- save / load -----------------------------------------------------------------------------------
def test_load_of_a_table_never_extracted_is_none(store: LocalStore) -> None:
    assert WatermarkStore(store).load(make_table()) is None


def test_save_load_round_trip_on_local_store(store: LocalStore) -> None:
    table = make_table()
    watermarks = WatermarkStore(store)
    wm = Watermark(
        table=table.qualified,
        mode="incremental",
        columns={"id": "id", "190_time": "col_190_time"},
        primary_key=["id"],
        cursor="updated_at",
    )
    wm.session = Session(run_id="r1", started_at=T0)
    wm.record_file(record(0, 20), Position(cursor="2024-01-01 00:00:00.000001", pk=["20"]))
    wm.status = "success"
    watermarks.save(table, wm)

    assert wm.updated_at is not None  # save stamps the time
    raw = store.get_bytes(watermark_key(table))
    assert raw is not None and json.loads(raw)["table"] == "shop.orders"
    assert [o.key for o in store.list("")] == ["pipe/shop/orders/watermark.json"]

    loaded = watermarks.load(table)
    assert loaded == wm
    assert loaded.files[0].last == Position(cursor="2024-01-01 00:00:00", pk=["20"])

    watermarks.delete(table)
    assert watermarks.load(table) is None


def test_a_watermark_written_with_the_old_word_snapshot_still_loads(store: LocalStore) -> None:
    """Before "generation", watermark.json said "snapshot(s)": such files load unchanged."""
    table = make_table(mode="full")
    old = {
        "table": table.qualified,
        "mode": "full",
        "files": [
            {"key": "k0", "rows": 3, "bytes": 9, "fingerprint": "f", "run_id": "r1",
             "written_at": "2024-05-01T12:00:00Z", "snapshot": "G1"},
        ],
        "snapshots": [{"id": "G1", "complete": True, "rows": 3, "files": 1}],
    }  # fmt: skip
    store.put_bytes(json.dumps(old).encode(), watermark_key(table))
    loaded = WatermarkStore(store).load(table)
    assert loaded is not None and loaded.files[0].generation == "G1"
    latest = loaded.latest_complete_generation()
    assert latest is not None and latest.id == "G1" and latest.rows == 3
    assert [f.key for f in loaded.files_of("G1")] == ["k0"]
    WatermarkStore(store).save(table, loaded)  # written back with the new words
    saved = json.loads(store.get_bytes(watermark_key(table)) or b"")
    assert saved["generations"][0]["id"] == "G1" and saved["files"][0]["generation"] == "G1"
    assert "snapshots" not in saved


def test_one_save_writes_file_and_position_together(store: LocalStore) -> None:
    """The file list and the position reach the store in the same object write."""
    table = make_table()
    writes: list[dict] = []

    class Spy(LocalStore):
        def put_bytes(self, data: bytes, key: str) -> None:
            writes.append(json.loads(data))
            super().put_bytes(data, key)

    watermarks = WatermarkStore(Spy(store.root))
    wm = Watermark(table=table.qualified, mode="incremental")
    wm.record_file(record(0, 20), Position(cursor="x", pk=["20"]))
    watermarks.save(table, wm)
    assert len(writes) == 1
    assert writes[0]["position"] == {"cursor": "x", "pk": ["20"]}
    assert [f["rows"] for f in writes[0]["files"]] == [20] and writes[0]["next_seq"] == 1


# -- corrupted watermarks ----------------------------------------------------------------------
def _corrupt(store: LocalStore, table: TableConfig, data: bytes) -> str:
    key = watermark_key(table)
    store.put_bytes(data, key)
    return store.uri(key)


def _assert_fix_named(message: str, uri: str) -> None:
    assert uri in message
    assert "watermark reset" in message
    assert "-p pipe -t shop.orders" in message


def test_watermark_not_json(store: LocalStore) -> None:
    table = make_table()
    uri = _corrupt(store, table, b'{"table": "shop.orders", "mode": ')
    with pytest.raises(WatermarkError) as err:
        WatermarkStore(store).load(table)
    _assert_fix_named(str(err.value), uri)
    assert "not valid JSON" in str(err.value)


def test_watermark_not_utf8(store: LocalStore) -> None:
    table = make_table()
    uri = _corrupt(store, table, b"\xff\xfe\x00garbage")
    with pytest.raises(WatermarkError) as err:
        WatermarkStore(store).load(table)
    _assert_fix_named(str(err.value), uri)


def test_watermark_wrong_type_for_a_key(store: LocalStore) -> None:
    table = make_table()
    data = {"table": "shop.orders", "mode": "incremental", "next_seq": "lots"}
    uri = _corrupt(store, table, json.dumps(data).encode())
    with pytest.raises(WatermarkError) as err:
        WatermarkStore(store).load(table)
    _assert_fix_named(str(err.value), uri)
    assert "key next_seq" in str(err.value)


def test_watermark_nested_key_wrong_type(store: LocalStore) -> None:
    table = make_table()
    wm = Watermark(table="shop.orders", mode="incremental")
    wm.record_file(record(0, 20), Position(cursor="x", pk=["20"]))
    data = json.loads(wm.model_dump_json())
    data["files"][0]["rows"] = -3
    uri = _corrupt(store, table, json.dumps(data).encode())
    with pytest.raises(WatermarkError) as err:
        WatermarkStore(store).load(table)
    _assert_fix_named(str(err.value), uri)
    assert "key files.0.rows" in str(err.value)


def test_watermark_json_not_an_object(store: LocalStore) -> None:
    table = make_table()
    uri = _corrupt(store, table, b"[1, 2, 3]")
    with pytest.raises(WatermarkError) as err:
        WatermarkStore(store).load(table)
    _assert_fix_named(str(err.value), uri)


def test_watermark_of_another_table(store: LocalStore) -> None:
    table = make_table()
    other = Watermark(table="shop.customers", mode="incremental")
    uri = _corrupt(store, table, other.model_dump_json().encode())
    with pytest.raises(WatermarkError) as err:
        WatermarkStore(store).load(table)
    message = str(err.value)
    _assert_fix_named(message, uri)
    assert "shop.customers" in message and "shop.orders" in message


def test_watermark_unknown_key_is_refused(store: LocalStore) -> None:
    table = make_table()
    data = json.loads(Watermark(table="shop.orders", mode="incremental").model_dump_json())
    data["loaded_files"] = []  # a counter from an older design must not be silently ignored
    uri = _corrupt(store, table, json.dumps(data).encode())
    with pytest.raises(WatermarkError) as err:
        WatermarkStore(store).load(table)
    _assert_fix_named(str(err.value), uri)
    assert "loaded_files" in str(err.value)
