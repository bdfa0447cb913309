"""The YAML contract: every mistake names the file, the table and the key; secrets never leak."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mysql_redshift_assets.config.env import interpolate, resolve_env
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import PIPELINES_DIR_ENV, default_pipelines_dir
from mysql_redshift_assets.config.pipelines import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_FILE_ROWS,
    DEFAULT_UPPER_BOUND_LAG_SECONDS,
    SortKeySpec,
)
from mysql_redshift_assets.config.resolve import table_config, table_configs
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.project import load_project

REPO_PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
LITERAL_PASSWORD = "literal-pw-9f83b2"

CONNECTIONS: dict[str, Any] = {
    "sources": {
        "db": {
            "kind": "mysql",
            "host": "${CFG_TEST_DB_HOST:-db.internal}",
            "user": "etl",
            "password": "${CFG_TEST_DB_PASSWORD}",
        },
        "plain": {"kind": "mysql", "host": "h", "user": "u", "password": LITERAL_PASSWORD},
    },
    "stores": {
        "files": {"kind": "local", "path": "./store"},
        "bucket": {
            "kind": "s3",
            "bucket": "b",
            "aws_access_key_id": "${CFG_TEST_KEY_ID}",
            "aws_secret_access_key": "${CFG_TEST_SECRET_KEY}",
        },
    },
    "targets": {
        "wh": {"kind": "duckdb", "path": "./wh.duckdb"},
        "rs": {
            "kind": "redshift",
            "host": "rs.internal",
            "region": "us-east-1",
            "database": "dw",
            "user": "loader",
            "password": LITERAL_PASSWORD,
        },
    },
}

PIPELINE: dict[str, Any] = {
    "source": "db",
    "store": "files",
    "target": "wh",
    "tables": {"shop.orders": {"cursor": "updated_at"}},
}


def write_folder(
    root: Path,
    pipelines: dict[str, dict[str, Any] | str],
    connections: dict[str, Any] | str = CONNECTIONS,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, body in {"connections": connections, **pipelines}.items():
        text = body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False)
        (root / f"{name}.yml").write_text(text)
    return root


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        PIPELINES_DIR_ENV,
        "CFG_TEST_DB_HOST",
        "CFG_TEST_DB_PASSWORD",
        "CFG_TEST_KEY_ID",
        "CFG_TEST_SECRET_KEY",
    ):
        monkeypatch.delenv(var, raising=False)


# -- YAML and schema errors ------------------------------------------------------------------
def test_broken_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    text = (
        "source: db\nstore: files\ntarget: wh\ntables:\n  shop.orders:\n    cursor: [updated_at\n"
    )
    root = write_folder(tmp_path / "p", {"shop": text})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert str(root / "shop.yml") in message
    assert "not valid YAML" in message
    assert "line 7" in message  # the list is still open at the end of the file


def test_bad_indentation_names_the_offending_line(tmp_path: Path) -> None:
    text = "source: db\nstore: files\ntarget: wh\ntables:\n  shop.orders:\n    cursor: u\n   mode: full\n"
    root = write_folder(tmp_path / "p", {"shop": text})
    with pytest.raises(ConfigError, match=r"shop\.yml: not valid YAML \(line 7, column 4\)"):
        load_project(root)


def test_broken_connections_yaml_names_that_file(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "p", {"shop": PIPELINE}, connections="sources: {db: [\n")
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert str(root / "connections.yml") in str(err.value) and "line" in str(err.value)


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "p", {"shop": "- just\n- a list\n"})
    with pytest.raises(ConfigError, match=r"shop\.yml: expected a mapping at the top level"):
        load_project(root)


def test_unknown_key_at_pipeline_level(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "chunk_size": 10}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert str(err.value) == f"{root / 'shop.yml'}: key chunk_size: unknown key (not allowed here)"


def test_unknown_key_at_table_level(tmp_path: Path) -> None:
    tables = {
        "shop.orders": {"cursor": "updated_at", "curser": "x"},
        "shop.items": {"append_only": True},
    }
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert str(err.value) == (
        f"{root / 'shop.yml'}: table shop.orders, key curser: unknown key (not allowed here)"
    )


def test_wrong_type_names_the_key(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "chunk_rows": "lots"}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert message.startswith(f"{root / 'shop.yml'}: key chunk_rows: ")
    assert "integer" in message


def test_wrong_type_at_table_level_names_the_table(tmp_path: Path) -> None:
    tables = {"shop.orders": {"file_rows": "lots"}}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}})
    with pytest.raises(
        ConfigError, match=r"shop\.yml: table shop\.orders, key file_rows: .*integer"
    ):
        load_project(root)


def test_out_of_range_and_bad_mode_are_refused(tmp_path: Path) -> None:
    tables = {"shop.orders": {"chunk_rows": 0, "mode": "sometimes"}}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    lines = str(err.value).splitlines()
    assert any("table shop.orders, key chunk_rows:" in line for line in lines)
    assert any("table shop.orders, key mode:" in line for line in lines)


def test_table_name_must_be_schema_dot_table(tmp_path: Path) -> None:
    root = write_folder(
        tmp_path / "p", {"shop": {**PIPELINE, "tables": {"orders": {"append_only": True}}}}
    )
    with pytest.raises(ConfigError, match=r"shop\.yml: key tables: .*<mysql_schema>\.<table>"):
        load_project(root)


def test_unknown_key_in_connections_names_the_connection(tmp_path: Path) -> None:
    connections = {**CONNECTIONS, "stores": {"files": {"kind": "local", "path": ".", "bukket": 1}}}
    root = write_folder(tmp_path / "p", {}, connections=connections)
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert str(root / "connections.yml") in message
    assert "stores.files.bukket" in message and "unknown key" in message


def test_missing_connection_key_names_the_connection(tmp_path: Path) -> None:
    connections = {"sources": {"db": {"kind": "mysql", "user": "u"}}}
    root = write_folder(tmp_path / "p", {}, connections=connections)
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert str(err.value) == f"{root / 'connections.yml'}: key sources.db.host: Field required"


def test_unknown_kind_names_the_connection_even_when_named_like_a_kind(tmp_path: Path) -> None:
    connections = {"sources": {"mysql": {"kind": "mysqll", "host": "h", "user": "u"}}}
    root = write_folder(tmp_path / "p", {}, connections=connections)
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert message.startswith(f"{root / 'connections.yml'}: key sources.mysql: ")
    assert "'mysqll'" in message and "'demo'" in message


def test_wrongly_typed_secret_is_not_echoed(tmp_path: Path) -> None:
    connections = {**CONNECTIONS, "sources": {"db": {**CONNECTIONS["sources"]["plain"]}}}
    connections["sources"]["db"]["password"] = [LITERAL_PASSWORD]
    root = write_folder(tmp_path / "p", {}, connections=connections)
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert "sources.db.password" in str(err.value)
    assert LITERAL_PASSWORD not in str(err.value)


@pytest.mark.parametrize("key", ["source", "store", "target"])
def test_pipeline_naming_an_unknown_connection(tmp_path: Path, key: str) -> None:
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, key: "nowhere"}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert message.startswith(f"{root / 'shop.yml'}: key {key}: no {key} 'nowhere'")
    assert str(root / "connections.yml") in message
    known = sorted(CONNECTIONS[key + "s"])
    assert f"({key}s: {', '.join(known)})" in message


def test_unknown_pipeline_lists_the_known_ones(tmp_path: Path) -> None:
    billing = {**PIPELINE, "target_schema": "billing"}  # one target, one schema: a collision
    root = write_folder(tmp_path / "p", {"shop": PIPELINE, "billing": billing})
    project = load_project(root)
    with pytest.raises(ConfigError) as err:
        project.pipeline("shpo")
    assert str(root) in str(err.value)
    assert "'shpo'" in str(err.value) and "pipelines: billing, shop" in str(err.value)


def test_unknown_table_lists_the_known_ones(tmp_path: Path) -> None:
    tables = {"shop.orders": {"append_only": True}, "shop.items": {"append_only": True}}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}})
    pipeline = load_project(root).pipeline("shop")
    with pytest.raises(ConfigError) as err:
        table_config(pipeline, "shop.order")
    message = str(err.value)
    assert str(root / "shop.yml") in message
    assert "'shop.order'" in message and "tables: shop.items, shop.orders" in message


# -- effective settings ------------------------------------------------------------------------
def test_batch_sizes_table_over_pipeline_over_default(tmp_path: Path) -> None:
    tables = {
        "shop.own": {
            "chunk_rows": 7,
            "file_rows": 70,
            "upper_bound_lag_seconds": 0,
            "append_only": True,
        },
        "shop.inherits": {"append_only": True},
    }
    pipelines = {
        "withdefaults": {**PIPELINE, "tables": tables},
        "withpipeline": {
            **PIPELINE,
            "target_schema": "other",  # the same tables into one schema would collide
            "chunk_rows": 300,
            "file_rows": 3000,
            "upper_bound_lag_seconds": 60,
            "tables": tables,
        },
    }
    project = load_project(write_folder(tmp_path / "p", pipelines))

    def sizes(pipeline: str, table: str) -> tuple[int, int, int]:
        c = table_config(project.pipeline(pipeline), table)
        return c.chunk_rows, c.file_rows, c.upper_bound_lag_seconds

    assert sizes("withdefaults", "shop.own") == (7, 70, 0)
    assert sizes("withpipeline", "shop.own") == (7, 70, 0)
    assert sizes("withpipeline", "shop.inherits") == (300, 3000, 60)
    assert sizes("withdefaults", "shop.inherits") == (
        DEFAULT_CHUNK_ROWS,
        DEFAULT_FILE_ROWS,
        DEFAULT_UPPER_BOUND_LAG_SECONDS,
    )


def test_table_settings_resolve_names_and_schema(tmp_path: Path) -> None:
    tables = {
        "shop.orders": {
            "primary_key": "id",
            "target_schema": "sales",
            "max_rows": 5,
            "append_only": True,
        },
        "shop.items": {"primary_key": ["order_id", "line"], "mode": "full"},
    }
    spec = {**PIPELINE, "target_schema": "dw", "store_prefix": "x/y", "tables": tables}
    pipeline = load_project(write_folder(tmp_path / "p", {"shop": spec})).pipeline("shop")
    orders, items = table_configs(pipeline)
    assert (orders.qualified, orders.primary_key, orders.target_schema) == (
        "shop.orders",
        ("id",),
        "sales",
    )
    assert (orders.max_rows, orders.mode, orders.cursor) == (5, "incremental", None)
    assert (items.primary_key, items.target_schema, items.mode) == (
        ("order_id", "line"),
        "dw",
        "full",
    )
    assert items.store_prefix == "x/y" and items.config_file == str(pipeline.path)
    assert orders.error("cursor", "boom") == f"{pipeline.path}: table shop.orders, key cursor: boom"


def test_sortkey_in_the_three_forms(tmp_path: Path) -> None:
    tables = {
        "s.as_dict": {
            "sortkey": {"type": "interleaved", "columns": ["a", "b"]},
            "append_only": True,
        },
        "s.as_dict_default_type": {"sortkey": {"columns": ["a"]}, "append_only": True},
        "s.as_list": {"sortkey": ["b", "a"], "append_only": True},
        "s.as_string": {"sortkey": "c", "append_only": True},
        "s.none": {"append_only": True},
    }
    pipeline = load_project(
        write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}})
    ).pipeline("shop")
    got = {c.qualified: c.sortkey for c in table_configs(pipeline)}
    assert got == {
        "s.as_dict": SortKeySpec(type="interleaved", columns=["a", "b"]),
        "s.as_dict_default_type": SortKeySpec(type="compound", columns=["a"]),
        "s.as_list": SortKeySpec(type="compound", columns=["b", "a"]),
        "s.as_string": SortKeySpec(type="compound", columns=["c"]),
        "s.none": None,
    }


def test_sortkey_dict_with_unknown_type_is_refused(tmp_path: Path) -> None:
    tables = {"s.t": {"sortkey": {"type": "zigzag", "columns": ["a"]}, "append_only": True}}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}})
    with pytest.raises(ConfigError, match=r"shop\.yml: table s\.t, key sortkey"):
        load_project(root)


# -- where the pipelines folder is ---------------------------------------------------------------
def test_pipelines_dir_env_points_loading_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_folder(tmp_path / "elsewhere", {"only_here": PIPELINE})
    monkeypatch.setenv(PIPELINES_DIR_ENV, str(root))
    assert default_pipelines_dir() == root.resolve()
    project = load_project()
    assert project.root == root.resolve()
    assert sorted(project.pipelines) == ["only_here"]


def test_default_pipelines_dir_is_pipelines_in_the_working_directory(tmp_path: Path) -> None:
    # One rule whatever the install (issue 18): ./pipelines, never the package's folder.
    assert default_pipelines_dir({}, cwd=tmp_path) == tmp_path / "pipelines"
    assert default_pipelines_dir({PIPELINES_DIR_ENV: ""}, cwd=tmp_path) == tmp_path / "pipelines"
    assert default_pipelines_dir({}, cwd=REPO_PIPELINES.parent) == REPO_PIPELINES


def test_missing_pipelines_folder_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_project(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(err.value) and PIPELINES_DIR_ENV in str(err.value)


def test_missing_connections_file(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "shop.yml").write_text(yaml.safe_dump(PIPELINE))
    with pytest.raises(ConfigError, match=r"connections\.yml: file not found"):
        load_project(root)


def test_relative_paths_are_relative_to_the_pipelines_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_folder(tmp_path / "p", {"shop": PIPELINE})
    monkeypatch.chdir(tmp_path)
    project = load_project(root)
    store = open_store(project, "files")
    assert store.root == (root / "store").resolve()  # type: ignore[attr-defined]


def test_the_shipped_pipelines_folder_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    project = load_project()
    assert project.root == REPO_PIPELINES
    assert set(project.pipelines) == {"demo"}  # the production example lives in examples/
    demo = {c.qualified: c for c in table_configs(project.pipeline("demo"))}
    assert demo["shop.orders"].file_rows == 800 and demo["shop.customers"].file_rows == 1000
    assert demo["shop.products"].mode == "full"
    project = load_project(REPO_PIPELINES.parent / "examples")
    settlement = {c.qualified: c for c in table_configs(project.pipeline("settlement"))}
    assert settlement["settlement.settle_orders"].sortkey == SortKeySpec(
        type="compound", columns=["created_at", "tracking_number"]
    )
    assert settlement["settlement.settle_orders"].primary_key == ("id",)
    assert settlement["settlement.carrier_rates"].sortkey == SortKeySpec(columns=["carrier_code"])
    # A missing secret never breaks loading; it fails only when the connection is opened.
    monkeypatch.delenv("DB_US_DW_RO_PASSWORD", raising=False)
    with pytest.raises(ConfigError) as err:
        open_source(project, "us_dw_ro")
    assert "sources.us_dw_ro.password" in str(err.value)
    assert "DB_US_DW_RO_PASSWORD" in str(err.value)


# -- ${ENV} interpolation ------------------------------------------------------------------------
def test_env_default_used_only_when_unset() -> None:
    assert interpolate("${CFG_TEST_DB_HOST:-db.internal}", where="w", environ={}) == "db.internal"
    assert (
        interpolate(
            "${CFG_TEST_DB_HOST:-db.internal}", where="w", environ={"CFG_TEST_DB_HOST": "x"}
        )
        == "x"
    )
    arn = "${ROLE:-arn:aws:iam::123456789012:role/copy}"
    assert interpolate(arn, where="w", environ={}) == "arn:aws:iam::123456789012:role/copy"
    assert interpolate("${EMPTY:-}", where="w", environ={}) == ""
    assert interpolate("pre-${A}-${B:-b}-post", where="w", environ={"A": "a"}) == "pre-a-b-post"
    assert interpolate("no vars, $HOME stays", where="w", environ={}) == "no vars, $HOME stays"


def test_env_defaults_when_a_connection_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project(write_folder(tmp_path / "p", {"shop": PIPELINE}))
    monkeypatch.setenv("CFG_TEST_DB_PASSWORD", "pw-from-env")
    source = open_source(project, "db")
    assert source._params["host"] == "db.internal"  # type: ignore[attr-defined]
    assert source._params["password"] == "pw-from-env"  # type: ignore[attr-defined]
    monkeypatch.setenv("CFG_TEST_DB_HOST", "db.override")
    assert open_source(project, "db")._params["host"] == "db.override"  # type: ignore[attr-defined]
    assert "pw-from-env" not in repr(source)


def test_missing_env_var_names_the_connection_and_the_variable(tmp_path: Path) -> None:
    project = load_project(write_folder(tmp_path / "p", {"shop": PIPELINE}))
    with pytest.raises(ConfigError) as err:
        open_source(project, "db")
    message = str(err.value)
    assert str(project.connections_path) in message
    assert "sources.db.password" in message
    assert "environment variable CFG_TEST_DB_PASSWORD is not set" in message


def test_missing_env_var_error_never_shows_other_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project(write_folder(tmp_path / "p", {"shop": PIPELINE}))
    monkeypatch.setenv("CFG_TEST_KEY_ID", "AKIA-VISIBLE-NOWHERE-123")
    with pytest.raises(ConfigError) as err:
        open_store(project, "bucket")
    message = str(err.value)
    assert "stores.bucket.aws_secret_access_key" in message
    assert "CFG_TEST_SECRET_KEY" in message
    assert "AKIA-VISIBLE-NOWHERE-123" not in message
    assert "CFG_TEST_KEY_ID" not in message


def test_resolve_env_with_explicit_environ() -> None:
    examples = REPO_PIPELINES.parent / "examples"
    project_free = load_project(examples).connections.sources["us_dw_ro"]
    resolved = resolve_env(
        project_free, where="c.yml: sources.x", environ={"DB_US_DW_RO_PASSWORD": "s"}
    )
    assert resolved.password.get_secret_value() == "s"  # type: ignore[union-attr]
    assert resolved.host == "127.0.0.1" and resolved.user == "etl_ro"  # type: ignore[union-attr]
    assert "'s'" not in repr(resolved)
    with pytest.raises(ConfigError, match=r"^c\.yml: sources\.x\.password: .*DB_US_DW_RO_PASSWORD"):
        resolve_env(project_free, where="c.yml: sources.x", environ={})


# -- secrets never in repr ---------------------------------------------------------------------
def test_repr_of_loaded_connections_hides_passwords(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project(write_folder(tmp_path / "p", {"shop": PIPELINE}))
    assert project.connections.sources["plain"].password.get_secret_value() == LITERAL_PASSWORD  # type: ignore[union-attr]
    for text in (repr(project.connections), str(project.connections), repr(project)):
        assert LITERAL_PASSWORD not in text
    assert LITERAL_PASSWORD not in project.connections.model_dump_json()
    monkeypatch.setenv("CFG_TEST_KEY_ID", "key-id-value-77")
    monkeypatch.setenv("CFG_TEST_SECRET_KEY", "secret-key-value-88")
    resolved = resolve_env(project.connections.stores["bucket"], where="x")
    assert "secret-key-value-88" not in repr(resolved)
    assert "secret-key-value-88" not in repr(open_store(project, "bucket"))
    assert LITERAL_PASSWORD not in repr(open_source(project, "plain"))
    warehouse = open_warehouse(project, "rs")
    assert LITERAL_PASSWORD not in repr(warehouse) and LITERAL_PASSWORD not in str(vars(warehouse))


def test_default_applies_when_the_variable_is_set_but_empty():
    from mysql_redshift_assets.config.env import interpolate

    assert interpolate("${MRA_X:-fallback}", where="w", environ={"MRA_X": ""}) == "fallback"
    assert interpolate("${MRA_X:-fallback}", where="w", environ={"MRA_X": "set"}) == "set"
    assert interpolate("${MRA_X}", where="w", environ={"MRA_X": ""}) == ""


def test_duckdb_memory_limit_defaults_to_1gb_and_is_checked(tmp_path: Path) -> None:
    from mysql_redshift_assets.load.duckdb import DuckDBWarehouse

    project = load_project(write_folder(tmp_path / "p", {"shop": PIPELINE}))
    warehouse = open_warehouse(project, "wh")
    assert isinstance(warehouse, DuckDBWarehouse) and warehouse.memory_limit == "1GB"

    targets = {**CONNECTIONS["targets"], "wh": {"kind": "duckdb", "path": "./wh.duckdb"}}
    targets["wh"]["memory_limit"] = None  # DuckDB's own default
    root = write_folder(tmp_path / "q", {"shop": PIPELINE}, {**CONNECTIONS, "targets": targets})
    assert open_warehouse(load_project(root), "wh").memory_limit is None  # type: ignore[attr-defined]

    targets["wh"]["memory_limit"] = "lots"
    root = write_folder(tmp_path / "r", {"shop": PIPELINE}, {**CONNECTIONS, "targets": targets})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    assert "targets.wh.memory_limit" in str(err.value)


def test_an_incremental_table_needs_a_cursor_or_append_only(tmp_path: Path) -> None:
    tables = {"shop.orders": {"primary_key": "id"}}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert message.startswith(f"{root / 'shop.yml'}: table shop.orders:")
    assert "`cursor: <column>`" in message and "`append_only: true`" in message
    assert "updates are then never captured" in message


def test_late_commit_and_zone_settings_resolve_table_over_pipeline(tmp_path: Path) -> None:
    tables = {
        "shop.orders": {"cursor": "updated_at", "cursor_fallback": "created_at",
                        "time_zone": "America/New_York", "late_commit_window_seconds": 60},
        "shop.log": {"append_only": True},
    }  # fmt: skip
    pipeline = {**PIPELINE, "late_commit_window_seconds": 300, "tables": tables}
    connections = {**CONNECTIONS, "sources": {**CONNECTIONS["sources"]}}
    connections["sources"]["db"] = {**CONNECTIONS["sources"]["db"], "time_zone": "Asia/Shanghai"}
    project = load_project(write_folder(tmp_path / "p", {"shop": pipeline}, connections))
    orders, log = table_configs(project.pipeline("shop"))
    assert (orders.late_commit_window_seconds, log.late_commit_window_seconds) == (60, 300)
    assert (orders.time_zone, log.time_zone, log.append_only) == ("America/New_York", None, True)
    assert orders.cursor_fallback == "created_at"
    assert project.connections.sources["db"].time_zone == "Asia/Shanghai"


@pytest.mark.parametrize("where", ["table", "source"])
def test_an_unknown_time_zone_is_a_config_error(tmp_path: Path, where: str) -> None:
    connections = {**CONNECTIONS, "sources": {**CONNECTIONS["sources"]}}
    tables: dict[str, Any] = {"shop.orders": {"cursor": "updated_at"}}
    if where == "table":
        tables["shop.orders"]["time_zone"] = "Mars/Olympus_Mons"
    else:
        connections["sources"]["db"] = {**CONNECTIONS["sources"]["db"], "time_zone": "CEST+2"}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": tables}}, connections)
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    if where == "table":
        assert message.startswith(f"{root / 'shop.yml'}: table shop.orders, key time_zone:")
        assert "'Mars/Olympus_Mons'" in message
    else:
        assert message.startswith(f"{root / 'connections.yml'}: key sources.db.time_zone:")
    assert "IANA name" in message


def test_append_only_and_cursor_fallback_only_where_they_mean_something(tmp_path: Path) -> None:
    for spec, wanted in (
        ({"mode": "full", "append_only": True}, "`append_only:` is only for mode incremental"),
        ({"append_only": True, "cursor_fallback": "c"}, "`cursor_fallback:` needs"),
    ):
        root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.o": spec}}})
        with pytest.raises(ConfigError, match=wanted):
            load_project(root)
