"""The new-data sensor of a `capture: binlog` table, on a private MariaDB with the binlog on:
a run when the table has no position yet (its initial copy) or when the server's binlog is past
the table's stored position (any transaction on the server counts, whichever table it
changes); a skip when a run has read up to the server's position."""

from __future__ import annotations

import dagster as dg
import pytest

from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.naming import new_data_sensor_name
from mysql_redshift_assets_tests.exactness import Sync

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def test_the_sensor_compares_the_tables_position_with_the_servers(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20))")
        cur.execute("CREATE TABLE other (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    spec = {"capture": "binlog", "new_data_sensor": {"default_status": "running"}}
    sync = Sync.of(make_project, mysql_db, "t", spec)
    sensor = build_definitions(sync.project).resolve_sensor_def(new_data_sensor_name(sync.table))
    connections = ConnectionsResource(pipelines_dir=str(sync.project.root))
    resources = {
        "connections": connections,
        "watermarks": WatermarkResource(connections=connections),
    }
    instance = dg.DagsterInstance.ephemeral()

    def evaluate() -> dg.RunRequest | dg.SkipReason:
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            return sensor(context)

    first = evaluate()  # no position yet: the initial copy is due
    assert isinstance(first, dg.RunRequest) and first.run_key == "binlog-after:the start"
    sync.run("run-1")
    skipped = evaluate()
    assert isinstance(skipped, dg.SkipReason), skipped
    assert "no new data" in (skipped.skip_message or "")

    with mysql.cursor() as cur:  # another table's transaction moves the server's position too
        cur.execute("INSERT INTO other VALUES (1)")
    assert isinstance(evaluate(), dg.RunRequest)
    extracted, _ = sync.run("run-2")
    assert extracted.rows == 0 and extracted.binlog_before != extracted.binlog_after
    assert isinstance(evaluate(), dg.SkipReason)  # read up to the server's position

    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET note = 'c' WHERE id = 1")
    request = evaluate()
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"binlog-after:{extracted.binlog_after}"
    extracted, _ = sync.run("run-3")
    assert extracted.rows == 1
    assert isinstance(evaluate(), dg.SkipReason)
