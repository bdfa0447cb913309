"""`validate` on a table whose sync is stuck (issue 22, defect 8), on DuckDB and PostgreSQL.

Before, a row past the watermark's position was "not yet extracted", never a mismatch, however
old: a table no sync had carried since a row was written with an old cursor value said OK. Now a
row whose cursor is older than what the last complete run proved committed (its bound minus its
re-read window) and that the warehouse lacks is missing, and the verdict says so, naming the row;
a row written just now is still only not yet extracted.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync
from mysql_redshift_assets_tests.integration.late_sessions import settle_and_compare

pytestmark = [pytest.mark.mariadb]
COLUMNS, KEY = ["id", "v", "updated_at"], ["id"]


def _validate(sync: Sync, capsys) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["--pipelines-dir", str(sync.project.root), "validate", "--json", "-p", "testpipe"])
    (counts,) = json.loads(capsys.readouterr().out)
    return code, counts


@pytest.mark.parametrize("cursor", ["DATETIME(6)", "TIMESTAMP(6)"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_row_older_than_the_last_runs_bound_and_window_is_missing(
    mysql, mysql_db, make_project, request, capsys, target, cursor
):
    with mysql.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(
            f"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), updated_at {cursor} NOT NULL, "
            "KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, '2026-12-01 08:00:00' + INTERVAL %s SECOND)",
            [(i, f"zoë {i}", i) for i in range(10)],
        )
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    spec = {"cursor": "updated_at"}
    sync = Sync.of(make_project, mysql_db, "t", spec, target=target, target_schema=schema)
    sync.run("r1")
    code, counts = _validate(sync, capsys)
    assert (code, counts["verdict"]) == (0, "ok"), counts["note"]

    with mysql.cursor() as cur:  # written just now: not extracted yet, and not wrong
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("INSERT INTO t VALUES (20, 'now', UTC_TIMESTAMP(6))")
    code, counts = _validate(sync, capsys)
    assert (code, counts["verdict"], counts["not_yet_extracted"]) == (0, "ok", 1), counts["note"]

    # Written after the last sync with a cursor an hour older than that sync's bound, past the
    # position, and no sync since: the last run proved such a row is in its files, or lost.
    with mysql.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("INSERT INTO t VALUES (15, 'stuck', UTC_TIMESTAMP(6) - INTERVAL 1 HOUR)")
    code, counts = _validate(sync, capsys)
    assert (code, counts["verdict"]) == (1, "mismatch"), counts["note"]
    assert (counts["missing"], counts["not_yet_extracted"]) == (1, 1)
    assert counts["examples"]["missing"] == ["15"]
    assert "1 missing" in counts["note"] and "15" in counts["note"]

    # The sync runs again: every row carried (once other tests' transactions, which hold the
    # bound back, have ended: INNODB_TRX is server-wide).
    settle_and_compare(mysql, sync, COLUMNS, KEY)
    code, counts = _validate(sync, capsys)
    assert (code, counts["verdict"]) == (0, "ok"), counts["note"]


def test_a_run_cut_short_proves_nothing_past_its_position(mysql, mysql_db, make_project, capsys):
    """`--limit`: a run that stopped before its bound records no bound; the rows after its
    position are not yet extracted, not missing."""
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), updated_at DATETIME(6) NOT NULL)"
        )
        cur.executemany(
            "INSERT INTO t VALUES (%s, 'x', '2026-12-01 08:00:00' + INTERVAL %s MINUTE)",
            [(i, i) for i in range(10)],
        )
    sync = Sync.of(make_project, mysql_db, "t", {"cursor": "updated_at"})
    sync.extract("r1", max_rows=4)
    sync.load("r1")
    watermark = WatermarkStore(open_store(sync.project, "local")).load(sync.table)
    assert watermark is not None and watermark.read_to is None
    code, counts = _validate(sync, capsys)
    assert (code, counts["verdict"], counts["not_yet_extracted"]) == (0, "ok", 6), counts["note"]


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_an_integer_cursor_is_settled_by_its_samples(
    mysql, mysql_db, make_project, request, capsys, target
):
    """An integer cursor's window is counted in samples of MAX(cursor): a value the sample
    taken a window before the last run already held is settled."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), seq BIGINT NOT NULL)")
        cur.executemany("INSERT INTO t VALUES (%s, 'x', %s)", [(i, i) for i in range(1, 11)])
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    sync = Sync.of(
        make_project, mysql_db, "t", {"cursor": "seq"}, target=target, target_schema=schema,
        late_commit_window_seconds=1,
    )  # fmt: skip
    sync.run("r1")  # samples MAX(seq) = 10
    time.sleep(1.5)  # the next run's window reaches back to that sample
    sync.run("r2")
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO t VALUES (11, 'tie', 10)")  # past the position (10, 10)
        cur.execute("INSERT INTO t VALUES (12, 'new', 11)")  # past every sample: pending
    code, counts = _validate(sync, capsys)
    assert (code, counts["verdict"], counts["missing"]) == (1, "mismatch", 1), counts["note"]
    assert counts["examples"]["missing"] == ["11"] and counts["not_yet_extracted"] == 1
    settle_and_compare(mysql, sync, ["id", "v", "seq"], KEY)
    assert _validate(sync, capsys)[0] == 0
