"""The YAML contract: pydantic models with unknown keys rejected.

`connections.yml` names where data comes from (sources), where files go (stores) and where
they are loaded (targets), plus SSH bastions. `<pipeline>.yml` lists the tables of one pipeline.
String values may hold `${ENV_VAR}` (or `${ENV_VAR:-default}`); they are resolved only when a
connection is opened (`config.env.resolve_env`), so a missing secret never breaks loading
definitions, and the error names the connection and the variable.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

Mode = Literal["incremental", "full", "time", "id_range"]

#: Built-in defaults, the last level of the hierarchy table > pipeline > default.
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_FILE_ROWS = 1_000_000
DEFAULT_UPPER_BOUND_LAG_SECONDS = 5
# Every incremental run re-reads the rows whose cursor is this close behind the stored
# position (the README's "late commits" says why 15 minutes).
DEFAULT_LATE_COMMIT_WINDOW_SECONDS = 900


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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshSpec(Strict):
    host: str
    port: int = 22
    user: str
    private_key: str | None = Field(None, description="Path to the private key; none = ssh-agent.")
    private_key_passphrase: SecretStr | None = Field(
        None, description="Passphrase of an encrypted private key (use ${ENV_VAR})."
    )
    known_hosts: str | None = Field(
        None, description="known_hosts file to verify the host key; default ~/.ssh/known_hosts."
    )
    verify_host_key: bool = True
    keepalive_seconds: int = Field(30, ge=0, description="SSH keepalive interval; 0 = off.")
    connect_timeout_seconds: float = Field(10, gt=0, le=600)


# How keyset pages are read (extract/readers/): auto = wire where its C parser was built at
# install, else connectorx; pymysql = MySQL's text protocol (the slowest, and the fallback).
ReaderName = Literal["auto", "wire", "connectorx", "pymysql"]


class MySQLSourceSpec(Strict):
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


# An IAM role ARN (a comma-separated chain of them is allowed by COPY), or the bare keyword
# `default`: https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-authorization.html
_ROLE_ARN = r"arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]+"
_IAM_ROLE = re.compile(rf"^(default|{_ROLE_ARN}(,{_ROLE_ARN})*)$")
# <cluster>.<id>.<region>.redshift.amazonaws.com; <workgroup>.<account>.<region>.redshift-serverless...
_REDSHIFT_HOST_REGION = re.compile(
    r"\.([a-z]{2}(-gov)?-[a-z]+-\d)\.redshift(-serverless)?\.amazonaws\.com(\.cn)?$"
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


class RedshiftTargetSpec(Strict):
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


class PostgresTargetSpec(Strict):
    """PostgreSQL running the Redshift SQL (tests and Redshift-less development)."""

    kind: Literal["postgres"]
    host: str = "127.0.0.1"
    port: int = 5432
    database: str
    user: str
    password: SecretStr = SecretStr("")
    ssh: str | None = None


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


# https://docs.aws.amazon.com/redshift/latest/dg/t_Sorting_data.html: "An INTERLEAVED sort key
# can use a maximum of eight columns."
MAX_INTERLEAVED_COLUMNS = 8


class SortKeySpec(Strict):
    type: Literal["compound", "interleaved"] = "compound"
    columns: list[str]


class TimePartitionsSpec(Strict):
    """`mode: time`: one partition a window [start, end) of the `cursor` timestamp column."""

    granularity: Literal["hourly", "daily", "monthly"] = "daily"
    start: str = Field(description="First partition, e.g. '2024-01-01' or '2024-01-01 00:00'.")
    timezone: str = "UTC"


class IdRangeSpec(Strict):
    """`mode: id_range`: partitions of `size` primary-key values, added by a sensor."""

    size: int = Field(ge=1, le=10_000_000_000)
    sensor_interval_seconds: int = Field(300, ge=30)
    sensor_default_status: Literal["running", "stopped"] = "running"


class ScheduleSpec(Strict):
    cron: str = Field(description="e.g. '15 * * * *'")
    timezone: str = "UTC"
    default_status: Literal["running", "stopped"] = "stopped"


class SensorSpec(Strict):
    """Start a run when MySQL has rows past the watermark (incremental tables)."""

    default_status: Literal["running", "stopped"] = "stopped"
    interval_seconds: int = Field(120, ge=30)


class TableSpec(Strict):
    mode: Mode = "incremental"
    cursor: str | None = Field(
        None, description="Cursor column: set on every insert and update (e.g. updated_at)."
    )
    append_only: bool = Field(
        False,
        description="Incremental without a cursor: rows are only ever inserted, with growing "
        "primary keys; updates are NOT captured.",
    )
    cursor_fallback: str | None = Field(
        None,
        description="Column used where the cursor is NULL: the keyset runs on "
        "COALESCE(cursor, cursor_fallback).",
    )
    time_zone: str | None = Field(
        None, description="Zone of this table's DATETIME values; default: the source's."
    )
    late_commit_window_seconds: int | None = Field(None, ge=0, le=30 * 86_400)
    primary_key: list[str] | None = Field(None, description="Default: read from the source.")
    chunk_rows: int | None = Field(None, ge=1, le=10_000_000)
    file_rows: int | None = Field(None, ge=1, le=50_000_000)
    max_rows: int | None = Field(None, ge=1, description="Cap on rows extracted in one run.")
    target_schema: str | None = None
    target_table: str | None = None
    distkey: str | None = None
    sortkey: SortKeySpec | list[str] | str | None = None
    upper_bound_lag_seconds: int | None = Field(None, ge=0, le=86_400)
    freshness_hours: float | None = Field(
        None,
        gt=0,
        description="The freshness check fails when no extraction succeeded for this long.",
    )
    partitions: TimePartitionsSpec | None = None
    id_range: IdRangeSpec | None = None
    schedule: ScheduleSpec | None = None
    new_data_sensor: SensorSpec | None = None
    text_overflow: Literal["error", "truncate"] = Field(
        "error",
        description="Text over Redshift's 65,535-byte VARCHAR: refuse the load (error) or cut "
        "it at extraction, counted in metadata (truncate).",
    )
    deletes: Literal["propagate", "ignore"] | None = Field(
        None,
        description="Mode incremental: remove from the warehouse the keys MySQL no longer has "
        "(propagate, the default) or keep them (ignore, e.g. MySQL purges history the "
        "warehouse keeps). Full and partitioned modes replace what they reload.",
    )
    deletes_every_minutes: float = Field(
        0,
        ge=0,
        le=525_600,
        description="Run the delete pass at most this often (0: after every load); it reads "
        "MySQL's primary-key index once per pass.",
    )

    @model_validator(mode="after")
    def _mode_needs(self) -> TableSpec:
        if self.mode == "time" and (self.partitions is None or self.cursor is None):
            raise ValueError("mode time needs `partitions:` and `cursor:` (the timestamp column)")
        if self.mode != "time" and self.partitions is not None:
            raise ValueError("`partitions:` is only for mode time")
        if self.mode == "id_range" and self.id_range is None:
            raise ValueError("mode id_range needs `id_range: {size: N}`")
        if self.mode != "id_range" and self.id_range is not None:
            raise ValueError("`id_range:` is only for mode id_range")
        if self.new_data_sensor is not None and self.mode != "incremental":
            raise ValueError("`new_data_sensor:` is only for mode incremental")
        if self.mode == "incremental" and self.cursor is None and not self.append_only:
            raise ValueError(
                "an incremental table needs `cursor: <column>` (a column every insert and "
                "update sets, e.g. updated_at) or `append_only: true` (rows are only inserted, "
                "with growing keys: updates are then never captured)"
            )
        if self.append_only and self.mode != "incremental":
            raise ValueError("`append_only:` is only for mode incremental")
        if self.cursor_fallback is not None and (self.cursor is None or self.mode != "incremental"):
            raise ValueError("`cursor_fallback:` needs mode incremental and a `cursor:`")
        if self.deletes == "propagate" and self.mode != "incremental":
            raise ValueError(
                "`deletes: propagate` is only for mode incremental (full and partitioned modes "
                "replace the table or window they reload, deletes included)"
            )
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return check_time_zone(value)

    @model_validator(mode="after")
    def _interleaved_limit(self) -> TableSpec:
        key = self.sortkey
        if isinstance(key, SortKeySpec) and key.type == "interleaved":
            if len(key.columns) > MAX_INTERLEAVED_COLUMNS:
                raise ValueError(
                    f"sortkey: an interleaved sort key takes at most {MAX_INTERLEAVED_COLUMNS} "
                    f"columns in Redshift, not {len(key.columns)}; use fewer, or type: compound"
                )
        return self

    @field_validator("primary_key", mode="before")
    @classmethod
    def _one_string_is_a_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class S3CleanSchedule(Strict):
    cron: str = Field(description="When the s3clean job runs, e.g. '0 3 * * *'.")
    older_than: str = "7d"
    pattern: str | None = None
    dry_run: bool = True
    timezone: str = "UTC"


class PipelineFile(Strict):
    source: str
    store: str
    target: str
    target_schema: str = "public"
    store_prefix: str = Field("", description="Extra path below the store's own prefix.")
    chunk_rows: int = Field(DEFAULT_CHUNK_ROWS, ge=1, le=10_000_000)
    file_rows: int = Field(DEFAULT_FILE_ROWS, ge=1, le=50_000_000)
    upper_bound_lag_seconds: int = Field(DEFAULT_UPPER_BOUND_LAG_SECONDS, ge=0, le=86_400)
    late_commit_window_seconds: int = Field(
        DEFAULT_LATE_COMMIT_WINDOW_SECONDS,
        ge=0,
        le=30 * 86_400,
        description="Every incremental run re-reads rows whose cursor is this close behind "
        "the stored position (late commits).",
    )
    description: str | None = None
    freshness_hours: float | None = Field(None, gt=0)
    s3clean: S3CleanSchedule | None = None
    schedule: ScheduleSpec | None = Field(
        None, description="Runs the pipeline's unpartitioned tables."
    )
    tables: dict[str, TableSpec]

    @field_validator("tables")
    @classmethod
    def _qualified_names(cls, tables: dict[str, TableSpec]) -> dict[str, TableSpec]:
        if not tables:
            raise ValueError("a pipeline needs at least one table")
        for name in tables:
            # The first dot ends the schema: `shop.order.items` is table `order.items`.
            parts = name.split(".", 1)
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"table {name!r}: write it as <mysql_schema>.<table>")
        return tables
