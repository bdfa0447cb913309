"""`deletes: soft` and `history: true` (issue 27): the config rules, one clear error each, and
the load's refusal of a keyless table."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.load.request import LoadError, LoadRequest
from mysql_redshift_assets.load.versions import (
    check_keyed,
    history_changes_sql,
    history_merge_sql,
    kept_columns,
    live_where,
    retire_sql,
)
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.unit.test_config import PIPELINE, write_folder

INCREMENTAL = {"cursor": "updated_at"}


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        ({"mode": "full", "deletes": "soft"}, r"`deletes: soft` is only for mode incremental"),
        (
            {"mode": "id_range", "id_range": {"size": 10}, "deletes": "soft"},
            r"`deletes: soft` is only for mode incremental",
        ),
        ({"mode": "full", "history": True}, r"`history: true` is only for mode incremental, "),
        (
            {"mode": "time", "cursor": "c", "partitions": {"start": "2024-01-01"}, "history": True},
            r"`history: true` is only for mode incremental, not mode time",
        ),
        ({**INCREMENTAL, "history": True, "deletes": "soft"}, r"history already keeps"),
        ({"append_only": True, "history": True}, r"no versions to keep"),
        ({**INCREMENTAL, "history": True, "primary_key": []}, r"needs a primary key"),
    ],
)
def test_each_rule_has_one_clear_error(tmp_path: Path, spec: dict, wanted: str) -> None:
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.o": spec}}})
    with pytest.raises(ConfigError, match=wanted):
        load_project(root)


@pytest.mark.parametrize(
    ("spec", "columns", "live"),
    [
        ({**INCREMENTAL, "deletes": "soft"}, ["mra$deleted_at"], '"mra$deleted_at" IS NULL'),
        ({"capture": "binlog", "deletes": "soft"}, ["mra$deleted_at"], '"mra$deleted_at" IS NULL'),
        (
            {"capture": "binlog", "history": True},
            ["mra$valid_from", "mra$valid_to", "mra$version"],
            '"mra$valid_to" IS NULL',
        ),
        (INCREMENTAL, [], ""),
    ],
)
def test_accepted_settings_and_their_columns(
    tmp_path: Path, spec: dict, columns: list[str], live: str
) -> None:
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.o": spec}}})
    table = table_config(load_project(root).pipeline("shop"), "shop.o")
    assert [n for n, _ in kept_columns(table)] == columns
    assert live_where(table) == live
    # History closes versions on delete: the delete pass runs (the default, propagate).
    assert table.deletes == ("soft" if spec.get("deletes") == "soft" else "propagate")


@pytest.mark.parametrize("option", [{"deletes": "soft"}, {"history": True}])
def test_a_keyless_table_is_refused_by_the_load(tmp_path: Path, option: dict) -> None:
    spec = {"capture": "binlog", **option}
    root = write_folder(tmp_path / "p", {"shop": {**PIPELINE, "tables": {"shop.o": spec}}})
    table = table_config(load_project(root).pipeline("shop"), "shop.o")
    request = LoadRequest(table=table, primary_key=[], cursor=None, candidates=[], run_id="r")
    with pytest.raises(LoadError, match=r"needs a primary key and MySQL's table has none"):
        check_keyed(request)
    check_keyed(replace(request, primary_key=["id"]))  # keyed: accepted


def test_the_updates_follow_redshifts_update_rules() -> None:
    """Redshift's UPDATE: the SET column is not qualified by the table name, and a FROM list
    joins the target on an equality (https://docs.aws.amazon.com/redshift/latest/dg/r_UPDATE.html:
    "UPDATE tab SET tab.col = 1 is invalid"; an outer join there is refused)."""
    target, staging, names, key = '"s"."t"', '"stage"', ["id", "v"], ["id"]
    statements = [
        retire_sql(target, '"doomed"', key, "mra$deleted_at", "%s"),
        *(
            sql
            for sql, _ in history_merge_sql(target, staging, names, key, '"id"', "%s", ordered=True)
        ),
        *(sql for sql, _ in history_changes_sql(target, staging, names, key, "%s")),
    ]
    updates = [s for s in statements if s.startswith("UPDATE")]
    assert len(updates) == 3
    for sql in updates:
        assert re.match(rf'UPDATE {re.escape(target)} SET "mra\$[a-z_]+" = %s FROM ', sql), sql
        assert f'{target}."id" = ' in sql and " JOIN " not in sql.upper()
