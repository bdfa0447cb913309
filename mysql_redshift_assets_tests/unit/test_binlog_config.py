"""`capture: binlog` in the YAML: the keys of a cursor's contract and the partitioned modes are
refused, each with one error naming the file, the table and the key; a wrong capture is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.unit.test_config import PIPELINE, write_folder

BINLOG = {"capture": "binlog"}


def _load(tmp_path: Path, spec: dict[str, Any]) -> str:
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.orders": spec}}})
    with pytest.raises(ConfigError) as err:
        load_project(root)
    message = str(err.value)
    assert message.startswith(f"{root / 'shop.yml'}: table shop.orders")
    assert len(message.splitlines()) == 1  # one error
    return message


def test_binlog_alone_is_a_valid_incremental_table(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.orders": BINLOG}}})
    table = table_config(load_project(root).pipeline("shop"), "shop.orders")
    assert table.binlog and table.mode == "incremental" and table.cursor is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("cursor", "updated_at"),
        ("append_only", True),
        ("upper_bound_lag_seconds", 0),
        ("late_commit_window_seconds", 60),
        ("deletes_every_minutes", 30),
    ],
)
def test_a_key_of_the_cursor_contract_is_refused_by_name(
    tmp_path: Path, key: str, value: Any
) -> None:
    message = _load(tmp_path, {**BINLOG, key: value})
    assert "`capture: binlog`" in message and f"`{key}:` does not apply: remove it" in message


def test_cursor_fallback_is_refused_by_name(tmp_path: Path) -> None:
    # `cursor_fallback:` needs a `cursor:`, itself refused: both are named.
    message = _load(tmp_path, {**BINLOG, "cursor": "updated_at", "cursor_fallback": "created_at"})
    assert "`cursor:`, `cursor_fallback:` does not apply" in message


@pytest.mark.parametrize(
    "mode_keys",
    [
        {"mode": "full"},
        {"mode": "time", "cursor": "created_at", "partitions": {"start": "2024-01-01"}},
        {"mode": "id_range", "id_range": {"size": 1000}},
    ],
)
def test_a_mode_other_than_incremental_is_refused(
    tmp_path: Path, mode_keys: dict[str, Any]
) -> None:
    message = _load(tmp_path, {**BINLOG, **mode_keys})
    assert (
        f"`capture: binlog` is only for mode incremental, not mode {mode_keys['mode']}" in message
    )


def test_deletes_ignore_is_allowed(tmp_path: Path) -> None:
    spec = {**BINLOG, "deletes": "ignore"}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.orders": spec}}})
    assert table_config(load_project(root).pipeline("shop"), "shop.orders").deletes == "ignore"


@pytest.mark.parametrize("value", ["cdc", "BINLOG", True])
def test_a_wrong_capture_is_refused_naming_the_key(tmp_path: Path, value: Any) -> None:
    message = _load(tmp_path, {"cursor": "updated_at", "capture": value})
    assert "key capture:" in message and "'binlog'" in message
