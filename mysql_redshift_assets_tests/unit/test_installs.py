"""Installs that work (issue 18): `${VAR}` in numbers, one pipelines-folder rule, one Dagster
home, every documented target's driver in the main dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import default_dagster_home
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.project import load_project

REPO = Path(__file__).resolve().parents[2]


def _folder(root: Path, connections: dict) -> Path:
    root.mkdir()
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = {"source": "db", "store": "s3", "target": "wh",
                "tables": {"shop.orders": {"append_only": True}}}  # fmt: skip
    (root / "shop.yml").write_text(yaml.safe_dump(pipeline))
    return root


CONNECTIONS = {
    "sources": {"db": {"kind": "mysql", "host": "h", "user": "u", "ssh": "jump",
                       "port": "${NUM_TEST_PORT:-3307}",
                       "connect_timeout_seconds": "${NUM_TEST_TIMEOUT}"}},
    "stores": {"s3": {"kind": "s3", "bucket": "b", "read_timeout_seconds": "${NUM_TEST_READ:-5}"}},
    "targets": {"wh": {"kind": "postgres", "database": "d", "user": "u",
                       "port": "${NUM_TEST_PG_PORT:-5433}"}},
    "ssh": {"jump": {"host": "b", "user": "u", "port": "${NUM_TEST_SSH_PORT:-2222}"}},
}  # fmt: skip


def test_env_references_are_accepted_in_numeric_fields(tmp_path, monkeypatch) -> None:
    for var in ("NUM_TEST_PORT", "NUM_TEST_READ", "NUM_TEST_PG_PORT", "NUM_TEST_SSH_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NUM_TEST_TIMEOUT", "4")
    project = load_project(_folder(tmp_path / "p", CONNECTIONS))  # loads without resolving
    source = open_source(project, "db")
    assert source._params["port"] == 3307 and source._params["connect_timeout"] == 4
    assert open_store(project, "s3")._timeouts == (10, 5)
    from mysql_redshift_assets.connect import _entry

    assert _entry(project, "targets", "wh").port == 5433
    assert project.references("ssh", "jump") == {"port": "${NUM_TEST_SSH_PORT:-2222}"}

    monkeypatch.setenv("NUM_TEST_PORT", "33o6")
    with pytest.raises(ConfigError) as err:
        open_source(project, "db")
    assert "connections.yml: sources.db.port: Input should be a valid integer" in str(err.value)
    assert "${NUM_TEST_PORT:-3307} is '33o6'" in str(err.value)
    monkeypatch.delenv("NUM_TEST_TIMEOUT")
    with pytest.raises(ConfigError, match="sources.db.connect_timeout_seconds: environment "
                       "variable NUM_TEST_TIMEOUT is not set"):  # fmt: skip
        open_source(project, "db")


def test_a_number_that_is_no_reference_is_still_an_error(tmp_path) -> None:
    connections = {**CONNECTIONS, "sources": {"db": {"kind": "mysql", "host": "h", "user": "u",
                                                     "port": "three"}}}  # fmt: skip
    with pytest.raises(ConfigError, match="key sources.db.port: Input should be a valid integer"):
        load_project(_folder(tmp_path / "p", connections))


def test_the_dagster_home_is_dagster_home_else_beside_the_pipelines_folder(tmp_path) -> None:
    root = tmp_path / "project" / "pipelines"
    assert default_dagster_home(root, {}) == tmp_path / "project" / ".local" / "dagster_home"
    assert default_dagster_home(root, {"DAGSTER_HOME": str(tmp_path / "h")}) == tmp_path / "h"
    # The repository's own: where the Makefile's `make dev` keeps it.
    makefile = (REPO / "Makefile").read_text()
    assert "DAGSTER_HOME ?= $(CURDIR)/.local/dagster_home" in makefile
    assert default_dagster_home(REPO / "pipelines", {}) == REPO / ".local" / "dagster_home"


def test_every_documented_target_driver_is_a_main_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    main = " ".join(project["dependencies"])
    for driver in ("pymysql", "psycopg", "redshift-connector", "duckdb", "dagster-aws"):
        assert driver in main, driver
    assert not any("psycopg" in d for d in project["optional-dependencies"]["dev"])
