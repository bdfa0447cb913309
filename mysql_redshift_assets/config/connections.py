"""The YAML contract of `connections.yml`: pydantic models with unknown keys rejected.

It names where data comes from (sources), where files go (stores) and where they are loaded
(targets), plus SSH bastions (`config/pipelines.py`: the tables of one pipeline). String values
may hold `${ENV_VAR}` (or `${ENV_VAR:-default}`); they are resolved only when a connection is
opened (`config.env.resolve_env`), so a missing secret never breaks loading definitions, and
the error names the connection and the variable.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


def check_time_zone(value: str | None) -> str | None:
    """An IANA zone name that this machine's zone database knows (`UTC`, `Asia/Shanghai`)."""
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as UTC, Europe/Berlin or "
            "America/New_York (the zone the applications write DATETIME values in)"
        ) from None
    return value


# `json:` (README "JSON as SUPER"): how a target (or a table) holds MySQL's JSON columns.
JsonMode = Literal["varchar", "super"]


class Strict(BaseModel):
    # populate_by_name: a field with an alias (`json:`) validates under its name too (what
    # `env.py` re-validates a model with).
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Keepalive(Strict):
    """TCP keepalive on the connection's socket: a NAT or load balancer that drops an idle flow
    (about 350 s on AWS) is seen after idle + interval x count seconds instead of hanging until
    the OS default (7,200 s idle on Linux). It cannot see a far end that still answers probes:
    targets add a client-side deadline (`statement_timeout_seconds`) for that; MySQL sources
    have `read_timeout_seconds`."""

    keepalive_idle_seconds: int = Field(
        60, ge=1, le=7200, description="Idle seconds before the first TCP keepalive probe."
    )
    keepalive_interval_seconds: int = Field(
        10, ge=1, le=600, description="Seconds between unanswered TCP keepalive probes."
    )
    keepalive_count: int = Field(
        6, ge=1, le=100, description="Unanswered probes after which the connection is dead."
    )


# A generous bound (12 h): longer than any COPY or merge this tool runs in one statement, far
# shorter than forever. 0 turns both the server's and the client's bound off.
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 43_200


class BoundedTarget(Keepalive):
    """A warehouse session whose every statement has an end (issue 24, item 2)."""

    statement_timeout_seconds: float = Field(
        DEFAULT_STATEMENT_TIMEOUT_SECONDS, ge=0, le=604_800,
        description="Sent as the session's statement_timeout; the client gives up on a "
        "statement that has not answered this + deadline_margin_seconds later. 0 = no bound.",
    )  # fmt: skip
    deadline_margin_seconds: float = Field(
        60, gt=0, le=3600,
        description="Seconds the client waits past statement_timeout_seconds for the server's "
        "own cancellation before it closes the connection itself.",
    )  # fmt: skip


class SshSpec(Strict):
    host: str
    port: int = 22
    user: str
    private_key: str | None = Field(
        None, description="Path to the private key file; neither this nor private_key_data = "
        "ssh-agent.",
    )  # fmt: skip
    private_key_data: SecretStr | None = Field(
        None, description="The private key's content, from a secret (`${ENV_VAR}`): written to "
        "an owner-only temporary file only while the key is loaded. Not with private_key.",
    )  # fmt: skip
    private_key_passphrase: SecretStr | None = Field(
        None, description="Passphrase of an encrypted private key (use ${ENV_VAR})."
    )
    known_hosts: str | None = Field(
        None, description="known_hosts file to verify the host key; default ~/.ssh/known_hosts."
    )
    verify_host_key: bool = True
    keepalive_seconds: int = Field(30, ge=0, description="SSH keepalive interval; 0 = off.")
    connect_timeout_seconds: float = Field(10, gt=0, le=600)

    @model_validator(mode="after")
    def _one_key_source(self) -> SshSpec:
        if self.private_key is not None and self.private_key_data is not None:
            raise ValueError(
                "private_key and private_key_data are both set; a bastion takes its key from "
                "one of them. Fix: keep `private_key: <path>` for a key file, or "
                "`private_key_data: ${ENV_VAR}` for a key held in a secret, not both"
            )
        return self


# How keyset pages are read (extract/readers/): auto = wire where its C parser was built at
# install, else connectorx; pymysql = MySQL's text protocol (the slowest, and the fallback).
ReaderName = Literal["auto", "wire", "connectorx", "pymysql"]


class MySQLSourceSpec(Keepalive):
    kind: Literal["mysql"] = "mysql"
    host: str
    port: int = 3306
    user: str
    password: SecretStr = SecretStr("")
    database: str | None = None
    ssh: str | None = Field(None, description="Name of an entry under `ssh:`.")
    connect_timeout_seconds: float = Field(
        10, gt=0, le=600, description="TCP connect and the handshake (greeting, login)."
    )
    read_timeout_seconds: float = Field(
        1800, gt=0, le=86_400,
        description="Longest silence of MySQL while answering one query (a page, a count).",
    )  # fmt: skip
    reader: ReaderName = Field(
        "auto", description="How pages are read: auto, wire, connectorx, pymysql."
    )
    time_zone: str = Field(
        "UTC",
        description="IANA zone the applications write DATETIME values in (TIMESTAMP columns "
        "carry their own zone); a table's `time_zone:` overrides it.",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return check_time_zone(value)


class DemoSourceSpec(Strict):
    """A MySQL-shaped demo database in a local SQLite file (the embedded default)."""

    kind: Literal["demo"]
    path: str


SourceSpec = Annotated[MySQLSourceSpec | DemoSourceSpec, Field(discriminator="kind")]


class LocalStoreSpec(Strict):
    kind: Literal["local"]
    path: str


class S3StoreSpec(Strict):
    kind: Literal["s3"]
    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    connect_timeout_seconds: float = Field(10, gt=0, le=600)
    read_timeout_seconds: float = Field(
        60, gt=0, le=3600, description="Longest silence of S3 on one call (then retried)."
    )


StoreSpec = Annotated[LocalStoreSpec | S3StoreSpec, Field(discriminator="kind")]


class DuckDBTargetSpec(Strict):
    kind: Literal["duckdb"]
    path: str
    # DuckDB's own default is 80% of the machine's memory; past the limit it spills to
    # `<path>.tmp`. A whole-table first load of 4M rows peaked at 4.2 GB without it.
    memory_limit: str | None = Field(
        "1GB", pattern=r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB memory_limit, e.g. 512MB or 4GB; null for DuckDB's default.",
    )  # fmt: skip
    json_mode: JsonMode = Field(
        "varchar",
        alias="json",
        description="JSON columns as text (varchar, the default) or parsed into the target's "
        "JSON type: SUPER on Redshift (JSONB, JSON on the stand-ins). A table's `json:` wins.",
    )


# An IAM role ARN (a comma-separated chain of them is allowed by COPY), or the bare keyword
# `default`: https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-authorization.html
_ROLE_ARN = r"arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]+"
_IAM_ROLE = re.compile(rf"^(default|{_ROLE_ARN}(,{_ROLE_ARN})*)$")
# <cluster>.<id>.<region>.redshift.amazonaws.com; <workgroup>.<account>.<region>.redshift-serverless...
_REDSHIFT_HOST_REGION = re.compile(
    r"\.([a-z]{2}(-gov)?-[a-z]+-\d)\.redshift(-serverless)?\.amazonaws\.com(\.cn)?$"
)
# Serverless: <workgroup>.<account>.<region>.redshift-serverless.amazonaws.com
# (https://docs.aws.amazon.com/redshift/latest/mgmt/serverless-connecting.html).
_SERVERLESS_HOST = re.compile(
    r"^([a-z0-9-]+)\.(\d{12})\.[a-z0-9-]+\.redshift-serverless\.amazonaws\.com(\.cn)?$"
)
# Provisioned: <cluster>.<id>.<region>.redshift.amazonaws.com
# (https://docs.aws.amazon.com/redshift/latest/mgmt/connecting-to-cluster.html).
_CLUSTER_HOST = re.compile(
    r"^([a-z0-9-]+)\.[a-z0-9]+\.[a-z0-9-]+\.redshift\.amazonaws\.com(\.cn)?$"
)
RedshiftSslMode = Literal["verify-ca", "verify-full"]


def check_redshift_target(spec: RedshiftTargetSpec) -> None:
    """The checks on values that may be `${ENV}` at load: run again once they are resolved."""
    role = spec.iam_role
    if role is not None and "${" not in role and not _IAM_ROLE.match(role):
        raise ValueError(
            f"iam_role: {role!r} is neither `default` (the cluster's default role, written bare "
            "in COPY) nor an IAM role ARN such as arn:aws:iam::123456789012:role/redshift-copy"
        )
    if spec.cluster_region is None and "${" not in spec.host:
        raise ValueError(
            f"region: cannot tell the cluster's AWS region from host {spec.host!r}; set "
            "`region:` (e.g. us-east-1): COPY from Parquet needs the bucket in that region"
        )
    if spec.iam_auth:
        check_iam_auth(spec)


def check_iam_auth(spec: RedshiftTargetSpec) -> None:
    """`iam_auth: true`: the session's password comes from IAM (GetCredentials of the
    workgroup on Serverless, GetClusterCredentials of the cluster otherwise:
    https://docs.aws.amazon.com/redshift/latest/mgmt/generating-iam-credentials-overview.html)."""
    if spec.password.get_secret_value():
        raise ValueError(
            "password: set with `iam_auth: true`, which fetches a temporary password from IAM; "
            "remove `password:` (or set `iam_auth: false` to log in with the password)"
        )
    unresolved = "${" in spec.host
    if spec.serverless and spec.serverless_workgroup is None and not unresolved:
        raise ValueError(
            f"workgroup: `iam_auth: true` on Serverless needs the workgroup, and host "
            f"{spec.host!r} does not name it (<workgroup>.<account>.<region>."
            "redshift-serverless.amazonaws.com); set `workgroup:`"
        )
    if not spec.serverless and spec.iam_cluster_identifier is None and not unresolved:
        raise ValueError(
            f"cluster_identifier: `iam_auth: true` needs the cluster's identifier, and host "
            f"{spec.host!r} does not name it (<cluster>.<id>.<region>.redshift.amazonaws.com); "
            "set `cluster_identifier:` (or `workgroup:` for Redshift Serverless)"
        )


class RedshiftTargetSpec(BoundedTarget):
    kind: Literal["redshift"]
    host: str
    port: int = 5439
    database: str
    user: str
    password: SecretStr = SecretStr("")
    iam_role: str | None = Field(
        None, description="IAM role ARN for COPY, or `default` for the cluster's default role."
    )
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None
    aws_session_token: SecretStr | None = Field(
        None, description="With temporary access keys: their session token."
    )
    region: str | None = Field(
        None,
        description="The cluster's AWS region; default: read from an AWS endpoint host name. "
        "The store's bucket must be in it.",
    )
    sslmode: RedshiftSslMode | None = Field(
        None,
        description="verify-full (checks the host name) or verify-ca; default verify-ca "
        "through `ssh:` (the client connects to 127.0.0.1), verify-full otherwise.",
    )
    ssh: str | None = None
    workgroup: str | None = Field(
        None,
        description="Redshift Serverless: the workgroup's name; default: read from a "
        "`<workgroup>.<account>.<region>.redshift-serverless.amazonaws.com` host.",
    )
    iam_auth: bool = Field(
        False,
        description="Log in with a temporary password from IAM (the AWS credentials of the "
        "process, or `profile:`) instead of `password:`. Not COPY's `iam_role`.",
    )
    cluster_identifier: str | None = Field(
        None,
        description="With `iam_auth` on a provisioned cluster: its identifier; default: the "
        "first label of a `<cluster>.<id>.<region>.redshift.amazonaws.com` host.",
    )
    db_user: str | None = Field(
        None, description="With `iam_auth` on a provisioned cluster: the database user; "
        "default: `user`.",
    )  # fmt: skip
    profile: str | None = Field(
        None, description="With `iam_auth`: the AWS profile whose credentials ask IAM."
    )
    json_mode: JsonMode = Field(
        "varchar",
        alias="json",
        description="JSON columns as text (varchar, the default) or parsed into the target's "
        "JSON type: SUPER on Redshift (JSONB, JSON on the stand-ins). A table's `json:` wins.",
    )

    @property
    def serverless(self) -> bool:
        """Redshift Serverless: a workgroup is named, or the host is a workgroup's endpoint."""
        return self.workgroup is not None or ".redshift-serverless." in self.host.lower()

    @property
    def serverless_workgroup(self) -> str | None:
        if self.workgroup:
            return self.workgroup
        match = _SERVERLESS_HOST.match(self.host.lower())
        return match.group(1) if match else None

    @property
    def serverless_account(self) -> str | None:
        match = _SERVERLESS_HOST.match(self.host.lower())
        return match.group(2) if match else None

    @property
    def iam_cluster_identifier(self) -> str | None:
        if self.cluster_identifier:
            return self.cluster_identifier
        match = _CLUSTER_HOST.match(self.host.lower())
        return match.group(1) if match else None

    @property
    def cluster_region(self) -> str | None:
        if self.region:
            return self.region
        match = _REDSHIFT_HOST_REGION.search(self.host.lower())
        return match.group(1) if match else None

    @property
    def effective_sslmode(self) -> RedshiftSslMode:
        if self.sslmode is not None:
            return self.sslmode
        return "verify-ca" if self.ssh else "verify-full"

    @model_validator(mode="after")
    def _valid(self) -> RedshiftTargetSpec:
        check_redshift_target(self)
        return self


class PostgresTargetSpec(BoundedTarget):
    """PostgreSQL running the Redshift SQL (tests and Redshift-less development)."""

    kind: Literal["postgres"]
    host: str = "127.0.0.1"
    port: int = 5432
    database: str
    user: str
    password: SecretStr = SecretStr("")
    ssh: str | None = None
    json_mode: JsonMode = Field(
        "varchar",
        alias="json",
        description="JSON columns as text (varchar, the default) or parsed into the target's "
        "JSON type: SUPER on Redshift (JSONB, JSON on the stand-ins). A table's `json:` wins.",
    )


TargetSpec = Annotated[
    DuckDBTargetSpec | RedshiftTargetSpec | PostgresTargetSpec, Field(discriminator="kind")
]


class ConnectionsFile(Strict):
    sources: dict[str, SourceSpec] = {}
    stores: dict[str, StoreSpec] = {}
    targets: dict[str, TargetSpec] = {}
    ssh: dict[str, SshSpec] = {}

    @model_validator(mode="after")
    def _ssh_names_exist(self) -> ConnectionsFile:
        for group, entries in (("sources", self.sources), ("targets", self.targets)):
            for name, spec in entries.items():
                ref = getattr(spec, "ssh", None)
                if ref is not None and ref not in self.ssh:
                    raise ValueError(f"{group}.{name}.ssh: no entry {ref!r} under `ssh:`")
        return self
