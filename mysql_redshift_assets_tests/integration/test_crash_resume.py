"""A process SIGKILLed anywhere in an extraction resumes with no gap, no duplicate, no orphan.

The extraction runs in a child process (`_crash_extract.py`) that kills itself at a chosen point;
the run is then resumed (in this process, or in another child) and the object store is checked
against MariaDB: the files the watermark records hold every source row exactly once, and the
store holds no Parquet file the watermark does not record.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.naming import seq_of, table_base
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import read_footer
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]

CHILD = Path(__file__).with_name("_crash_extract.py")
ROWS = 137  # chunk_rows 10, file_rows 20: files of 20 x 6 + 17


@pytest.fixture
def setup(mysql, mysql_db, make_project) -> tuple[Project, TableConfig]:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(20) NOT NULL, "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        rng = random.Random(137)
        ids = rng.sample(range(1, 5000), ROWS)
        # Heavy ties on the cursor, so files and pages end inside a group of equal timestamps.
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s)",
            [(i, f"n{i}", f"2024-01-01 00:00:{rng.randint(0, 4):02d}") for i in ids],
        )
    project = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}},
        chunk_rows=10,
        file_rows=20,
        upper_bound_lag_seconds=0,
    )
    return project, table_config(project.pipeline("testpipe"), f"{mysql_db}.orders")


def run_child(
    project: Project, table: TableConfig, mode: str, at: int = 0, run_id: str = "child"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "MRA_TEST_MYSQL_PASSWORD": TEST_PASSWORD,
        "MRA_CRASH_TABLE": table.qualified,
        "MRA_CRASH_MODE": mode,
        "MRA_CRASH_AT": str(at),
        "MRA_CRASH_RUN_ID": run_id,
    }
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        assert env.get(var), f"{var} must reach the child for moto"
    return subprocess.run(
        [sys.executable, str(CHILD)], env=env, capture_output=True, text=True, timeout=120
    )


def crash(project: Project, table: TableConfig, mode: str, at: int, run_id: str) -> None:
    proc = run_child(project, table, mode, at, run_id)
    assert proc.returncode == -signal.SIGKILL, (
        f"the child was not killed at {mode}={at} (rc {proc.returncode}): {proc.stderr[-2000:]}"
    )


def resume(project: Project, table: TableConfig, run_id: str) -> ExtractResult:
    store = open_store(project, table.store)
    source = open_source(project, table.source)
    try:
        return extract_table(source, store, WatermarkStore(store), table, run_id=run_id)
    finally:
        source.close()


def parquet_keys(store: ObjectStore, table: TableConfig) -> list[str]:
    return sorted(o.key for o in store.list(table_base(table) + "/") if o.key.endswith(".parquet"))


def watermark(store: ObjectStore, table: TableConfig) -> Watermark:
    loaded = WatermarkStore(store).load(table)
    assert loaded is not None
    return loaded


def assert_exactly_once(project: Project, table: TableConfig, mysql) -> Watermark:
    store = open_store(project, table.store)
    wm = watermark(store, table)
    recorded = [f.key for f in wm.files]
    assert wm.status == "success"
    # Deterministic keys: seq 0..n-1, each once, and nothing else in the store (no orphan).
    assert [seq_of(k) for k in recorded] == list(range(len(recorded))) == list(range(wm.next_seq))
    assert parquet_keys(store, table) == sorted(recorded)

    with mysql.cursor() as cur:
        cur.execute("SELECT id, note FROM orders ORDER BY updated_at, id")
        source_rows = [tuple(r) for r in cur.fetchall()]
    footer_rows = 0
    extracted: list[tuple] = []
    for record in wm.files:
        fs, path = store.arrow_location(record.key)
        footer = read_footer(path, fs)
        assert footer.rows == record.rows
        footer_rows += footer.rows
        data = pq.read_table(path, filesystem=fs, columns=["id", "note"])
        extracted += list(zip(data["id"].to_pylist(), data["note"].to_pylist(), strict=True))
    assert footer_rows == len(source_rows) == wm.cumulative.rows
    assert len({r[0] for r in extracted}) == len(extracted)  # no duplicate id
    assert extracted == source_rows  # no gap, in keyset order
    return wm


# -- the kill points -----------------------------------------------------------------------------
def test_killed_after_second_file_recorded(setup, mysql) -> None:
    project, table = setup
    crash(project, table, "after_record", 2, "crash-a")
    store = open_store(project, table.store)
    wm = watermark(store, table)
    assert [f.rows for f in wm.files] == [20, 20] and wm.status == "running"
    assert parquet_keys(store, table) == sorted(f.key for f in wm.files)

    result = resume(project, table, "resume-a")
    assert result.position_before == wm.position
    assert result.rows == ROWS - 40 and [f.rows for f in result.files] == [20] * 4 + [17]
    final = assert_exactly_once(project, table, mysql)
    assert [f.run_id for f in final.files] == ["crash-a"] * 2 + ["resume-a"] * 5


@pytest.mark.parametrize("at", [1, 3, 7])
def test_killed_after_upload_before_watermark(setup, mysql, at: int) -> None:
    """File `at` is in the store but not in the watermark: the resumed run rewrites that key."""
    project, table = setup
    crash(project, table, "after_upload", at, "crash-b")
    store = open_store(project, table.store)
    wm = watermark(store, table)
    assert len(wm.files) == at - 1
    orphan = sorted(set(parquet_keys(store, table)) - {f.key for f in wm.files})
    assert len(orphan) == 1 and seq_of(orphan[0]) == at - 1  # the state the test is about

    result = resume(project, table, "resume-b")
    assert result.files[0].key == orphan[0]  # same deterministic key, rewritten
    assert result.rows == ROWS - 20 * (at - 1)
    assert_exactly_once(project, table, mysql)


def test_killed_before_the_first_file(setup, mysql) -> None:
    project, table = setup
    crash(project, table, "mid_stream", 2, "crash-c")  # a page read, its file half written
    store = open_store(project, table.store)
    wm = watermark(store, table)
    assert wm.files == [] and wm.position is None and wm.status == "running"
    assert parquet_keys(store, table) == []

    result = resume(project, table, "resume-c")
    assert result.position_before is None and result.rows == ROWS
    assert_exactly_once(project, table, mysql)


def test_killed_before_an_upload(setup, mysql) -> None:
    project, table = setup
    crash(project, table, "before_upload", 4, "crash-d")
    store = open_store(project, table.store)
    assert len(watermark(store, table).files) == 3 and len(parquet_keys(store, table)) == 3
    resume(project, table, "resume-d")
    assert_exactly_once(project, table, mysql)


def test_repeated_kills_then_new_rows_then_resume_in_a_child(setup, mysql) -> None:
    """Crash, crash again elsewhere, rows arrive, and a fresh process finishes the job."""
    project, table = setup
    crash(project, table, "after_upload", 2, "crash-1")
    crash(project, table, "after_record", 2, "crash-2")  # resumes, records 2 more, dies
    crash(project, table, "after_upload", 1, "crash-3")  # leaves an orphan again
    store = open_store(project, table.store)
    assert len(watermark(store, table).files) == 3
    assert len(parquet_keys(store, table)) == 4

    with mysql.cursor() as cur:
        cur.executemany(
            "INSERT INTO orders VALUES (%s, 'late', '2024-01-02 00:00:00')",
            [(i,) for i in range(10_001, 10_013)],
        )
        cur.execute(  # an old row moved past the position: it must be extracted again
            "UPDATE orders SET note = 'moved', updated_at = '2024-01-03 00:00:00' "
            "ORDER BY updated_at, id LIMIT 1"
        )
    proc = run_child(project, table, "none", run_id="finish")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["rows"] == ROWS + 12 + 1 - 60

    store = open_store(project, table.store)
    wm = watermark(store, table)
    # The moved row is in the store twice (old and new version): one per version, as designed.
    with mysql.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM orders")
        assert cur.fetchone()[0] == ROWS + 12
    total = 0
    ids: list[int] = []
    for record in wm.files:
        fs, path = store.arrow_location(record.key)
        total += read_footer(path, fs).rows
        ids += pq.read_table(path, filesystem=fs, columns=["id"])["id"].to_pylist()
    assert total == ROWS + 12 + 1 == len(ids)
    assert len(set(ids)) == ROWS + 12  # exactly one id appears twice: the moved row
    assert parquet_keys(store, table) == sorted(f.key for f in wm.files)
    assert [seq_of(f.key) for f in wm.files] == list(range(len(wm.files)))
