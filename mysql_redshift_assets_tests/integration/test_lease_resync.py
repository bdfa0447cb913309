"""A resync whose table lease is taken over while it reads switches nothing: no watermark write,
no swap; the warehouse keeps its rows, and the next resync is exact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import mysql_redshift_assets.maintenance.resync as resync_module
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.naming import lease_key
from mysql_redshift_assets.state.lease import LeaseLost
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.test_resync import (
    COLUMNS,
    _create,
    resync,
    watermark_bytes,
)

pytestmark = [pytest.mark.mariadb, pytest.mark.s3]


def test_a_resync_that_lost_its_lease_switches_nothing(mysql, mysql_db, make_project, monkeypatch):
    _create(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, store="s3")
    sync.run("first")
    with mysql.cursor() as cur:
        cur.execute("UPDATE orders SET note = 'changed', updated_at = '2024-07-01' WHERE id < 4")
    before = (watermark_bytes(sync), sync.warehouse_rows(COLUMNS, ["id"]))
    store = open_store(sync.project, sync.table.store)
    key = lease_key(sync.table)
    real = resync_module.read_table

    def taken_over_after_one_batch(source, scan):
        batches = iter(real(source, scan))
        yield next(batches)
        mine = json.loads(store.get_bytes(key))
        later = datetime.now(UTC) + timedelta(minutes=5)
        other = {**mine, "run_id": "other-pod", "generation": mine["generation"] + 1,
                 "expires_at": later.isoformat()}  # fmt: skip
        store.put_bytes(json.dumps(other).encode(), key)  # as a run that took the lease over
        yield from batches

    with monkeypatch.context() as patched, pytest.raises(LeaseLost, match="resync-lost"):
        patched.setattr(resync_module, "read_table", taken_over_after_one_batch)
        resync(sync, "resync-lost")
    assert (watermark_bytes(sync), sync.warehouse_rows(COLUMNS, ["id"])) == before
    assert json.loads(store.get_bytes(key))["run_id"] == "other-pod"  # its lease, untouched

    released = {**json.loads(store.get_bytes(key)), "released": True,
                "expires_at": datetime.now(UTC).isoformat()}  # fmt: skip
    store.put_bytes(json.dumps(released).encode(), key)  # the other run finished
    resync(sync, "resync-2")
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
