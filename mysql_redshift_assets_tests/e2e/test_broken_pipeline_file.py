"""One broken pipeline file breaks that pipeline only (issue 18).

A healthy pipeline beside three broken files (bad YAML, unknown keys, unknown connections):
the healthy one loads and runs in the code location and the CLI; every error of every broken
file is reported by `validate-config`, `status` and the UI (a failed asset check).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.defs.config_errors import CHECK_NAME, SENSOR_NAME, error_asset_key
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.project import load_project

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

BROKEN = {
    "bad_yaml": "source: mysql\nstore: local\ntables:\n  shop.a: {cursor: [x\n",
    "bad_keys": {
        "source": "mysql", "store": "local", "target": "duckdb", "chunk_size": 10,
        "tables": {"shop.orders": {"cursor": "updated_at", "curser": "x"}},
    },
    "bad_refs": {
        "source": "nowhere", "store": "local", "target": "no_target",
        "tables": {"shop.orders": {"cursor": "updated_at"}},
    },
}  # fmt: skip
# Every error of every broken file, as the user reads it (file: where: what).
EXPECTED = [
    "bad_yaml.yml: not valid YAML (line 5",
    "bad_keys.yml: key chunk_size: unknown key (not allowed here)",
    "bad_keys.yml: table shop.orders, key curser: unknown key (not allowed here)",
    "bad_refs.yml: key source: no source 'nowhere'",
    "bad_refs.yml: key target: no target 'no_target'",
]


@pytest.fixture
def folder(mysql, mysql_db, make_project, tmp_path):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, updated_at DATETIME(6) NOT NULL, "
            "KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, '2024-05-01 10:00:00')", [(i,) for i in range(1, 51)]
        )
    project = make_project({f"{mysql_db}.orders": {"cursor": "updated_at"}}, store="local")
    for name, body in BROKEN.items():
        text = body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False)
        (project.root / f"{name}.yml").write_text(text)
    return project.root, f"{mysql_db}.orders"


def _cli(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    env = {**os.environ, "MYSQL_REDSHIFT_PIPELINES_DIR": str(root), "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", *args],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_loading_reports_every_error_of_every_broken_file(folder) -> None:
    root, _ = folder
    with pytest.raises(ConfigError) as err:
        load_project(root)
    for expected in EXPECTED:
        assert expected in str(err.value)

    project = load_project(root, keep_going=True)
    assert set(project.pipelines) == {"testpipe"}
    assert set(project.broken) == set(BROKEN)
    everything = "\n".join(project.broken.values())
    for expected in EXPECTED:
        assert expected in everything
    with pytest.raises(ConfigError, match="(?s)pipeline .bad_keys. has errors:\n.*chunk_size"):
        project.pipeline("bad_keys")


def test_the_code_location_loads_the_healthy_pipeline_and_shows_the_broken_red(
    folder, monkeypatch, tmp_path
) -> None:
    root, _ = folder
    monkeypatch.setenv("MYSQL_REDSHIFT_PIPELINES_DIR", str(root))
    from mysql_redshift_assets.definitions import defs as load_defs

    defs = load_defs()
    project = load_project(root, keep_going=True)
    table = table_configs(project.pipeline("testpipe"))[0]
    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert {asset_key(table, "parquet"), asset_key(table, "redshift")} <= keys
    assert {error_asset_key(name) for name in BROKEN} <= keys
    spec = defs.resolve_assets_def(error_asset_key("bad_keys")).specs_by_key[
        error_asset_key("bad_keys")
    ]
    assert "curser" in (spec.description or "") and "chunk_size" in (spec.description or "")

    # The sensor records each broken file's check as failed, with all of its errors.
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    evaluations = {e.asset_key: e for e in result.asset_events}
    assert set(evaluations) == {error_asset_key(name) for name in BROKEN}
    for evaluation in evaluations.values():
        assert evaluation.check_name == CHECK_NAME and not evaluation.passed
    refs = evaluations[error_asset_key("bad_refs")].metadata["errors"].value
    assert "no source 'nowhere'" in refs and "no target 'no_target'" in refs
    again = sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, definitions=defs, cursor=result.cursor)
    )
    assert not again.asset_events  # reported once per set of errors

    # The healthy pipeline runs in that very code location.
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={asset_key(table, "parquet"), asset_key(table, "redshift")},
        asset_check_selection=set(),
    )
    assert job.execute_in_process(instance=instance, raise_on_error=False).success
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        assert con.execute('SELECT COUNT(*) FROM "wh"."public"."orders"').fetchone() == (50,)


def test_the_cli_lists_every_error_and_runs_the_healthy_pipeline(folder, tmp_path) -> None:
    root, table = folder
    home = tmp_path / "home"
    checked = _cli(root, home, "validate-config")
    assert checked.returncode == 1, checked.stderr
    for expected in EXPECTED:
        assert expected in checked.stdout
    assert "pipeline testpipe: ok (1 table(s))" in checked.stdout
    report = json.loads(_cli(root, home, "validate-config", "--json").stdout)
    assert {p["pipeline"]: p["ok"] for p in report["pipelines"]} == {
        "testpipe": True, "bad_yaml": False, "bad_keys": False, "bad_refs": False,
    }  # fmt: skip

    status = _cli(root, home, "status")
    assert status.returncode == 1
    for expected in EXPECTED:
        assert expected in status.stdout
    assert "FAIL config  2 error(s) in bad_keys.yml, not loaded:" in status.stdout
    assert "pipeline testpipe:" in status.stdout and "ok   source" in status.stdout

    synced = _cli(root, home, "sync", "-p", "testpipe", "-t", table)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "50 rows extracted" in synced.stdout
    assert "warning: pipeline file(s) with errors, not loaded: bad_keys.yml" in synced.stderr
    asked = _cli(root, home, "status", "-p", "bad_refs")
    assert asked.returncode == 1 and "no target 'no_target'" in asked.stdout
