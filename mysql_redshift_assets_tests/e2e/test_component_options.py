"""The Component's `translation`, `pool`, `op` and `execute`, loaded from a defs.yaml in a
temporary dg project (Dagster's `create_defs_folder_sandbox`), as a user's project loads it.
The `execute` subclass runs in a real in-process materialization over MariaDB and DuckDB."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import dagster as dg
import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.defs.component import MysqlRedshiftComponent
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

if TYPE_CHECKING:  # annotations only: the tests run (and fail) on a tree without them too
    from mysql_redshift_assets.defs.assets import Recorded, TablesOpRun

pytestmark = [pytest.mark.mariadb]


class RecordingComponent(MysqlRedshiftComponent):
    """Wraps each op's work: notes what it was given and what the op yielded."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def execute(self, context: dg.AssetExecutionContext, run: TablesOpRun) -> Iterator[Recorded]:
        call: dict[str, Any] = {
            "tables": [a.table.qualified for a in run.tables],
            "selected": set(context.selected_asset_keys),
            "pool": run.pool,
            "events": [],
        }
        context.log.info("before the tables")
        for event in run.sync():
            call["events"].append(event)
            yield event
        type(self).calls.append(call)


def _load(project_root: Path, attributes: dict[str, Any], component: type = MysqlRedshiftComponent):
    """(component, defs) of a defs.yaml with `attributes`, beside a copy of the pipelines."""
    sandbox_cm = create_defs_folder_sandbox()
    sandbox = sandbox_cm.__enter__()
    defs_path = sandbox.defs_folder_path / "mysql_sync"
    defs_path.mkdir(parents=True)
    shutil.copytree(project_root, defs_path / "pipelines")
    kind = f"{component.__module__}.{component.__qualname__}"
    (defs_path / "defs.yaml").write_text(
        yaml.safe_dump({"type": kind, "attributes": {"pipelines_dir": "pipelines", **attributes}})
    )
    loaded = sandbox.load_component_and_build_defs(defs_path=defs_path)
    return sandbox_cm, loaded


@pytest.fixture
def orders(mysql, mysql_db, make_project):
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), note VARCHAR(20), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, '2024-05-01 10:00:00.5')",
            [(i, f"{i}.10", None if i % 3 else f"n{i}") for i in range(1, 151)],
        )
    mysql.commit()
    project = make_project(
        {f"{mysql_db}.orders": {"cursor": "updated_at"}}, store="local", file_rows=60
    )
    return project, f"{mysql_db}.orders"


TRANSLATION = {
    "translation": {
        "owners": ["team:data"],
        "tags": {"layer": "{{ layer }}", "source_schema": "{{ table.source_schema }}"},
        "group_name": "{{ table.pipeline }}_{{ layer }}",
    },
    "pool": "mysql-all",
    "op": {"tags": {"team": "data"}},
    "pipelines": {
        "testpipe": {
            "key_prefix": ["finance"],
            "translation": {
                "owners": ["alice@example.com"],
                "automation_condition": "{{ dg.AutomationCondition.on_cron('0 * * * *') }}",
            },
            "op": {"name": "orders_sync", "tags": {"tier": "1"}, "pool": "mysql-orders"},
        }
    },
}


def test_translation_pool_and_op_tags_from_yaml(orders):
    project, table = orders
    db = table.split(".")[0]
    sandbox, loaded = _load(project.root, TRANSLATION)
    with loaded as (component, defs):
        assert isinstance(component, MysqlRedshiftComponent)
        parquet_key = dg.AssetKey(["finance", "testpipe", db, "orders"])  # the pipeline's prefix
        parquet = defs.resolve_assets_def(parquet_key)
        warehouse_key = dg.AssetKey(["finance", "public", "orders"])
        specs = {s.key: s for s in parquet.specs}
        p, w = specs[parquet_key], specs[warehouse_key]
        assert p.group_name == "testpipe_parquet" and w.group_name == "testpipe_redshift"
        # The pipeline's translation after the component's: owners replaced, tags merged.
        assert p.owners == ["alice@example.com"]
        assert p.tags["layer"] == "parquet" and w.tags["layer"] == "redshift"
        assert p.tags["source_schema"] == db and p.tags["pipeline"] == "testpipe"
        cron = dg.AutomationCondition.on_cron("0 * * * *")
        assert w.automation_condition == cron and p.automation_condition == cron
        assert w.deps and next(iter(w.deps)).asset_key == p.key  # what the op relies on, kept
        op = parquet.node_def
        assert op.name == "orders_sync"
        assert op.pool == "mysql-orders"  # the pipeline's op pool over the component's pool
        assert op.tags["team"] == "data" and op.tags["tier"] == "1"
        assert op.tags["mysql_redshift/pipeline"] == "testpipe"
    sandbox.__exit__(None, None, None)

    # Without the pipeline's own attributes: the component's pool and translation.
    attributes = {k: v for k, v in TRANSLATION.items() if k != "pipelines"}
    sandbox, loaded = _load(project.root, attributes)
    with loaded as (_, defs):
        parquet = defs.resolve_assets_def(dg.AssetKey(["testpipe", db, "orders"]))
        assert parquet.node_def.pool == "mysql-all"
        assert parquet.node_def.name == "testpipe_tables"
        assert {s.key: s.owners for s in parquet.specs}[dg.AssetKey(["public", "orders"])] == [
            "team:data"
        ]
        # The warehouse asset keeps its default condition (eager) when none is given.
        w = {s.key: s for s in parquet.specs}[dg.AssetKey(["public", "orders"])]
        assert w.automation_condition == dg.AutomationCondition.eager()
    sandbox.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"translation": {"key": "elsewhere"}}, "translation.key: not settable by a translation"),
        ({"pipelines": {"nope": {"pool": "p"}}}, "pipelines.nope: no such pipeline"),
        ({"op": {"name": "x"}}, "op.name: give it per pipeline"),
        ({"op": {"description": "x"}}, "op.description: not supported"),
    ],
)
def test_bad_component_input_is_one_clear_error(orders, attributes, message):
    project, _ = orders
    sandbox, loaded = _load(project.root, attributes)
    try:
        with pytest.raises(Exception) as raised, loaded:
            pass
        assert message in str(raised.value) + "".join(str(e) for e in _chain(raised.value)), (
            raised.value
        )
    finally:
        sandbox.__exit__(None, None, None)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        yield exc


def test_a_subclass_execute_runs_in_a_real_materialization(orders, mysql, tmp_path):
    project, table = orders
    db = table.split(".")[0]
    RecordingComponent.calls.clear()
    sandbox, loaded = _load(project.root, {}, RecordingComponent)
    with loaded as (_, defs):
        keys = [dg.AssetKey(["testpipe", db, "orders"]), dg.AssetKey(["public", "orders"])]
        job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(keys))
        (tmp_path / "home").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
            assert result.success
            logs = [e.user_message for e in instance.all_logs(result.run_id)]
    sandbox.__exit__(None, None, None)
    assert "before the tables" in logs
    (call,) = RecordingComponent.calls
    assert call["tables"] == [table] and call["selected"] == set(keys)
    assert call["pool"] == "mysql-mysql"  # the default pool, mysql-<source>
    materialized = [e.asset_key for e in call["events"] if isinstance(e, dg.AssetMaterialization)]
    assert materialized == keys
    sync = Sync(project, table_config(project.pipeline("testpipe"), table))
    assert_same_rows(mysql, sync, ["id", "amount", "note", "updated_at"], ["id"])
