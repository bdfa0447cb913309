"""The randomized soak (see mysql_redshift_assets_tests/soak.py): writers, repeated syncs,
random SIGKILLs; at the end MySQL == the warehouse, row by row, on DuckDB and on PostgreSQL.

`make test` runs it briefly (MRA_SOAK_SECONDS, default 30 s a target); `make soak` runs it for
10 minutes a target. The seed is printed first; `MRA_SOAK_SEED=<seed>` replays a run.
"""

from __future__ import annotations

import os

import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.soak import COLUMNS, SOAK_DDL, run_soak, soak_seed

pytestmark = [pytest.mark.mariadb, pytest.mark.soak]
SECONDS = float(os.environ.get("MRA_SOAK_SECONDS", "30"))


@pytest.fixture
def mysql_server(private_mariadb):  # type: ignore[no-untyped-def]
    """Its writers hold transactions open: a server of its own (INNODB_TRX is server-wide)."""
    return private_mariadb


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_writers_syncs_and_sigkills_end_with_mysql_equal_to_the_warehouse(
    mysql, mysql_db, make_project, mysql_sessions, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute(SOAK_DDL)
        cur.executemany(
            "INSERT INTO soak (v, note) VALUES (%s, %s)", [(i, f"seed row {i}") for i in range(200)]
        )
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    project = make_project(
        {f"{mysql_db}.soak": {"cursor": "updated_at"}},
        store="local",
        target=target,
        target_schema=schema,
        chunk_rows=50,
        file_rows=120,
        upper_bound_lag_seconds=0,
        # The production default: some writers stamp rows 2 s in the past, which only the
        # re-read window covers (make_project's default turns it off for counting tests).
        late_commit_window_seconds=900,
    )
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "MRA_TEST_MYSQL_PASSWORD": TEST_PASSWORD,
        "MRA_SYNC_TABLE": f"{mysql_db}.soak",
    }
    sync = Sync(project, table_config(project.pipeline("testpipe"), f"{mysql_db}.soak"))

    def warehouse_keys() -> set[int]:
        return {int(row[0]) for row in sync.warehouse_rows(["id"], ["id"])}

    stats = run_soak(
        seed=soak_seed(),
        seconds=SECONDS,
        connect=mysql_sessions,
        env=env,
        warehouse_keys=warehouse_keys,
    )
    assert stats.syncs >= 3 and stats.commits > 0 and stats.inserts and stats.deletes
    assert stats.resyncs and stats.reports
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
