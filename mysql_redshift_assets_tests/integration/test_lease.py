"""Two writers of one table at once: one refuses; nothing doubled, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.naming import lease_key
from mysql_redshift_assets.state.lease import LeaseHeld, table_lease
from mysql_redshift_assets.state.watermark import WatermarkStore, utcnow
from mysql_redshift_assets.store.objectstore import LocalStore
from mysql_redshift_assets.sync.extract import extract_table

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]


@pytest.fixture
def orders(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, updated_at DATETIME NOT NULL)")
        cur.executemany(
            "INSERT INTO orders VALUES (%s, '2024-01-01 00:00:00')", [(i,) for i in range(1, 3001)]
        )
    project = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}}, chunk_rows=100, file_rows=300
    )
    return project, table_config(project.pipeline("testpipe"), f"{mysql_db}.orders")


def test_two_extractions_at_once_one_refuses_and_rows_are_exact(orders):
    project, table = orders
    store = open_store(project, "s3")
    started, outcomes = threading.Barrier(2), []

    def extract(run_id: str) -> None:
        source = open_source(project, "mysql")
        started.wait()
        try:
            outcomes.append(
                extract_table(source, store, WatermarkStore(store), table, run_id=run_id)
            )
        except LeaseHeld as exc:
            outcomes.append(exc)
        finally:
            source.close()

    threads = [threading.Thread(target=extract, args=(f"run-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [o for o in outcomes if isinstance(o, LeaseHeld)]
    done = [o for o in outcomes if not isinstance(o, LeaseHeld)]
    # Either one refused while the other ran, or they did not overlap at all (then the second
    # found nothing new); never two writers at once.
    assert len(refused) + len(done) == 2 and len(done) >= 1
    if refused:
        assert "is being written by run" in str(refused[0])
    watermark = WatermarkStore(store).load(table)
    ids = []
    for f in watermark.files:
        fs, path = store.arrow_location(f.key)
        with fs.open_input_file(path) as handle:
            ids += pq.read_table(handle).column("id").to_pylist()
    assert sorted(ids) == list(range(1, 3001))
    assert json.loads(store.get_bytes(lease_key(table)))["released"] is True


def test_an_expired_lease_left_by_a_dead_process_is_taken_over(orders):
    project, table = orders
    store = open_store(project, "s3")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    import socket

    store.put_bytes(
        json.dumps({"run_id": "ghost", "host": socket.gethostname(), "pid": int(dead.stdout),
                    "generation": 7, "acquired_at": utcnow().isoformat(),
                    "expires_at": (utcnow() - timedelta(seconds=1)).isoformat()}).encode(),
        lease_key(table),
    )  # fmt: skip
    source = open_source(project, "mysql")
    try:
        assert extract_table(source, store, WatermarkStore(store), table, run_id="r1").rows == 3000
    finally:
        source.close()
    assert json.loads(store.get_bytes(lease_key(table)))["generation"] == 8


def test_a_live_lease_refuses_and_a_released_one_is_taken_at_once(tmp_path, orders):
    _, table = orders
    store = LocalStore(tmp_path / "store")
    with table_lease(store, table, "holder"):
        with pytest.raises(LeaseHeld, match="holder"):
            with table_lease(store, table, "intruder"):
                pass
    assert json.loads(store.get_bytes(lease_key(table)))["released"] is True
    with table_lease(store, table, "next"):  # released: no wait for its expiry
        assert json.loads(store.get_bytes(lease_key(table)))["generation"] == 2
