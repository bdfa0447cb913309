"""check-target's Redshift-only statements and checks, as exact text (no cluster here)."""

from __future__ import annotations

import socket
from typing import Any, cast

import pytest

from mysql_redshift_assets.config.connections import RedshiftTargetSpec
from mysql_redshift_assets.maintenance import check_target as ct
from mysql_redshift_assets.maintenance.canary import CANARY, canary_rows


def test_the_isolation_level_is_read_from_stv_db_isolation_level() -> None:
    assert ct.isolation_sql("redshift") == (
        "SELECT TRIM(isolation_level) FROM stv_db_isolation_level "
        "WHERE db_name = current_database()"
    )
    assert ct.isolation_sql("postgres") == "SHOW default_transaction_isolation"


def test_privilege_statements() -> None:
    assert ct.TEMP_SQL == "SELECT has_database_privilege(current_database(), 'TEMP')"
    assert ct.CREATE_IN_SCHEMA_SQL == (
        "SELECT has_schema_privilege(%s, 'CREATE') AND has_schema_privilege(%s, 'USAGE')"
    )


class _Fetching:
    dialect = "redshift"

    def __init__(self, answer: Any) -> None:
        self.answer, self.sql = answer, ""

    def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.sql = sql
        return [(self.answer,)]

    def commit(self) -> None:
        pass


def test_a_serializable_cluster_is_reported_with_what_it_means() -> None:
    status, detail = ct._isolation(cast(Any, _Fetching("Serializable        ")))
    assert status == "OK" and "ERROR 1023" in detail and "retried" in detail


def test_a_missing_privilege_fails_with_the_grant_to_run() -> None:
    with pytest.raises(ct.CheckFailed, match=r"lacks TEMP; GRANT TEMP ON DATABASE"):
        ct._privilege(cast(Any, _Fetching(False)), ct.TEMP_SQL, (), "TEMP")


def test_an_unencrypted_redshift_session_fails_the_ssl_check() -> None:
    class Conn:
        _usock = socket.socket()

    class Wh:
        conn = Conn()

    spec = RedshiftTargetSpec.model_validate(
        {
            "kind": "redshift",
            "host": "dw.a.us-east-1.redshift.amazonaws.com",
            "database": "d",
            "user": "u",
        }
    )
    try:
        with pytest.raises(ct.CheckFailed, match="not encrypted; set `sslmode:`"):
            ct._ssl(cast(Any, Wh()), spec)
    finally:
        Conn._usock.close()


def test_the_canary_covers_the_edges() -> None:
    names = [c.name for c, _ in CANARY]
    assert len(names) == len(set(names))
    assert all(len(v) == 4 for _, v in CANARY)
    values = {c.name: v for c, v in CANARY}
    assert len(values["vl"][1].encode()) == 30  # latin1 width: 10 characters, 30 UTF-8 bytes
    assert len(values["lb"][0]) > 1_024_000  # past the old VARBYTE cap
    assert values["da"][0].year < 1582
    assert b"\x00" in values["vb"][0]
    assert "nul" in [c.name for c, _ in canary_rows("redshift")]
    assert "nul" not in [c.name for c, _ in canary_rows("postgres")]  # PostgreSQL refuses NUL
