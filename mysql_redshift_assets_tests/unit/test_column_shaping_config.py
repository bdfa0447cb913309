"""`exclude_columns:`, `hash_columns:` and `hash_key:` refused in YAML where they cannot work
(issue 27); the refusals that need MySQL's catalog (a key, the cursor, an unknown column) are in
integration/test_column_shaping.py. The HMAC itself: RFC 4231's test vectors."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.extract.shaping import _pads, hmac_hex, hmac_sql, redact
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.unit.test_config import PIPELINE, write_folder

KEY_TEXT = "hash-key-test-only-not-a-secret"


def _load(tmp_path: Path, table: dict[str, Any], **pipeline: Any) -> Any:
    spec = {**PIPELINE, **pipeline, "tables": {"shop.orders": {"cursor": "updated_at", **table}}}
    return load_project(write_folder(tmp_path / "p", {"shop": spec}))


def test_a_hash_key_written_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, {"hash_columns": ["email"], "hash_key": KEY_TEXT})
    message = str(err.value)
    assert str(tmp_path / "p" / "shop.yml") in message and "shop.orders" in message
    assert "hash_key: write it as `${ENV_VAR}`" in message
    assert KEY_TEXT not in message


def test_hash_columns_without_a_key_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, {"hash_columns": ["email"]})
    message = str(err.value)
    assert str(tmp_path / "p" / "shop.yml") in message
    assert "table 'shop.orders', key hash_columns: needs `hash_key: ${ENV_VAR}`" in message


def test_a_column_both_excluded_and_hashed_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, {"hash_columns": ["email"], "exclude_columns": ["email", "note"]},
              hash_key="${SHOP_HASH_KEY}")  # fmt: skip
    message = str(err.value)
    assert "shop.yml: table shop.orders: Value error, hash_columns: email also in" in message


def test_the_pipeline_key_is_the_default_and_only_its_reference_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_HASH_KEY", KEY_TEXT)
    project = _load(tmp_path, {"hash_columns": ["email"], "exclude_columns": ["note"]},
                    hash_key="${SHOP_HASH_KEY}")  # fmt: skip
    table = table_config(project.pipeline("shop"), "shop.orders")
    assert (table.hash_columns, table.exclude_columns) == (("email",), ("note",))
    assert table.hash_key == "${SHOP_HASH_KEY}"
    assert KEY_TEXT not in repr(table)
    own = _load(tmp_path, {"hash_columns": ["email"], "hash_key": "${T_KEY}"},
                hash_key="${SHOP_HASH_KEY}")  # fmt: skip
    assert table_config(own.pipeline("shop"), "shop.orders").hash_key == "${T_KEY}"


def test_hmac_matches_rfc_4231_and_the_sql_carries_only_padded_keys() -> None:
    # RFC 4231 test case 2 (a short key) and 6 (a key longer than the block: hashed first).
    assert hmac_hex(b"Jefe", "what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    long_key, text = b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert hmac_hex(long_key, text) == hmac.new(long_key, text, hashlib.sha256).hexdigest()
    col = SourceColumn("email", "varchar", "varchar(80)", True, 320, None, None, None, 1)
    sql = hmac_sql(col, KEY_TEXT.encode())
    assert KEY_TEXT not in sql and KEY_TEXT.encode().hex() not in sql.lower()
    inner, outer = (p.hex().upper() for p in _pads(KEY_TEXT.encode()))
    assert inner in sql and outer in sql
    quoted = redact(f"error near '{sql}'")  # a message quoting the query loses the pads
    assert inner not in quoted and outer not in quoted and quoted.count("***") == 2
