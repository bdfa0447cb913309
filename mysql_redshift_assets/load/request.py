"""What a load is asked (`LoadRequest`), what it answers (`LoadResult`), and how it fails."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.naming import ledger_entry_name, target_table
from mysql_redshift_assets.state.watermark import FileRecord, Watermark


class LoadError(RuntimeError):
    """A load that was rolled back; target and ledger are as they were."""


class StaleLoad(LoadError):
    """Under the target's lock, the request's fence found that the table's state moved on since
    the request was built (a resync switched it to a new lineage, a newer generation replaced
    the one staged): rolled back, never retried with the same request; build it again from a
    freshly read watermark (`sync/load.py`)."""


class SortKey(NamedTuple):
    """Redshift's SORTKEY as the YAML names it: `compound` or `interleaved`, normalised columns."""

    kind: str
    columns: list[str]


class PhysicalKeys(NamedTuple):
    """DISTKEY and SORTKEY for the target's DDL (None: AUTO), and why a named one fell back."""

    distkey: str | None
    sortkey: SortKey | None
    warnings: list[str]


class ReplaceWindow(NamedTuple):
    """A partition's window in the warehouse: the rows with `lo <= column < hi` (normalised
    column) are deleted, then the window's files inserted, in one transaction."""

    column: str
    lo: object
    hi: object


# Evaluated under the target's lock: None while the request's files are still what the table's
# state says to load; else why not.
Fence = Callable[[], str | None]


@dataclass(frozen=True)
class LoadRequest:
    table: TableConfig
    primary_key: list[str]  # normalised names
    cursor: str | None  # normalised name
    candidates: list[FileRecord]
    run_id: str
    distkey: str | None = None
    sortkey: SortKey | None = None
    window: ReplaceWindow | None = None  # a partition's load replaces its window
    # The table's watermark: the warehouse names it recorded are the target's (naming.py).
    watermark: Watermark | None = None
    # Checked under the lock before anything is written (`check_fence`); built by the caller,
    # which knows where the table's state lives (`sync/load.py`).
    fence: Fence | None = None

    @property
    def mode(self) -> str:
        return self.table.mode

    @property
    def target_schema(self) -> str:
        return target_table(self.table, self.watermark)[0]

    @property
    def target_table(self) -> str:
        return target_table(self.table, self.watermark)[1]

    @property
    def ledger_name(self) -> str:
        return ledger_entry_name(self.table, self.watermark)


def check_fence(request: LoadRequest, where: str) -> None:
    """Raise StaleLoad if the request's fence says its files are no longer the table's; called
    with the target locked, after the ledger re-check, before the first write."""
    reason = request.fence() if request.fence is not None else None
    if reason is not None:
        raise StaleLoad(f"{where}: {reason}; rolled back, target and ledger are unchanged")


@dataclass
class LoadResult:
    rows_loaded: int = 0
    files_loaded: list[str] = field(default_factory=list)
    already_loaded: int = 0
    table_rows: int = 0
    seconds: float = 0.0
    copies: list[int] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=dict)
    # Keys MySQL no longer has, deleted by the delete pass after the load (sync/deletes.py).
    rows_deleted: int = 0
    # How long the target was locked (merge + ledger + commit; staging happens before).
    lock_seconds: float = 0.0
    # Transactions run: more than 1 after a serialization failure or a rival load.
    attempts: int = 1

    @property
    def rows_per_second(self) -> float:
        return self.rows_loaded / self.seconds if self.seconds > 0 else 0.0
