"""Faults mid-run. After each, one ordinary re-run leaves source == Parquet == warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pyarrow.parquet as pq
import pytest
import yaml

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets_tests.conftest import free_port

pytestmark = [pytest.mark.mariadb, pytest.mark.s3, pytest.mark.slow]
ROWS = 2000


@pytest.fixture
def orders(mysql, mysql_db):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(12,2), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, '2024-02-01 00:00:00')",
            [(i, f"{i}.01") for i in range(1, ROWS + 1)],
        )
    return f"{mysql_db}.orders"


def _ids_in_files(store, watermark) -> list[int]:
    ids: list[int] = []
    for f in watermark.files:
        fs, path = store.arrow_location(f.key)
        with fs.open_input_file(path) as handle:
            ids += pq.read_table(handle).column("id").to_pylist()
    return sorted(ids)


def _extract(project, name, **kwargs):
    table = table_config(project.pipeline("testpipe"), name)
    store = open_store(project, "s3")
    source = open_source(project, "mysql")
    try:
        return extract_table(
            source, store, WatermarkStore(store), table, run_id=kwargs.pop("run_id", "r"), **kwargs
        )
    finally:
        source.close()


def _assert_exact(project, name, target: str = "duckdb", schema: str = "public") -> None:
    table = table_config(project.pipeline("testpipe"), name)
    store = open_store(project, "s3")
    assert _ids_in_files(store, WatermarkStore(store).load(table)) == list(range(1, ROWS + 1))
    warehouse = open_warehouse(project, target)
    try:
        result, _ = load_table(warehouse, store, WatermarkStore(store), table, run_id="check")
        assert result.table_rows == ROWS
        total = warehouse.fetchall(f'SELECT SUM("amount") FROM {warehouse.ref(schema, "orders")}')[
            0
        ][0]
        assert str(total) == f"{sum(range(1, ROWS + 1)) + ROWS * 0.01:.2f}"
    finally:
        warehouse.close()


def test_s3_server_stopped_mid_extraction_and_started_again(
    orders, make_project, tmp_path, s3_endpoint
):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    import boto3

    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="fault-bucket"
    )
    project = make_project(
        {orders: {"cursor": "updated_at"}}, store="local", chunk_rows=100, file_rows=250
    )
    connections = project.root / "connections.yml"
    spec = yaml.safe_load(connections.read_text())
    spec["stores"]["s3"] = {
        "kind": "s3",
        "bucket": "fault-bucket",
        "endpoint_url": endpoint,
        "region": "us-east-1",
    }
    connections.write_text(yaml.safe_dump(spec))
    (project.root / "testpipe.yml").write_text(
        (project.root / "testpipe.yml").read_text().replace("store: local", "store: s3")
    )
    project = load_project(project.root)
    state = {"server": server}

    def outage(_record) -> None:
        if state.get("down"):
            return
        state["down"] = True
        state["server"].stop()

        def back() -> None:  # S3 comes back while the client is still retrying
            time.sleep(1.5)
            state["server"] = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            state["server"].start()

        threading.Thread(target=back, daemon=True).start()

    try:
        try:
            _extract(project, orders, on_file=outage)
        except Exception:
            pass  # retries may run out: then the ordinary re-run below finishes the job
        _extract(project, orders, run_id="r2")
        _assert_exact(project, orders)
    finally:
        state["server"].stop()


def test_mysql_connection_killed_mid_table(orders, make_project, mysql):
    project = make_project({orders: {"cursor": "updated_at"}}, chunk_rows=100, file_rows=250)
    table = table_config(project.pipeline("testpipe"), orders)
    store = open_store(project, "s3")
    source = open_source(project, "mysql")

    def kill(_record) -> None:
        with mysql.cursor() as cur:
            cur.execute(f"KILL CONNECTION {source._connection().thread_id()}")

    try:
        with pytest.raises(Exception, match="Lost connection|gone away|2013|2006"):
            extract_table(source, store, WatermarkStore(store), table, run_id="r1", on_file=kill)
    finally:
        source.close()
    watermark = WatermarkStore(store).load(table)
    assert watermark.status == "failed" and watermark.session.error
    # Whole files only: those stored before the failure (a file still being stored when the
    # read failed is published if its upload succeeded), and the position of the last of them.
    assert watermark.files and watermark.cumulative.rows == 250 * len(watermark.files)
    assert watermark.cumulative.rows < 1000 and watermark.position == watermark.files[-1].last
    _extract(project, orders, run_id="r2")
    _assert_exact(project, orders)


LOADER = textwrap.dedent(
    """
    import os, signal, sys
    from mysql_redshift_assets.project import load_project
    from mysql_redshift_assets.config.resolve import table_config
    from mysql_redshift_assets.connect import open_store, open_warehouse
    from mysql_redshift_assets.load.base import Warehouse
    from mysql_redshift_assets.state.watermark import WatermarkStore
    from mysql_redshift_assets.sync.load import load_table

    project = load_project(sys.argv[1])
    table = table_config(project.pipeline("testpipe"), sys.argv[2])
    store = open_store(project, "s3")
    warehouse = open_warehouse(project, sys.argv[3])
    real = type(warehouse).copy_into_staging
    calls = []

    def copy_then_die(self, *args, **kwargs):
        rows = real(self, *args, **kwargs)
        calls.append(rows)
        if len(calls) == 1:
            self.execute("SELECT 1")  # the staging copy and merge are in flight
        os.kill(os.getpid(), signal.SIGKILL)
        return rows

    type(warehouse).copy_into_staging = copy_then_die
    load_table(warehouse, store, WatermarkStore(store), table, run_id="doomed")
    """
)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_sigkill_during_the_warehouse_load(orders, make_project, target, request):
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    project = make_project(
        {orders: {"cursor": "updated_at"}}, target=target, target_schema=schema, file_rows=500
    )
    _extract(project, orders)
    child = subprocess.run(
        [sys.executable, "-c", LOADER, str(project.root), orders, target],
        env={**os.environ}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    # Killed inside the transaction: no row and no ledger entry survived.
    warehouse = open_warehouse(project, target)
    try:
        assert warehouse.row_count(schema, "orders") == 0
        assert warehouse.loaded_keys(schema, f"{schema}.orders") == set()
    finally:
        warehouse.close()
    _assert_exact(project, orders, target, schema)
