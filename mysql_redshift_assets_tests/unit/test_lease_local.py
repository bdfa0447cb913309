"""The lease's pieces on the local store: compare-and-swap, the TTL setting, and a holder that
went a TTL without a confirmed renewal writes no watermark and no file."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.naming import watermark_key
from mysql_redshift_assets.state.fenced import FencedStore
from mysql_redshift_assets.state.lease import Lease, LeaseLost, lease_ttl, table_lease
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import LocalStore
from mysql_redshift_assets_tests.unit.test_watermark import make_table


def test_local_compare_and_swap(tmp_path):
    store = LocalStore(tmp_path)
    first = store.put_if_match(b"one", "t/k", None)
    assert first is not None
    assert store.put_if_match(b"two", "t/k", None) is None  # exists: no create
    assert store.put_if_match(b"two", "t/k", "not-the-tag") is None
    second = store.put_if_match(b"two", "t/k", first)
    assert second is not None and store.get_tagged("t/k") == (b"two", second)
    assert store.put_if_match(b"three", "t/k", first) is None  # an old version: refused
    assert store.get_bytes("t/k") == b"two"
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["k"]  # no lock file left


def test_the_ttl_setting(monkeypatch):
    monkeypatch.delenv("MYSQL_REDSHIFT_LEASE_TTL_SECONDS", raising=False)
    assert lease_ttl() == timedelta(seconds=120)
    monkeypatch.setenv("MYSQL_REDSHIFT_LEASE_TTL_SECONDS", "2.5")
    assert lease_ttl() == timedelta(seconds=2.5)
    monkeypatch.setenv("MYSQL_REDSHIFT_LEASE_TTL_SECONDS", "0")
    with pytest.raises(ConfigError, match="MYSQL_REDSHIFT_LEASE_TTL_SECONDS"):
        lease_ttl()


def test_a_holder_without_a_confirmed_renewal_for_a_ttl_writes_nothing(tmp_path, monkeypatch):
    store, table = LocalStore(tmp_path), make_table()
    watermarks = WatermarkStore(store)
    watermarks.save(table, Watermark(table=table.qualified, mode=table.mode))
    before = store.get_bytes(watermark_key(table))
    monkeypatch.setattr(Lease, "renew", lambda self: None)  # the store unreachable, say
    with pytest.raises(LeaseLost, match="shop.orders: run r1 lost its lease.*next run"):
        with table_lease(store, table, "r1", ttl=timedelta(seconds=0.3)) as lease:
            time.sleep(0.35)
            with pytest.raises(LeaseLost):
                FencedStore(store, lease).put_bytes(b"x", "shop/orders/file.parquet")
            watermarks.save(table, Watermark(table=table.qualified, mode=table.mode))
    assert store.get_bytes(watermark_key(table)) == before
    assert store.get_bytes("shop/orders/file.parquet") is None


def test_a_watermark_written_by_another_run_is_never_overwritten(tmp_path):
    store, table = LocalStore(tmp_path), make_table()
    watermarks = WatermarkStore(store)
    with pytest.raises(LeaseLost, match="was written by another run"):
        with table_lease(store, table, "r1"):
            watermarks.save(table, Watermark(table=table.qualified, mode=table.mode))
            store.put_bytes(b"{}", watermark_key(table))  # a writer that ignores the lease
            watermarks.save(table, Watermark(table=table.qualified, mode=table.mode))
    assert store.get_bytes(watermark_key(table)) == b"{}"


def test_a_release_the_store_refuses_for_a_moment_is_tried_again(tmp_path, monkeypatch):
    """A store outage that failed the run may be over in seconds: the release tries again,
    else the lease would block the table for a TTL (`RELEASE_PAUSES`)."""
    import mysql_redshift_assets.state.lease as lease_module

    store, table = LocalStore(tmp_path), make_table()
    monkeypatch.setattr(lease_module, "RELEASE_PAUSES", (0.01, 0.01, 0.01))
    real_put = LocalStore.put_if_match
    failures = []

    with table_lease(store, table, "r1", ttl=timedelta(seconds=30)):

        def flaky(self, data, key, tag):
            if key.endswith("_lease.json") and len(failures) < 2:
                failures.append(key)
                raise ConnectionError("the store is down")
            return real_put(self, data, key, tag)

        monkeypatch.setattr(LocalStore, "put_if_match", flaky)
    assert len(failures) == 2
    with table_lease(store, table, "r2", ttl=timedelta(seconds=30)) as lease:
        assert lease.run_id == "r2"  # r1's lease was released: no wait for its TTL
