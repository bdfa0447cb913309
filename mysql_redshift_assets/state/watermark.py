"""Per-table extraction state, kept as JSON in the object store next to the table's files.

The watermark answers three questions, each from facts written in the same atomic PUT:
- where extraction resumes (`position`, the last (cursor, pk) durably in a file),
- which files exist (`files`: every Parquet file written and recorded, with its footer row count),
- what the last session and all sessions did (`session`, `cumulative`).
A file is added and the position moved in ONE write, after the file is durably stored, so a killed
run resumes with no gap and no duplicate. Which files are *loaded* is not kept here: the
warehouse's load ledger is the only authority on that (seeds 000, 001, 003: three counters that
disagreed).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.position import Position
from mysql_redshift_assets.extract.samples import Sample
from mysql_redshift_assets.naming import new_lineage, warehouse_names, watermark_key
from mysql_redshift_assets.state.lease import lease_for
from mysql_redshift_assets.store.objectstore import ObjectStore

Status = Literal["new", "running", "success", "failed"]
WATERMARK_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileRecord(_Model):
    key: str
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    fingerprint: str
    run_id: str
    written_at: datetime
    # The generation the file belongs to (None: an increment). Watermarks written before the
    # word was "generation" say "snapshot": both are read.
    generation: str | None = Field(None, validation_alias=AliasChoices("generation", "snapshot"))
    partition: str | None = None
    first: Position | None = None
    last: Position | None = None
    # Rows in the file at or before the position the run started from (the re-read window).
    reread_rows: int = Field(0, ge=0)
    # `capture: binlog`: the binlog position after the file's last transaction
    # (`extract/binlog/positions.py`, as JSON): where the next read resumes.
    binlog_to: dict[str, Any] | None = None


class Counts(_Model):
    rows: int = 0
    files: int = 0
    bytes: int = 0

    def add(self, record: FileRecord) -> None:
        self.rows += record.rows
        self.files += 1
        self.bytes += record.bytes


class Session(_Model):
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    status: Status = "running"
    error: str | None = None
    position_before: Position | None = None
    position_after: Position | None = None
    counts: Counts = Counts()


class ReadTo(_Model):
    """The last incremental run that read everything up to its bound (not cut short by
    `max_rows`): every row committed before it with `cursor op value` is in its files. A row
    that is older still by more than the run's re-read window and that the warehouse lacks is
    missing, not pending (`maintenance/settled.py`)."""

    op: Literal["<", "<="]
    value: str  # the bound as the run compared it (a wall clock in the table's zone, an id)
    window_seconds: int = Field(ge=0)
    at: datetime | None = None  # an integer cursor: the source's clock when it took its sample
    run_id: str


class Generation(_Model):
    """A set of files that replaces a full table (partition None) or one partition's window."""

    id: str
    partition: str | None = None
    complete: bool = False
    rows: int = 0
    files: int = 0
    # A window's: what its read could prove before the snapshot opened (`snapshot_bounds`:
    # time, a UTC instant every row stamped before had committed; id, every id at or below),
    # and whether the window reached past it: then rows may still commit into it, and the next
    # sync of the table reads the window again.
    safe_bound: str | None = None
    provisional: bool = False


class Watermark(_Model):
    version: int = WATERMARK_VERSION
    table: str
    mode: str
    status: Status = "new"
    position: Position | None = None
    next_seq: int = 0
    # One life of the table's state, part of every increment's key (naming.new_lineage); None
    # in a watermark written before lineages (`WatermarkStore.load`), whose keys stay the same.
    lineage: str | None = Field(default_factory=new_lineage)
    columns: dict[str, str] = {}
    # The warehouse name of each target schema / table name (as the YAML gives it) the table was
    # extracted for, like `columns`: recorded on every save, kept from then on, so a table never
    # moves away from its rows and ledger (`naming.target_table`). A watermark written before
    # the field gets the names of its time (`WatermarkStore.load`).
    warehouse_names: dict[str, str] = {}
    primary_key: list[str] = []
    cursor: str | None = None
    session: Session | None = None
    cumulative: Counts = Counts()
    files: list[FileRecord] = []
    generations: list[Generation] = Field(
        [], validation_alias=AliasChoices("generations", "snapshots")
    )
    samples: list[Sample] = []
    # The server's UTC clock before the last successful increment's first read: the next
    # run's re-read window reaches back from it (extract/bounds.py). None: not recorded yet
    # (the window is then measured back from the position).
    last_read_at: datetime | None = None
    read_to: ReadTo | None = None
    # `capture: binlog`: the binlog position every change before which is in a recorded file
    # (or in the generation the initial copy read at it); None: no copy yet.
    binlog_position: dict[str, Any] | None = None
    updated_at: datetime | None = None
    # The `where:` the table's rows were read through since its last whole-table read (a
    # first copy, a full generation, a resync); an increment under another filter is refused
    # (`extract/row_filter.check_filter_unchanged`).
    row_filter: str | None = None

    def begin_session(
        self, run_id: str, columns: dict[str, str], primary_key: list[str], cursor: str | None
    ) -> None:
        """A run starts: the table's current name mapping and keys, and a new session."""
        self.columns = {**self.columns, **columns}
        self.primary_key, self.cursor = primary_key, cursor
        self.status = "running"
        before = self.position.model_copy() if self.position else None
        self.session = Session(run_id=run_id, started_at=utcnow(), position_before=before)

    def read_up_to(self, read_to: ReadTo) -> None:
        """This run read every committed row up to its bound (see `ReadTo`)."""
        self.read_to = read_to

    def begin_generation(self, generation_id: str, partition: str | None) -> None:
        """A new generation of files that will replace the table (or one partition's window)."""
        self.generation(generation_id).partition = partition

    def prove_generation(
        self, generation_id: str, safe_bound: str | None, *, provisional: bool
    ) -> None:
        """What a window's read proved (see `Generation`)."""
        generation = self.generation(generation_id)
        generation.safe_bound, generation.provisional = safe_bound, provisional

    def provisional_partitions(self) -> list[Generation]:
        """The newest complete generation of each window, where it is provisional: rows may
        have committed into the window after it was read (the next sync reads it again)."""
        newest: dict[str, Generation] = {}
        for generation in self.generations:
            if generation.partition and generation.complete:
                newest[generation.partition] = generation
        return [g for g in newest.values() if g.provisional]

    def end_generation(self, generation_id: str, *, complete: bool) -> None:
        """A generation cut short (`max_rows`) is not the table: a load never replaces with it."""
        self.generation(generation_id).complete = complete

    def read_through(self, read_at: datetime | None) -> None:
        """An increment has stored every row of its range, read after the server's clock
        showed `read_at`: the next run's re-read window may reach back from it. Never called
        for a run that failed (it may have stored only part of what it read)."""
        if read_at is not None:
            self.last_read_at = read_at

    def succeed(self) -> None:
        assert self.session is not None
        self.status = "success"
        self.session.status = "success"
        self.session.finished_at = utcnow()
        self.session.position_after = self.position

    def fail(self, error: BaseException) -> None:
        self.status = "failed"
        if self.session is not None:
            self.session.status = "failed"
            self.session.error = f"{type(error).__name__}: {str(error)[:500]}"
            self.session.finished_at = utcnow()

    def record_file(self, record: FileRecord, position: Position | None) -> None:
        """Add a durably stored file and move the position past its rows, as one change."""
        self.files.append(record)
        self.cumulative.add(record)
        if self.session is not None:
            self.session.counts.add(record)
            self.session.position_after = position
        if record.generation is None:
            self.next_seq += 1
            self.position = position
            if record.binlog_to is not None:
                self.binlog_position = record.binlog_to
        else:
            generation = self.generation(record.generation)
            generation.rows += record.rows
            generation.files += 1

    def generation(self, generation_id: str) -> Generation:
        for generation in self.generations:
            if generation.id == generation_id:
                return generation
        generation = Generation(id=generation_id)
        self.generations.append(generation)
        return generation

    def latest_complete_generation(self, partition: str | None = None) -> Generation | None:
        complete = [g for g in self.generations if g.complete and g.partition == partition]
        return complete[-1] if complete else None

    def files_of(self, generation_id: str | None) -> list[FileRecord]:
        """The files of one generation, or (None) the increments."""
        return [f for f in self.files if f.generation == generation_id]


class WatermarkError(ValueError):
    """A watermark that cannot be read; the message says how to repair it."""


class WatermarkStore:
    """Reads and writes watermarks in an object store (one JSON object a table)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def load(self, table: TableConfig) -> Watermark | None:
        key = watermark_key(table)
        raw = self.store.get_bytes(key)
        if raw is None:
            return None
        fix = (
            f"fix it by hand or reset it with "
            f"`mysql-redshift watermark reset -p {table.pipeline} -t {table.qualified}`"
        )
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WatermarkError(f"{self.store.uri(key)}: not valid JSON ({exc}); {fix}") from None
        if isinstance(data, dict):
            data.setdefault("lineage", None)  # stored before lineages: not a new life
            # Stored before the names were recorded: loaded under the ASCII-only names.
            data.setdefault("warehouse_names", warehouse_names(table, legacy=True))
        try:
            watermark = Watermark.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise WatermarkError(
                f"{self.store.uri(key)}: key {where}: {first['msg']}; {fix}"
            ) from None
        if watermark.table != table.qualified:
            raise WatermarkError(
                f"{self.store.uri(key)}: belongs to table {watermark.table!r}, "
                f"not {table.qualified!r}; {fix}"
            )
        return watermark

    def save(self, table: TableConfig, watermark: Watermark) -> None:
        """Write `watermark`, recording the warehouse names the table has from now on. Under
        the table's lease (`state/lease.py`), conditionally: LeaseLost if it was lost."""
        names = warehouse_names(table, watermark)
        watermark.warehouse_names = {**watermark.warehouse_names, **names}
        watermark.updated_at = utcnow()
        key, data = watermark_key(table), watermark.model_dump_json(indent=1).encode()
        lease = lease_for(self.store, key)
        if lease is None:  # no run of this process holds the table (a test, a repair by hand)
            self.store.put_bytes(data, key)
        else:  # only while holding it, and only over the version it last saw
            lease.write_watermark(key, data)

    def delete(self, table: TableConfig) -> None:
        self.store.delete([watermark_key(table)])
