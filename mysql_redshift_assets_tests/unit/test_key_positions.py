"""Positions of every key shape: lossless text in the watermark, bound back with the type MySQL
must compare them as; and the SQL of MySQL's key identity for collated and prefix keys."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.extract.key_identity import exact_collation, identity_column
from mysql_redshift_assets.extract.keyset import page_query
from mysql_redshift_assets.extract.position import (
    KeyColumn,
    Keyset,
    Position,
    enum_members,
    keyset_values,
)
from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.identifiers import KEY_IDENTITY, normalize_identifier
from mysql_redshift_assets.project import load_project


def test_binary_positions_are_hex_and_bind_back_as_the_same_bytes() -> None:
    col = KeyColumn.of("k", "binary", "binary(16)")
    raw = bytes(range(250, 256)) + b"\x00\xc3\x28"  # not UTF-8
    text = col.text(raw)
    assert text == "hex:fafbfcfdfeff00c328"
    assert col.param(text) == raw
    assert col.text(pa.scalar(raw, pa.binary())) == text  # the fast readers' Arrow scalars
    assert Position.model_validate_json(Position(pk=[text]).model_dump_json()).pk == [text]
    # A position written before positions were hex held the key's UTF-8 text.
    assert col.param("abc") == b"abc"


@pytest.mark.parametrize(
    ("data_type", "column_type", "raw", "text", "bound"),
    [
        ("bigint", "bigint(20)", "9007199254740993", "9007199254740993", 9007199254740993),
        ("bigint", "bigint(20) unsigned", 18446744073709551615, "18446744073709551615",
         18446744073709551615),
        ("decimal", "decimal(30,20)", "1.00000000000000000001", "1.00000000000000000001",
         Decimal("1.00000000000000000001")),
        ("enum", "enum('zeta','alpha','it''s')", "alpha", "alpha", 2),
        ("enum", "enum('zeta','alpha','it''s')", "it's", "it's", 3),
        ("enum", "enum('zeta','alpha')", "", "", 0),  # MySQL's error value, index 0
        ("set", "set('x','b','m')", "x,m", "x,m", 0b101),
        ("set", "set('x','b','m')", "", "", 0),
        ("bit", "bit(12)", b"\x01\x02", "258", 258),
        ("varchar", "varchar(10)", b"caf\xc3\xa9", "café", "café"),
        ("datetime", "datetime(6)", "2024-05-01 10:00:00.000001", "2024-05-01 10:00:00.000001",
         "2024-05-01 10:00:00.000001"),
    ],
)  # fmt: skip
def test_each_kind_round_trips_and_binds_with_its_type(data_type, column_type, raw, text, bound):
    col = KeyColumn.of("k", data_type, column_type)
    assert col.text(raw) == text
    assert col.param(text) == bound and type(col.param(text)) is type(bound)
    assert col.param(bound) == bound  # already bound values pass


def test_enum_members_undouble_quotes_and_keep_commas() -> None:
    assert enum_members("enum('a','b,c','it''s','')") == ("a", "b,c", "it's", "")


def test_a_keyset_binds_a_position_and_renders_as_mysql_compares() -> None:
    keyset = Keyset(
        (KeyColumn.of("u", "datetime", "datetime"), KeyColumn.of("k", "varbinary", "varbinary(4)"),
         KeyColumn.of("e", "enum", "enum('z','a')")),
        cursor_is_pk=False,
    )  # fmt: skip
    position = keyset.position(["2024-01-01 00:00:00", b"\xff\x00", "a"])
    assert position == Position(cursor="2024-01-01 00:00:00", pk=["hex:ff00", "a"])
    params = keyset.params(keyset_values(position, cursor_is_pk=False))
    assert params == ["2024-01-01 00:00:00", b"\xff\x00", 2]
    page = page_query(select_list=["`k`"], table_ref="`t`", order_by=["`u`", "`k`", "`e`"],
                      after=params, upper=None, limit=3, placeholder="%s")  # fmt: skip
    assert page.sql.startswith("SELECT `k` FROM `t` WHERE ((`u` > %s) OR (`u` = %s AND `k` > %s)")
    # ENUM compared by index (what ORDER BY orders by), binary keys as bytes
    assert page.params[-4:] == ["2024-01-01 00:00:00", b"\xff\x00", 2, 3]
    assert keyset.params(["2024-01-01 00:00:00"]) == ["2024-01-01 00:00:00"]  # set by hand


# -- MySQL's key identity ------------------------------------------------------------------------
def _table(tmp_path: Path):
    root = tmp_path / "pipelines"
    root.mkdir()
    (root / "connections.yml").write_text(
        "sources: {mysql: {kind: mysql, host: h, user: u}}\n"
        "stores: {local: {kind: local, path: x}}\n"
        "targets: {duckdb: {kind: duckdb, path: w.duckdb}}\n"
    )
    (root / "p.yml").write_text(
        "source: mysql\nstore: local\ntarget: duckdb\ntables: {s.t: {cursor: u}}\n"
    )
    return table_config(load_project(root).pipeline("p"), "s.t")


def _col(name, data_type, column_type, collation=None, charset=None, octets=80, ordinal=1):
    return SourceColumn(name, data_type, column_type, False, octets, None, None, None, ordinal,
                        charset=charset, collation=collation)  # fmt: skip


def test_the_identity_name_is_never_a_normalised_user_column() -> None:
    assert normalize_identifier(KEY_IDENTITY) != KEY_IDENTITY  # `mra$key` -> `mra_key`
    assert "$" in KEY_IDENTITY


@pytest.mark.parametrize(
    ("collation", "exact"),
    [("utf8mb4_general_ci", False), ("utf8mb4_unicode_ci", False), ("latin1_swedish_ci", False),
     ("utf8mb4_bin", False), ("utf8mb4_general_nopad_ci", False), ("utf8mb4_nopad_bin", True),
     ("utf8mb4_0900_bin", True), ("utf8mb4_0900_ai_ci", False)],
)  # fmt: skip
def test_which_collations_compare_bytes(collation: str, exact: bool) -> None:
    assert exact_collation(collation) is exact


def test_identity_sql_for_pad_nopad_prefix_and_composite_keys(tmp_path: Path) -> None:
    table = _table(tmp_path)
    pad = _col("code", "varchar", "varchar(20)", "utf8mb4_general_ci", "utf8mb4")
    nopad = _col("n", "varchar", "varchar(20)", "utf8mb4_general_nopad_ci", "utf8mb4", ordinal=2)
    blob = _col("b", "blob", "blob", octets=65535, ordinal=3)
    num = _col("id", "int", "int(11)", ordinal=4)
    exact = _col("x", "varchar", "varchar(20)", "utf8mb4_nopad_bin", "utf8mb4", ordinal=5)
    cols = [pad, nopad, blob, num, exact]

    one = identity_column(table, cols, ["code"], {})
    assert one is not None and one.name == KEY_IDENTITY and one.arrow_type == pa.string()
    assert one.select_expr == (
        "HEX(TRIM(TRAILING WEIGHT_STRING(_utf8mb4 ' ' COLLATE utf8mb4_general_ci) "
        "FROM WEIGHT_STRING(`code`)))"
    )
    nopad_identity = identity_column(table, cols, ["n"], {})
    assert nopad_identity is not None
    assert nopad_identity.select_expr == "HEX(WEIGHT_STRING(`n`))"
    prefix = identity_column(table, cols, ["b"], {"b": 8})
    assert prefix is not None and prefix.select_expr == "HEX(LEFT(`b`, 8))"
    both = identity_column(table, cols, ["id", "code"], {})
    assert both is not None and both.select_expr == (
        "CONCAT_WS('.', COALESCE(HEX(CAST(`id` AS CHAR)), '-'), COALESCE(HEX(TRIM(TRAILING "
        "WEIGHT_STRING(_utf8mb4 ' ' COLLATE utf8mb4_general_ci) FROM WEIGHT_STRING(`code`))), "
        "'-'))"
    )
    # Keys whose equality is the warehouse's already carry nothing.
    assert identity_column(table, cols, ["id", "x"], {}) is None
    assert identity_column(table, cols, ["b"], {}) is None


def test_an_unexpected_collation_name_is_refused_not_inlined(tmp_path: Path) -> None:
    from mysql_redshift_assets.config.errors import ConfigError

    bad = _col("code", "varchar", "varchar(20)", "x' OR 1=1", "utf8mb4")
    with pytest.raises(ConfigError, match="unexpected collation"):
        identity_column(_table(tmp_path), [bad], ["code"], {})
