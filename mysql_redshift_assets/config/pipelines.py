"""The YAML contract of `<pipeline>.yml`: the tables of one pipeline and their defaults, with
unknown keys rejected (`config/connections.py`: the connections they name)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mysql_redshift_assets.config.connections import JsonMode, Strict, check_time_zone
from mysql_redshift_assets.config.row_filter import FilterSyntaxError, parse_filter

Mode = Literal["incremental", "full", "time", "id_range"]

#: Built-in defaults, the last level of the hierarchy table > pipeline > default.
DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_FILE_ROWS = 1_000_000
DEFAULT_UPPER_BOUND_LAG_SECONDS = 5
# Every incremental run re-reads the rows whose cursor is this close behind the stored
# position (the README's "late commits" says why 15 minutes).
DEFAULT_LATE_COMMIT_WINDOW_SECONDS = 900


# https://docs.aws.amazon.com/redshift/latest/dg/t_Sorting_data.html: "An INTERLEAVED sort key
# can use a maximum of eight columns."
MAX_INTERLEAVED_COLUMNS = 8


def check_hash_key(value: str | None) -> None:
    """A `hash_key:` names an environment variable: the secret never sits in a YAML file."""
    if value is not None and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", value.strip()):
        raise ValueError(
            "hash_key: write it as `${ENV_VAR}`, the environment variable holding the key "
            "(the key itself is a secret: never in a file)"
        )


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
    capture: Literal["binlog"] | None = Field(
        None,
        description="Mode incremental: read every change (deletes, key changes, updates that "
        "touch no timestamp) from MySQL's row-based binlog instead of a cursor column. Needs "
        "the binlog on (ROW, FULL images and metadata) and REPLICATION grants; see "
        "docs/binlog.md.",
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
    deletes: Literal["propagate", "ignore", "soft"] | None = Field(
        None,
        description="Mode incremental: remove from the warehouse the keys MySQL no longer has "
        "(propagate, the default), keep them (ignore, e.g. MySQL purges history the "
        "warehouse keeps) or keep them marked deleted (soft: `mra$deleted_at`, the deletion "
        "time, NULL for live rows). Full and partitioned modes replace what they reload.",
    )
    deletes_every_minutes: float = Field(
        0,
        ge=0,
        le=525_600,
        description="Run the delete pass at most this often (0: after every load); it reads "
        "MySQL's primary-key index once per pass.",
    )
    history: bool = Field(
        False,
        description="Mode incremental with a primary key: keep every version the capture sees "
        "(type 2) with `mra$valid_from` / `mra$valid_to` (NULL: current) and `mra$version`; "
        "a delete closes the key's current version. The current rows: `mra$valid_to IS NULL`.",
    )
    json_mode: JsonMode | None = Field(
        None,
        alias="json",
        description="JSON columns as text (varchar) or parsed into SUPER (JSONB, JSON on the "
        "stand-ins); default: the target's `json:`, else varchar.",
    )

    where: str | None = Field(
        None,
        description="Row filter: only MySQL's rows where this predicate holds reach the "
        'warehouse (README "Row filters": the accepted predicates).',
    )

    @field_validator("where")
    @classmethod
    def _filter_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_filter(value)
            except FilterSyntaxError as exc:
                raise ValueError(f"where: {exc}") from None
        return value

    exclude_columns: list[str] = Field(
        default_factory=list,
        description="Columns never read: no SELECT names them, binlog images lose them on "
        "receipt; never in a file, a log line or metadata. Not a key or the cursor.",
    )
    hash_columns: list[str] = Field(
        default_factory=list,
        description="Columns stored as HMAC-SHA-256(hash_key, value), 64 hex characters, "
        "computed before any file (by MySQL on query capture). Text, integer or binary; not "
        "a key or the cursor.",
    )
    hash_key: str | None = Field(
        None,
        description="`${ENV_VAR}` holding the key of `hash_columns:` (default: the pipeline's).",
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
        if self.capture == "binlog":
            self._binlog_rules()
        elif self.mode == "incremental" and self.cursor is None and not self.append_only:
            raise ValueError(
                "an incremental table needs `cursor: <column>` (a column every insert and "
                "update sets, e.g. updated_at) or `append_only: true` (rows are only inserted, "
                "with growing keys: updates are then never captured)"
            )
        if self.append_only and self.mode != "incremental":
            raise ValueError("`append_only:` is only for mode incremental")
        if self.cursor_fallback is not None and (self.cursor is None or self.mode != "incremental"):
            raise ValueError("`cursor_fallback:` needs mode incremental and a `cursor:`")
        if self.deletes in ("propagate", "soft") and self.mode != "incremental":
            raise ValueError(
                f"`deletes: {self.deletes}` is only for mode incremental (full and partitioned "
                "modes replace the table or window they reload, deletes included)"
            )
        self._history_rules()
        return self

    def _history_rules(self) -> None:
        """`history: true` keeps the versions merges see: only merges on a key have them."""
        if not self.history:
            return
        if self.mode != "incremental":
            raise ValueError(
                f"`history: true` is only for mode incremental, not mode {self.mode} (a full or "
                "partitioned load replaces what it reloads, so it has no versions to keep)"
            )
        if self.append_only:
            raise ValueError(
                "`history: true` with `append_only: true`: rows are never updated, so there are "
                "no versions to keep; remove one of them"
            )
        if self.deletes == "soft":
            raise ValueError(
                "`history: true` with `deletes: soft`: history already keeps a deleted key (its "
                "last version is closed, `mra$valid_to`, and none is current); remove `deletes: "
                "soft`"
            )
        if self.primary_key == []:
            raise ValueError("`history: true` needs a primary key")

    def _binlog_rules(self) -> None:
        """`capture: binlog` replaces the cursor's contract: the keys that shape a cursor's
        reads (its column, its lag, its re-read window, the delete pass) do not apply."""
        if self.mode != "incremental":
            raise ValueError(
                f"`capture: binlog` is only for mode incremental, not mode {self.mode} (a full "
                "or partitioned table reloads what it replaces)"
            )
        excluded = {
            "cursor": self.cursor is not None,
            "append_only": self.append_only,
            "cursor_fallback": self.cursor_fallback is not None,
            "upper_bound_lag_seconds": self.upper_bound_lag_seconds is not None,
            "late_commit_window_seconds": self.late_commit_window_seconds is not None,
            "deletes_every_minutes": self.deletes_every_minutes != 0,
        }
        given = [k for k, v in excluded.items() if v]
        if given:
            raise ValueError(
                f"`capture: binlog` reads every committed change from the binlog in commit "
                f"order, so {', '.join(f'`{k}:`' for k in given)} does not apply: remove it "
                "(deletes come with the stream; `deletes: ignore` keeps deleted rows)"
            )

    @model_validator(mode="after")
    def _column_lists(self) -> TableSpec:
        both = sorted(set(self.exclude_columns) & set(self.hash_columns))
        if both:
            raise ValueError(
                f"hash_columns: {', '.join(both)} also in `exclude_columns:`; an excluded "
                "column is never read, so it cannot be hashed: keep it in one list"
            )
        check_hash_key(self.hash_key)
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


# A run that has not ended after a day is hung (a first load of a very large table can take
# hours: raise it for that pipeline). Dagster enforces it only with run monitoring on.
DEFAULT_MAX_RUNTIME_SECONDS = 86_400


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
    max_runtime_seconds: int = Field(
        DEFAULT_MAX_RUNTIME_SECONDS, ge=0, le=7 * 86_400,
        description="The `dagster/max_runtime` tag of the pipeline's runs: with run monitoring "
        "on, a run still going after this long is failed and its slots freed. 0 = no bound.",
    )  # fmt: skip
    s3clean: S3CleanSchedule | None = None
    schedule: ScheduleSpec | None = Field(
        None, description="Runs the pipeline's unpartitioned tables."
    )
    tables: dict[str, TableSpec]
    hash_key: str | None = Field(
        None, description="`${ENV_VAR}` holding the key of the tables' `hash_columns:`."
    )

    @model_validator(mode="after")
    def _hash_keys(self) -> PipelineFile:
        check_hash_key(self.hash_key)
        for name, table in self.tables.items():
            if table.hash_columns and table.hash_key is None and self.hash_key is None:
                raise ValueError(
                    f"table {name!r}, key hash_columns: needs `hash_key: ${{ENV_VAR}}` on the "
                    "table or the pipeline (the secret key of the HMAC)"
                )
        return self

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
