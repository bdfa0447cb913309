"""Redshift Serverless and IAM authentication, as exact connect arguments, config errors and
probe text (no cluster, no network). docs/redshift.md, "Redshift Serverless"."""

from __future__ import annotations

import inspect
from typing import Any, cast

import pytest
import redshift_connector
from pydantic import ValidationError

from mysql_redshift_assets.config.connections import RedshiftTargetSpec
from mysql_redshift_assets.connect import REDSHIFT_CONNECT_TIMEOUT_SECONDS, redshift_connect_args
from mysql_redshift_assets.maintenance import check_target as ct

WORKGROUP_HOST = "etl.123456789012.eu-central-1.redshift-serverless.amazonaws.com"
CLUSTER_HOST = "dw.abc123.eu-west-1.redshift.amazonaws.com"


def spec(**keys: Any) -> RedshiftTargetSpec:
    base = {"kind": "redshift", "host": CLUSTER_HOST, "database": "dw", "user": "loader"}
    return RedshiftTargetSpec.model_validate({**base, **keys})


COMMON = {
    "database": "dw",
    "ssl": True,
    "sslmode": "verify-full",
    "timeout": REDSHIFT_CONNECT_TIMEOUT_SECONDS,
    "tcp_keepalive": True,
    "tcp_keepalive_idle": 60,
    "tcp_keepalive_interval": 10,
    "tcp_keepalive_count": 6,
}


def test_a_serverless_host_is_recognised_and_names_its_workgroup() -> None:
    target = spec(host=WORKGROUP_HOST, password="pw")
    assert target.serverless and target.serverless_workgroup == "etl"
    assert target.serverless_account == "123456789012"
    assert target.cluster_region == "eu-central-1"
    assert not spec(password="pw").serverless
    named = spec(host="10.0.0.5", region="us-east-1", workgroup="wg", password="pw")
    assert named.serverless and named.serverless_workgroup == "wg"


def test_iam_auth_on_serverless_passes_the_workgroup_and_no_password() -> None:
    target = spec(host=WORKGROUP_HOST, iam_auth=True, profile="etl")
    assert redshift_connect_args(target, WORKGROUP_HOST, 5439) == {
        "host": WORKGROUP_HOST,
        "port": 5439,
        **COMMON,
        "iam": True,
        "user": "loader",
        "db_user": "loader",
        "region": "eu-central-1",
        "profile": "etl",
        "is_serverless": True,
        "serverless_work_group": "etl",
        "serverless_acct_id": "123456789012",
    }


def test_iam_auth_through_a_tunnel_names_the_workgroup_it_cannot_read_from_the_host() -> None:
    target = spec(host=WORKGROUP_HOST, iam_auth=True, workgroup="other", ssh="bastion")
    args = redshift_connect_args(target, "127.0.0.1", 40001)
    assert (args["host"], args["serverless_work_group"], args["sslmode"]) == (
        "127.0.0.1", "other", "verify-ca",
    )  # fmt: skip


def test_iam_auth_on_a_provisioned_cluster_names_the_cluster_and_db_user() -> None:
    args = redshift_connect_args(spec(iam_auth=True, db_user="etl_user"), CLUSTER_HOST, 5439)
    assert args == {
        "host": CLUSTER_HOST,
        "port": 5439,
        **COMMON,
        "iam": True,
        "user": "etl_user",
        "db_user": "etl_user",
        "region": "eu-west-1",
        "cluster_identifier": "dw",
    }
    named = spec(host="10.0.0.5", region="eu-west-1", iam_auth=True, cluster_identifier="prod")
    assert redshift_connect_args(named, "10.0.0.5", 5439)["cluster_identifier"] == "prod"


def test_every_connect_argument_is_one_the_connector_takes() -> None:
    taken = set(inspect.signature(redshift_connector.connect).parameters)
    for target in (spec(host=WORKGROUP_HOST, iam_auth=True, profile="p"),
                   spec(iam_auth=True), spec(password="pw")):  # fmt: skip
        assert set(redshift_connect_args(target, "h", 1)) <= taken


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"iam_auth": True, "password": "pw"},
         "password: set with `iam_auth: true`, which fetches a temporary password from IAM; "
         "remove `password:`"),
        ({"iam_auth": True, "host": "wg.example.internal", "region": "us-east-1"},
         "cluster_identifier: `iam_auth: true` needs the cluster's identifier, and host "
         "'wg.example.internal' does not name it"),
        ({"iam_auth": True, "host": "x.redshift-serverless.amazonaws.com", "region": "us-east-1"},
         "workgroup: `iam_auth: true` on Serverless needs the workgroup, and host "
         "'x.redshift-serverless.amazonaws.com' does not name it"),
    ],
)  # fmt: skip
def test_iam_auth_config_errors_name_the_key_and_the_fix(
    keys: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec(**keys)


# -- the isolation probe ----------------------------------------------------------------------
class _Probe:
    dialect = "redshift"

    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer, self.error, self.sql, self.rolled_back = answer, error, "", False

    def fetchall(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        self.sql = sql
        if self.error is not None:
            raise self.error
        return [] if self.answer is None else [(self.answer,)]

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        self.rolled_back = True


def test_serverless_reads_the_isolation_level_from_an_svv_view() -> None:
    probe = _Probe("Snapshot Isolation")
    status, detail = ct._isolation(cast(Any, probe), spec(host=WORKGROUP_HOST, password="pw"))
    assert probe.sql == (
        "SELECT TRIM(database_isolation_level) FROM svv_redshift_databases "
        "WHERE database_name = current_database()"
    )
    assert (status, detail) == ("OK", "Snapshot Isolation")
    provisioned = _Probe("Serializable")
    assert ct._isolation(cast(Any, provisioned), spec(password="pw"))[0] == "OK"
    assert "stv_db_isolation_level" in provisioned.sql


def test_a_serverless_probe_that_cannot_read_is_a_skip_never_a_fail() -> None:
    refused = _Probe(error=RuntimeError("relation does not exist"))
    serverless = spec(host=WORKGROUP_HOST, password="pw")
    status, detail = ct._isolation(cast(Any, refused), serverless)
    assert status == "SKIP" and "relation does not exist" in detail and refused.rolled_back
    assert ct._isolation(cast(Any, _Probe()), serverless)[0] == "SKIP"
    with pytest.raises(RuntimeError):  # a provisioned cluster's failure stays a finding
        ct._isolation(cast(Any, _Probe(error=RuntimeError("x"))), spec(password="pw"))
