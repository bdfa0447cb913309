"""The delete pass as the exact SQL it sends to Redshift: the doomed keys staged in a temporary
table typed as the target's key columns, then one `DELETE ... USING` joining every key column
under the lock (https://docs.aws.amazon.com/redshift/latest/dg/r_DELETE.html), retried after
ERROR 1023."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mysql_redshift_assets.load import deletes, retry
from mysql_redshift_assets.load.deletes import delete_keys
from mysql_redshift_assets_tests.unit.test_redshift_sql import (
    RecordingConnection,
    make_table,
    warehouse_over,
)

TARGET = '"analytics"."orders"'
LEDGER = '"analytics"."mysql_redshift_loads"'


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deletes, "DELETE_BATCH", 2)
    monkeypatch.setattr(retry, "RETRY_BASE_SECONDS", 0.0)


def _pass(conn: RecordingConnection, tmp_path: Path) -> int | None:
    warehouse = warehouse_over(conn)
    keys = [("eu", 1), ("eu", 2), ("us", 7)]
    return delete_keys(
        warehouse, make_table(tmp_path), None, ["region", "code"], keys,  # type: ignore[arg-type]
        files_seen=set(), run_id="run-7",
    )  # fmt: skip


def _doomed(conn: RecordingConnection) -> str:
    names = {m for s in conn.statements for m in re.findall(r'"mra_doomed_[0-9a-f]{8}"', s)}
    assert len(names) == 1
    return names.pop()


def test_the_keys_are_staged_then_deleted_by_one_join_under_the_lock(tmp_path: Path) -> None:
    conn = RecordingConnection(tables={("analytics", "orders"): ["region", "code", "qty"]})
    assert _pass(conn, tmp_path) == 0  # the recording answers 42 to both COUNT(*)s
    d = _doomed(conn)
    log = [(s, p) for s, p in conn.log if "information_schema" not in s]
    match = f'{TARGET}."region" = {d}."region" AND {TARGET}."code" = {d}."code"'
    assert log == [
        # transaction 1: the keys, typed as the target's key columns; no lock
        (f'CREATE TEMP TABLE {d} AS SELECT "region", "code" FROM {TARGET} WHERE 1 = 0', None),
        (f'INSERT INTO {d} ("region", "code") VALUES (%s, %s), (%s, %s)', ("eu", 1, "eu", 2)),
        (f'INSERT INTO {d} ("region", "code") VALUES (%s, %s)', ("us", 7)),
        ("COMMIT", None),
        # transaction 2: the lock, the ledger re-check, one DELETE ... USING, the ledger row
        (f"LOCK {TARGET}", None),
        (f"SELECT COUNT(*) FROM {TARGET}", None),
        (f"DELETE FROM {TARGET} USING {d} WHERE {match}", None),
        (f"SELECT COUNT(*) FROM {TARGET}", None),
        (
            f'INSERT INTO {LEDGER} ("file_key", "table_name", "row_count", "run_id", '
            '"loaded_at") VALUES (%s, %s, %s, %s, GETDATE())',
            log[8][1],
        ),
        ("COMMIT", None),
        (f"DROP TABLE IF EXISTS {d}", None),
        ("COMMIT", None),
    ]
    assert log[8][1] is not None and log[8][1][1:] == ("analytics.orders#deletes", 0, "run-7")


def test_a_pass_aborted_with_error_1023_runs_again(tmp_path: Path) -> None:
    conn = RecordingConnection(tables={("analytics", "orders"): ["region", "code", "qty"]})
    conn.fail_commits = 1  # the COMMIT of the ledger row fails as Redshift's ERROR 1023
    assert _pass(conn, tmp_path) == 0
    deletes_run = [s for s in conn.statements if s.startswith(f"DELETE FROM {TARGET} USING")]
    assert len(deletes_run) == 2
    assert len(conn.ledger) == 1  # recorded once


def test_a_pass_with_nothing_to_delete_only_records_itself(tmp_path: Path) -> None:
    """Most passes find nothing (a sync with nothing new): no keys staged, no DELETE and no
    counts, but the pass is still recorded under the lock after the ledger re-check
    (`deletes_every_minutes` reads it), in one transaction (issue 28)."""
    ledger_columns = ["file_key", "table_name", "row_count", "run_id", "loaded_at"]
    conn = RecordingConnection(
        tables={
            ("analytics", "orders"): ["region", "code", "qty"],
            ("analytics", "mysql_redshift_loads"): ledger_columns,
        }
    )
    warehouse = warehouse_over(conn)
    deleted = delete_keys(
        warehouse, make_table(tmp_path), None, ["region", "code"], [],  # type: ignore[arg-type]
        files_seen=set(), run_id="run-7",
    )  # fmt: skip
    assert deleted == 0
    log = [(s, p) for s, p in conn.log if "information_schema" not in s]
    assert [s for s, _ in log] == [
        f"LOCK {TARGET}",
        f'SELECT "file_key" FROM {LEDGER} WHERE "table_name" = %s',
        f'INSERT INTO {LEDGER} ("file_key", "table_name", "row_count", "run_id", '
        '"loaded_at") VALUES (%s, %s, %s, %s, GETDATE())',
        "COMMIT",
    ]
    assert log[2][1] is not None and log[2][1][1:] == ("analytics.orders#deletes", 0, "run-7")
    assert len(conn.ledger) == 1
