"""The soak's binlog variant (see mysql_redshift_assets_tests/soak_binlog.py): writers in three
time zones, SIGKILLed syncs and resyncs, `FLUSH BINARY LOGS` at random moments; at the end MySQL
== the warehouse, row by row, for a keyed and a keyless table, on DuckDB and on PostgreSQL.

`make test` runs it briefly (12 s of writes a target, unless MRA_SOAK_SECONDS says otherwise);
`make soak` runs it for SOAK_SECONDS a target. The seed is printed first;
`MRA_SOAK_SEED=<seed>` replays its draws.
"""

from __future__ import annotations

import os

import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets_tests.conftest import TEST_PASSWORD
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.soak import soak_seed
from mysql_redshift_assets_tests.soak_binlog import (
    KEYED_COLUMNS,
    KEYED_DDL,
    KEYLESS_COLUMNS,
    KEYLESS_DDL,
    run_binlog_soak,
)

pytestmark = [pytest.mark.mariadb, pytest.mark.soak]
SECONDS = float(os.environ.get("MRA_SOAK_SECONDS", "12"))


@pytest.fixture
def mysql_server(binlog_mariadb):  # type: ignore[no-untyped-def]
    """The private server (its writers hold transactions open too)."""
    return binlog_mariadb


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_binlog_writers_rotations_and_sigkills_end_with_mysql_equal_to_the_warehouse(
    mysql, mysql_db, make_project, mysql_sessions, mysql_server, request, target
) -> None:
    with mysql.cursor() as cur:
        cur.execute(KEYED_DDL)
        cur.execute(KEYLESS_DDL)
        cur.executemany(
            "INSERT INTO soak_b (v, note, amount) VALUES (%s, %s, %s)",
            [(i, f"seed row {i}", f"{i}.25") for i in range(200)],
        )
        cur.executemany(
            "INSERT INTO soak_k (v, note, d) VALUES (%s, %s, %s)",
            [(i % 30, "s" if i % 3 else None, "1.50") for i in range(120)],
        )
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    names = [f"{mysql_db}.soak_b", f"{mysql_db}.soak_k"]
    project = make_project(
        {name: {"capture": "binlog"} for name in names},
        store="local",
        target=target,
        target_schema=schema,
        chunk_rows=50,
        file_rows=5,  # several files a stream: a SIGKILL may land between two of them
    )
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "MRA_TEST_MYSQL_PASSWORD": TEST_PASSWORD,
        "MRA_SYNC_TABLE": ",".join(names),
    }
    stats = run_binlog_soak(
        seed=soak_seed(),
        seconds=SECONDS,
        connect=mysql_sessions,
        root=mysql_server.root,
        env=env,
        tables=names,
    )
    assert stats.syncs >= 3 and stats.commits > 0 and stats.rotations > 0
    keyed, keyless = (Sync(project, table_config(project.pipeline("testpipe"), n)) for n in names)
    assert_same_rows(mysql, keyed, KEYED_COLUMNS, ["id"])
    assert_same_rows(mysql, keyless, KEYLESS_COLUMNS, KEYLESS_COLUMNS)
    for sync in (keyed, keyless):  # caught up: a further run reads nothing new
        again = sync.extract("soak-binlog-again")
        assert again.rows == 0 and not again.files
