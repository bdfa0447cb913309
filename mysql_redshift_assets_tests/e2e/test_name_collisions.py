"""A name collision breaks the pipelines that hold it, no other (issue 22, defect 4).

Beside a healthy pipeline: a file with `订单` and `客户` (both became `__`, and the collision
stopped `sync` of every pipeline, `validate-config` showed only it, the code location did not
load), a file whose two tables share a warehouse table, and two files that load one table into
one target table. The Chinese pipeline is healthy now; the colliding files are reported like
any broken file; everything else loads, syncs and shows in Dagster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.defs.config_errors import CHECK_NAME, SENSOR_NAME, error_asset_key
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.project import load_project

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

COLLIDING = {"clash", "left", "right"}


def _file(root: Path, name: str, tables: dict[str, dict[str, object]]) -> None:
    spec = {"source": "mysql", "store": "local", "target": "duckdb", "tables": tables}
    (root / f"{name}.yml").write_text(yaml.safe_dump(spec, allow_unicode=True))


@pytest.fixture
def folder(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, v INT)")
        cur.executemany("INSERT INTO orders VALUES (%s, %s)", [(i, i) for i in range(1, 41)])
        cur.execute("CREATE TABLE `订单` (id INT PRIMARY KEY, `金额` DECIMAL(10,2))")
        cur.execute("CREATE TABLE `客户` (id INT PRIMARY KEY, `名字` VARCHAR(20))")
        cur.execute("INSERT INTO `订单` VALUES (1, 1.5), (2, 2.5)")
        cur.execute("INSERT INTO `客户` VALUES (1, '张三')")
    project = make_project({f"{mysql_db}.orders": {"append_only": True}}, store="local")
    root = project.root
    _file(
        root,
        "chinese",
        {f"{mysql_db}.订单": {"mode": "full"}, f"{mysql_db}.客户": {"mode": "full"}},
    )
    _file(
        root,
        "clash",
        {f"{mysql_db}.Items": {"mode": "full"}, f"{mysql_db}.items": {"mode": "full"}},
    )
    for name in ("left", "right"):  # one table into one target table, from two files
        _file(root, name, {f"{mysql_db}.shared": {"mode": "full"}})
    return root, mysql_db


def _cli(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    env = {**os.environ, "MYSQL_REDSHIFT_PIPELINES_DIR": str(root), "DAGSTER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", *args],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_load_project_breaks_the_colliding_pipelines_only(folder) -> None:
    root, db = folder
    with pytest.raises(ConfigError, match="both become warehouse table"):
        load_project(root)
    project = load_project(root, keep_going=True)
    assert set(project.pipelines) == {"testpipe", "chinese"}
    assert set(project.broken) == COLLIDING
    clash = project.broken["clash"]
    assert f"table {db}.Items ({root / 'clash.yml'})" in clash
    assert f"table {db}.items ({root / 'clash.yml'})" in clash
    assert "target_table" in clash  # the fix
    for name in ("left", "right"):
        assert str(root / "left.yml") in project.broken[name]
        assert str(root / "right.yml") in project.broken[name]


def test_the_cli_reports_the_collisions_and_syncs_the_others(folder, tmp_path) -> None:
    root, db = folder
    home = tmp_path / "home"
    checked = _cli(root, home, "validate-config")
    assert checked.returncode == 1, checked.stderr
    assert "pipeline testpipe: ok (1 table(s))" in checked.stdout
    assert "pipeline chinese: ok (2 table(s))" in checked.stdout
    assert f"{db}.Items" in checked.stdout and "target_table" in checked.stdout
    report = json.loads(_cli(root, home, "validate-config", "--json").stdout)
    assert {p["pipeline"]: p["ok"] for p in report["pipelines"]} == {
        "testpipe": True, "chinese": True, "clash": False, "left": False, "right": False,
    }  # fmt: skip

    status = _cli(root, home, "status")
    assert status.returncode == 1
    assert "FAIL config" in status.stdout and f"{db}.Items" in status.stdout
    assert "pipeline testpipe:" in status.stdout

    synced = _cli(root, home, "sync", "-p", "testpipe")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "40 rows extracted" in synced.stdout
    assert "warning: pipeline file(s) with errors, not loaded:" in synced.stderr
    chinese = _cli(root, home, "sync", "-p", "chinese")
    assert chinese.returncode == 0, chinese.stdout + chinese.stderr
    refused = _cli(root, home, "sync", "-p", "clash")
    assert refused.returncode != 0 and f"{db}.Items" in refused.stdout + refused.stderr


def test_the_code_location_loads_beside_the_collisions(folder, monkeypatch) -> None:
    root, _ = folder
    monkeypatch.setenv("MYSQL_REDSHIFT_PIPELINES_DIR", str(root))
    from mysql_redshift_assets.definitions import defs as load_defs

    defs = load_defs()  # raised ConfigError: the whole location failed to load
    project = load_project(root, keep_going=True)
    keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    for name in ("testpipe", "chinese"):
        for table in table_configs(project.pipeline(name)):
            assert {asset_key(table, "parquet"), asset_key(table, "redshift")} <= keys
    assert {error_asset_key(name) for name in COLLIDING} <= keys
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
    evaluations = {e.asset_key: e for e in result.asset_events}
    assert set(evaluations) == {error_asset_key(name) for name in COLLIDING}
    clash = evaluations[error_asset_key("clash")]
    assert clash.check_name == CHECK_NAME and not clash.passed
    assert "target_table" in clash.metadata["errors"].value
