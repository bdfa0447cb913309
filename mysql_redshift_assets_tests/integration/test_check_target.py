"""`check-target` against the PostgreSQL stand-in and moto's S3: every check, and nothing left.

The Redshift-only statements (stv_db_isolation_level, the bucket-region rule, TLS) are checked as
text and arguments in unit/test_check_target_sql.py.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.load.base import CopyBatch
from mysql_redshift_assets.load.ledger import create_ledger_sql
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.maintenance.check_target import check_target
from mysql_redshift_assets.naming import LEDGER_TABLE
from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, pg_query


def _tables(schema: str) -> list[str]:
    return [r[0] for r in pg_query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
        (schema,),
    )]  # fmt: skip


def _schema_exists(schema: str) -> bool:
    return bool(pg_query("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)))


@pytest.fixture
def project(make_project: Any, pg_schema: str) -> Any:
    # `json: super`: the `json` probe runs (it is SKIP for a pipeline without).
    return make_project({"shop.orders": {"cursor": "updated_at", "json": "super"}}, store="s3",
                        target="postgres", target_schema=pg_schema)  # fmt: skip


STEPS = ["load", "values", "reload", "widen", "deletes", "validate", "resync", "rowsize", "json"]
PROBES = ["region", "connect", "latency", "ssl", "isolation", "temp", "create"]


def test_every_check_passes_and_nothing_is_left(project: Any, pg_schema: str) -> None:
    checks = check_target(project, project.pipeline("testpipe"))
    by_name = {c.name: c for c in checks}
    assert [c.name for c in checks] == [*PROBES, *STEPS, "cleanup"]
    assert {c.name for c in checks if c.status == "FAIL"} == set(), [c.line for c in checks]
    assert by_name["region"].status == "SKIP" and by_name["ssl"].status == "SKIP"
    assert all(by_name[s].status == "OK" for s in STEPS), [c.line for c in checks]
    assert "every value read back equal" in by_name["values"].detail
    assert "parsed into JSONB and read back the same document" in by_name["json"].detail
    assert "lock held" in by_name["load"].detail
    assert "added_def with its DEFAULT in the 4 older rows" in by_name["reload"].detail
    assert "added_vb BYTEA" in by_name["reload"].detail
    assert "added_def is VARCHAR(400) now, widened in place" in by_name["widen"].detail
    assert "#deletes' written" in by_name["deletes"].detail
    assert "6 rows, 29 columns hashed" in by_name["validate"].detail
    assert re.fullmatch(
        r"swapped in; the view (mra_check_[0-9a-f]{8})_v and the materialized view \1_mv answer "
        r"with the new rows and SELECT to PUBLIC is still granted",
        by_name["resync"].detail,
    ), by_name["resync"].detail
    assert by_name["rowsize"].detail.startswith("refused before COPY: ")
    assert "over the 4,194,304-byte row limit of Redshift's COPY" in by_name["rowsize"].detail
    # The target schema did not exist: the check created it, then removed it with the rest.
    assert not _schema_exists(pg_schema)
    store = open_store(project, "s3")
    assert list(store.list("")) == []


def test_every_path_on_duckdb(make_project: Any, tmp_path: Any) -> None:
    import duckdb

    table = {"cursor": "updated_at", "json": "super"}
    project = make_project({"shop.orders": table}, store="s3", target="duckdb")
    checks = check_target(project, project.pipeline("testpipe"))
    statuses = {c.name: c.status for c in checks}
    assert [c.name for c in checks] == [*PROBES, *STEPS, "cleanup"]
    assert statuses["rowsize"] == "SKIP"  # DuckDB takes any row
    assert all(statuses[s] == "OK" for s in STEPS if s != "rowsize"), [c.line for c in checks]
    assert statuses["cleanup"] == "OK"
    path = project.connections.targets["duckdb"].path
    with duckdb.connect(str(path)) as con:
        names = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    assert [n for n in names if "mra_check" in n[1] or n[1] == LEDGER_TABLE] == []
    assert list(open_store(project, "s3").list("")) == []


@pytest.mark.parametrize("failing", ["deletes", "resync"])
def test_a_failing_middle_step_still_cleans_everything(
    project: Any, pg_schema: str, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    from mysql_redshift_assets.maintenance import check_paths

    def fails(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"{failing} refused (simulated)")

    # The resync fails after its view, materialized view and grant exist; the delete pass
    # inside its transaction.
    monkeypatch.setattr(
        check_paths, {"deletes": "delete_keys", "resync": "swap_in"}[failing], fails
    )
    checks = check_target(project, project.pipeline("testpipe"))
    statuses = {c.name: c.status for c in checks}
    assert [c.name for c in checks if c.status == "FAIL"] == [failing]
    assert f"{failing} refused (simulated)" in next(c.detail for c in checks if c.name == failing)
    after = {"deletes": [], "resync": ["rowsize"]}[failing]  # the steps that need it
    assert all(statuses[s] == "SKIP" for s in after)
    assert all(statuses[s] == "OK" for s in STEPS if s not in [failing, *after])
    assert statuses["cleanup"] == "OK"
    assert not _schema_exists(pg_schema)
    assert list(open_store(project, "s3").list("")) == []


def test_an_existing_schema_and_ledger_keep_everything_but_the_canary(
    project: Any, pg_schema: str
) -> None:
    ledger = f'"{pg_schema}"."{LEDGER_TABLE}"'
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        conn.execute(f'CREATE TABLE "{pg_schema}".keep (x int)')
        conn.execute(create_ledger_sql(ledger))
        conn.execute(f"INSERT INTO {ledger} VALUES ('k', 't', 1, 'r', now())")
    checks = check_target(project, project.pipeline("testpipe"))
    assert all(c.status != "FAIL" for c in checks), [c.line for c in checks]
    assert _tables(pg_schema) == ["keep", LEDGER_TABLE]
    assert pg_query(f"SELECT file_key FROM {ledger}") == [("k",)]


def test_a_failing_check_leaves_no_objects_behind(
    project: Any, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = PostgresWarehouse.copy_into_staging

    def copy_one_value_wrong(self: PostgresWarehouse, batch: CopyBatch) -> int:
        copied = original(self, batch)
        self.execute(f'UPDATE {batch.staging} SET "vl" = \'changed\' WHERE "id" = 1')
        return copied

    monkeypatch.setattr(PostgresWarehouse, "copy_into_staging", copy_one_value_wrong)
    checks = check_target(project, project.pipeline("testpipe"))
    failed = [c for c in checks if c.status == "FAIL"]
    # The widening reads the first load back too; the reconciliation finds the row changed.
    assert [c.name for c in failed] == ["values", "widen", "validate"]
    assert "vl (VARCHAR(30)) row 1: wrote 'éééééééééé', read 'changed'" in failed[0].detail
    assert "changed 1, missing 0, extra 0; examples {'changed': ['1']}" in failed[2].detail
    assert checks[-1].name == "cleanup" and checks[-1].status == "OK"
    assert not _schema_exists(pg_schema)
    assert list(open_store(project, "s3").list("")) == []


def test_a_failing_load_leaves_no_objects_behind(
    project: Any, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def copy_fails(*_args: Any) -> int:
        raise RuntimeError("COPY refused (simulated)")

    monkeypatch.setattr(PostgresWarehouse, "copy_into_staging", copy_fails)
    checks = check_target(project, project.pipeline("testpipe"))
    assert [c.name for c in checks if c.status == "FAIL"] == ["load"]
    assert all(c.status == "SKIP" for c in checks if c.name in STEPS[1:])
    assert "COPY refused (simulated)" in next(c.detail for c in checks if c.name == "load")
    assert not _schema_exists(pg_schema)
    assert list(open_store(project, "s3").list("")) == []


def test_the_console_command_prints_one_line_per_check(
    project: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--pipelines-dir", str(project.root), "check-target", "-p", "testpipe"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(out) == 17 and all(line.split()[0] in ("OK", "SKIP") for line in out)


# -- the bucket's region against the cluster's (moto answers GetBucketLocation) -----------------
def _redshift_project(tmp_path: Any, endpoint: str, bucket: str, host: str) -> Any:
    import yaml

    from mysql_redshift_assets.project import load_project

    root = tmp_path / "rs"
    root.mkdir()
    connections = {
        "sources": {"mysql": {"kind": "mysql", "host": "127.0.0.1", "user": "u"}},
        "stores": {"s3": {"kind": "s3", "bucket": bucket, "endpoint_url": endpoint,
                          "region": "us-east-1"}},
        "targets": {"rs": {"kind": "redshift", "host": host, "database": "dw", "user": "u",
                           "iam_role": "default"}},
    }  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = {
        "source": "mysql",
        "store": "s3",
        "target": "rs",
        "tables": {"shop.t": {"mode": "full"}},
    }
    (root / "p.yml").write_text(yaml.safe_dump(pipeline))
    return load_project(root)


@pytest.mark.parametrize(("cluster", "status"), [("us-east-1", "OK"), ("eu-west-1", "FAIL")])
def test_the_bucket_must_be_in_the_clusters_region(
    tmp_path: Any, s3_endpoint: str, s3_bucket: str, cluster: str, status: str
) -> None:
    from mysql_redshift_assets.maintenance.check_target import CheckFailed, bucket_region_check
    from mysql_redshift_assets.maintenance.status import check_pipeline

    host = f"dw.abc123.{cluster}.redshift.amazonaws.com"
    project = _redshift_project(tmp_path, s3_endpoint, s3_bucket, host)
    pipeline = project.pipeline("p")
    if status == "OK":
        assert bucket_region_check(project, pipeline) == (
            "OK",
            f"bucket {s3_bucket} and the cluster are both in us-east-1",
        )
    else:
        with pytest.raises(
            CheckFailed, match=rf"bucket {s3_bucket} is in us-east-1, the cluster in eu-west-1"
        ):
            bucket_region_check(project, pipeline)
    # `status` reports it too (its other checks fail here: no cluster to connect to).
    region = [c for c in check_pipeline(project, pipeline) if c.kind == "region"]
    assert len(region) == 1 and region[0].ok is (status == "OK")


def test_the_dagster_job_runs_the_same_checks(project: Any, pg_schema: str) -> None:
    from mysql_redshift_assets.defs.build import build_definitions

    definitions = build_definitions(project)
    job = definitions.resolve_job_def("check_target_testpipe")
    result = job.execute_in_process(resources={"connections": definitions.resources["connections"]})
    assert result.success
    assert not _schema_exists(pg_schema)
