"""Exactly-once loads: files are staged, then merged and recorded in the ledger in one transaction.

    BEGIN                               -- staging: the target is not locked
      pending := candidates - ledger    -- what to stage
      for each run of files with one schema:
        CREATE TEMP TABLE staging (...) -- mirrors the files' own columns, in file order;
                                        -- a name unique to this attempt
        COPY staging <- exactly these files (manifest of keys, never a prefix; 0-row files skipped)
        check: rows copied == rows in the files' footers
    COMMIT                              -- temp tables live on in the session; nothing else changed
    BEGIN                               -- the load: the lock is held only for this
      LOCK target                       -- two loads of one table never interleave
      re-read candidates - ledger       -- under the lock: another load may have taken files
                                        -- meanwhile; then roll back and start again
      the request's fence               -- its files still the table's (not superseded by a
                                        -- resync's lineage or a newer generation), else
                                        -- roll back: StaleLoad, for the caller to rebuild
      merge: delete + insert on the primary key, the latest version of a key (cursor,
             then file, then row: `latest_first`) (incremental) | replace everything (full)
      INSERT one ledger row per file
    COMMIT                              -- or ROLLBACK: target and ledger untouched

Re-running is harmless: a file in the ledger is never loaded again. A transaction the database
aborts as not serializable (Redshift ERROR 1023, PostgreSQL SQLSTATE 40001) is run again with
backoff, as AWS advises: it is idempotent
(https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation-serializable-isolation-troubleshooting.html);
`retry.py` runs every warehouse write so (this load, the swap, the rebuild, the delete pass).

A big backlog (the first load of a big table, 1c-9) is not one staging table and one window
merge under the lock: an incremental load without a window whose pending files hold more than
`TRANSACTION_BYTES` runs as consecutive loads of runs of files in file order, each the
algorithm above (staged, locked, merged, its ledger rows, committed). A crash between two leaves
a prefix of the files in the table and the ledger; the next load takes the rest. The rows are
those of separate loads of each run, as if the syncs had come more often: the files are in the
order the extraction read them (`Watermark.record_file` appends each durably stored increment
after the previous one, and `candidate_files` returns them in that order), so a key's row in a
later file is what MySQL held later, and a later run's merge replaces it by key. One merge of
all the files would rank a key's versions by cursor first (`latest_first`); the two agree
unless a key's cursor went down between two reads (set back, or to a zero date), and then the
later read, which the runs keep, is MySQL's row.
`LoadResult.lock_seconds` is how long the target was locked. `ExactlyOnceWarehouse` holds this
algorithm once, over the contract of `base.Warehouse`; each dialect (`redshift.py`,
`postgres.py`, `duckdb.py`) states its own record, lock, table options, text check and the one
step that moves file bytes into staging.
"""

from __future__ import annotations

import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, replace

from mysql_redshift_assets.identifiers import KEY_IDENTITY, quote_ident
from mysql_redshift_assets.load import versions
from mysql_redshift_assets.load.alter import create_or_widen
from mysql_redshift_assets.load.base import CopyBatch, Warehouse
from mysql_redshift_assets.load.files import group_columns, read_footers, schema_groups
from mysql_redshift_assets.load.keyless_changes import keyless_change_sql
from mysql_redshift_assets.load.request import LoadError, LoadRequest, LoadResult, check_fence
from mysql_redshift_assets.load.retry import LOAD_ATTEMPTS as LOAD_ATTEMPTS
from mysql_redshift_assets.load.retry import RetryLoad, run_with_retries
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import DELETED_COLUMN, ORDER_COLUMN, FileColumn

# The Parquet bytes one transaction of a big incremental load takes at most (a single file
# bigger than this is its own transaction): 1c-9 of the readiness review, the first load of a
# big table. A module constant, not a setting: tests set it small.
TRANSACTION_BYTES = 2 * 1024**3


def file_chunks(files: list[FileRecord], limit: int) -> list[list[FileRecord]]:
    """`files` cut, in their order, into runs of at most `limit` bytes (at least one file each)."""
    chunks: list[list[FileRecord]] = []
    size = 0
    for f in files:
        if not chunks or (size + f.bytes > limit and chunks[-1]):
            chunks.append([])
            size = 0
        chunks[-1].append(f)
        size += f.bytes
    return chunks


@dataclass(frozen=True)
class Staged:
    """A run of same-schema files copied into a staging table, waiting for the merge."""

    staging: str  # the temporary table's quoted name
    columns: list[str]  # the target columns it holds (the recorded columns, in file order)
    ordered: bool  # it ends with the merge's order column (`ORDER_COLUMN`)
    changes: bool = False  # change files (`capture: binlog`): `DELETED_COLUMN` marks deletes
    json: tuple[str, ...] = ()  # columns staged as JSON text, parsed by the merge (`json: super`)


class ExactlyOnceWarehouse(Warehouse):
    """The exactly-once algorithm; a dialect subclass states its connection and statements."""

    # -- the target ---------------------------------------------------------------------------
    def ensure_target(self, request: LoadRequest, columns: list[FileColumn]) -> list[str]:
        """Create the target if missing; add columns that appeared in MySQL. Returns added names."""
        return self._ddl(self._create_or_widen_target, request, columns)

    def _create_or_widen_target(self, request: LoadRequest, columns: list[FileColumn]) -> list[str]:
        return create_or_widen(self, request, columns)

    # -- the algorithm ------------------------------------------------------------------------
    def load(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        started = time.monotonic()
        schema, table = request.target_schema, request.target_table
        self.ensure_ledger(schema)
        added: list[str] = []
        for columns in group_columns(store, request.candidates):
            added += self.ensure_target(request, columns)
        if not request.candidates and not self.table_columns(schema, table):
            # Nothing extracted yet (an empty table, or rows still held back by an open
            # transaction): no target to lock, nothing to load.
            self.commit()
            return LoadResult(columns_added=added, seconds=time.monotonic() - started)
        result = self._load_in_chunks(request, store)
        result.columns_added = added
        result.table_rows = self.row_count(schema, table)
        self.commit()  # end the read's transaction: an idle session must hold no locks
        result.seconds = time.monotonic() - started
        return result

    def _load_in_chunks(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        """An incremental load without a window whose pending files hold more than
        TRANSACTION_BYTES runs as several loads of consecutive files, each its own transaction
        (see the module's docstring); any other load is one."""
        small = sum(f.bytes for f in request.candidates) <= TRANSACTION_BYTES
        if small or request.mode != "incremental" or request.window is not None:
            return self._load_with_retries(request, store)
        loaded = self.loaded_keys(request.target_schema, request.ledger_name)
        self.commit()
        pending = [f for f in request.candidates if f.key not in loaded]
        chunks = file_chunks(pending, TRANSACTION_BYTES)
        if len(chunks) <= 1:
            return self._load_with_retries(request, store)
        total = LoadResult(already_loaded=len(request.candidates) - len(pending), attempts=0)
        for chunk in chunks:
            part = self._load_with_retries(replace(request, candidates=chunk), store)
            total.rows_loaded += part.rows_loaded
            total.files_loaded += part.files_loaded
            total.already_loaded += part.already_loaded
            total.copies += part.copies
            total.lock_seconds += part.lock_seconds
            total.attempts += part.attempts
            for column, n in part.truncated.items():
                total.truncated[column] = total.truncated.get(column, 0) + n
        return total

    def _load_with_retries(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        where = f"load into {self.name}:{request.target_schema}.{request.target_table}"
        result, attempts = run_with_retries(
            self,
            where,
            lambda: self._attempt(request, store),
            unchanged="target and ledger are unchanged",
        )
        result.attempts = attempts
        return result

    def _attempt(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        """Stage without the lock, then lock, re-check the ledger, merge and record."""
        result = LoadResult()
        token = uuid.uuid4().hex[:8]
        staged: list[Staged | None] = []
        try:
            with self.transaction():
                pending = self._pending_files(request, result)
                staged = self._stage_all(request, store, pending, token, result)
            if not pending:
                return result
            with self.transaction():
                self.lock(self.ref(request.target_schema, request.target_table))
                locked_at = time.monotonic()
                self._merge_staged(request, pending, staged, result)
            result.lock_seconds = time.monotonic() - locked_at
        except BaseException:
            self._drop_staging_after_failure(staged)
            raise
        return result

    def _stage_all(
        self,
        request: LoadRequest,
        store: ObjectStore,
        pending: list[FileRecord],
        token: str,
        result: LoadResult,
    ) -> list[Staged | None]:
        """Each schema group staged (None: a group of files with no rows, nothing copied)."""
        groups = schema_groups(pending)
        return [
            self._stage_group(request, store, g, i, token, result) for i, g in enumerate(groups)
        ]

    def _merge_staged(
        self,
        request: LoadRequest,
        pending: list[FileRecord],
        staged: list[Staged | None],
        result: LoadResult,
    ) -> None:
        """Under the lock: the files staged must still be exactly the ones the ledger lacks,
        and the table's (the fence)."""
        now_pending = self._pending_files(request, LoadResult())
        if [f.key for f in now_pending] != [f.key for f in pending]:
            raise RetryLoad(
                f"{len(pending) - len(now_pending)} staged file(s) were loaded by another run "
                "meanwhile"
            )
        check_fence(
            request, f"load into {self.name}:{request.target_schema}.{request.target_table}"
        )
        self._delete_replaced_rows(request)
        for item in staged:
            if item is not None:
                if item.changes:
                    self._apply_changes(request, item)
                else:
                    self._merge(
                        request, item.staging, item.columns, ordered=item.ordered, json=item.json
                    )
                self.execute(f"DROP TABLE {item.staging}")
        self._record_in_ledger(request, pending)
        result.files_loaded = [f.key for f in pending]

    def _drop_staging_after_failure(self, staged: list[Staged | None]) -> None:
        """Temp tables outlive a committed staging transaction; drop them, or leave them to the
        session's end if the session itself is gone (the original error is what matters)."""
        with suppress(Exception):
            self.rollback()  # a failed COMMIT may leave the transaction open
        with suppress(Exception):
            for item in staged:
                if item is not None:
                    self.execute(f"DROP TABLE IF EXISTS {item.staging}")
            self.commit()

    def _pending_files(self, request: LoadRequest, result: LoadResult) -> list[FileRecord]:
        """The candidates the ledger lacks."""
        loaded = self.loaded_keys(request.target_schema, request.ledger_name)
        pending = [f for f in request.candidates if f.key not in loaded]
        result.already_loaded = len(request.candidates) - len(pending)
        if request.mode != "incremental" and pending and result.already_loaded:
            raise LoadError("a generation is partly in the ledger; refusing to guess")
        return pending

    def _delete_replaced_rows(self, request: LoadRequest) -> None:
        """A full load replaces the table; a partition's load replaces its window."""
        target = self.ref(request.target_schema, request.target_table)
        if request.mode == "full":
            # DELETE, not TRUNCATE: in Redshift TRUNCATE commits the open transaction.
            self.execute(f"DELETE FROM {target}")
        elif request.window is not None:
            window = request.window
            col = quote_ident(window.column)
            self.execute(
                f"DELETE FROM {target} WHERE {col} >= {self.ph} AND {col} < {self.ph}",
                (window.lo, window.hi),
            )

    def _stage_group(
        self,
        request: LoadRequest,
        store: ObjectStore,
        group: list[FileRecord],
        index: int,
        token: str,
        result: LoadResult,
    ) -> Staged | None:
        """Stage one run of same-schema files and check the count; files with no rows are not
        copied (their generation's delete and ledger rows still happen)."""
        footers = read_footers(store, group)
        self.check_text_fits(request, group, footers)
        for footer in footers:
            for column, n in footer.truncated.items():
                result.truncated[column] = result.truncated.get(column, 0) + n
        files = [f for f, footer in zip(group, footers, strict=True) if footer.rows]
        if not files:
            return None
        # Staging mirrors the files (with the order column where they have it, last); the
        # target gets the recorded columns only.
        mirrored = footers[0].staging_columns
        staging = self._create_staging(f"{token}_{index}", mirrored)
        copied = self.copy_into_staging(
            CopyBatch(staging, mirrored, files, store, request, group=index)
        )
        expected = sum(footer.rows for footer in footers)
        if copied != expected:
            raise LoadError(
                f"COPY reported {copied} rows but the files' footers hold {expected}; rolled back"
            )
        result.copies.append(copied)
        result.rows_loaded += copied
        first = footers[0]
        json = tuple(c.name for c in first.columns if c.parsed_json)
        return Staged(staging, [c.name for c in first.columns], first.ordered, first.changes, json)

    def _merge(
        self,
        request: LoadRequest,
        staging: str,
        names: list[str],
        *,
        ordered: bool = False,
        json: tuple[str, ...] = (),
    ) -> None:
        target = self.ref(request.target_schema, request.target_table)
        cols = ", ".join(quote_ident(n) for n in names)
        versions.check_keyed(request)
        picked = self.select_parsed(names, json)
        if request.mode == "full" or not request.primary_key:
            self.execute(f"INSERT INTO {target} ({cols}) SELECT {picked} FROM {staging}")
            return
        # MySQL's identity of a collated or prefix key where the files carry it (equal under
        # the collation iff equal there): else the key itself, whose equality is MySQL's.
        key = [KEY_IDENTITY] if KEY_IDENTITY in names else request.primary_key
        pk = [quote_ident(k) for k in key]
        match = " AND ".join(f"{target}.{k} = {staging}.{k}" for k in pk)
        order = latest_first(request.cursor, ordered=ordered) or f"{pk[0]} DESC"
        if request.table.history:  # close the current versions, open the new (versions.py)
            _refuse_parsed_json(request, json, "`history: true`")
            sql = versions.history_merge_sql(
                target, staging, names, key, order, self.ph, ordered=ordered
            )
            return self._run_at_once(sql)
        # A soft-deleted key inserted again comes back to life: its new row has no deletion time.
        self.execute(f"DELETE FROM {target} USING {staging} WHERE {match}")
        self.execute(
            f"INSERT INTO {target} ({cols}) SELECT {picked} FROM ("
            f"SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY {', '.join(pk)} ORDER BY {order}) "
            f'AS "mra_rank" FROM {staging}) AS "latest" WHERE "mra_rank" = 1'
        )

    def _apply_changes(self, request: LoadRequest, staged: Staged) -> None:
        """Change files (`capture: binlog`, `sync/binlog.py`): every key a change touches is
        deleted, then the newest change of each key is inserted unless it is a delete. The
        order column is the changes' commit order (file sequence, then row), so the newest
        change is exactly the last one MySQL committed. A keyless table's changes are applied
        as a multiset of whole rows (`keyless_changes.py`)."""
        target = self.ref(request.target_schema, request.target_table)
        versions.check_keyed(request)
        if not request.primary_key:
            _refuse_parsed_json(request, staged.json, "a table without a primary key")
            for sql in keyless_change_sql(target, staged.staging, staged.columns):
                self.execute(sql)
            return
        kept = versions.changes_sql(request, target, staged.staging, staged.columns, self.ph)
        if kept:  # soft deletes or history: deleted rows and old versions stay (versions.py)
            _refuse_parsed_json(request, staged.json, "`deletes: soft` or `history: true`")
            return self._run_at_once(kept)
        cols = ", ".join(quote_ident(n) for n in staged.columns)
        pk = [quote_ident(k) for k in request.primary_key]
        match = " AND ".join(f"{target}.{k} = {staged.staging}.{k}" for k in pk)
        self.execute(f"DELETE FROM {target} USING {staged.staging} WHERE {match}")
        order, deleted = quote_ident(ORDER_COLUMN), quote_ident(DELETED_COLUMN)
        picked = self.select_parsed(staged.columns, staged.json)
        self.execute(
            f"INSERT INTO {target} ({cols}) SELECT {picked} FROM ("
            f"SELECT {cols}, {deleted}, ROW_NUMBER() OVER (PARTITION BY {', '.join(pk)} "
            f'ORDER BY {order} DESC) AS "mra_rank" FROM {staged.staging}) AS "latest" '
            f'WHERE "mra_rank" = 1 AND NOT {deleted}'
        )

    def _run_at_once(self, statements: list[tuple[str, int]]) -> None:
        """Statements that each bind one instant `n` times (`versions.py`): the load's time."""
        at = versions.now()
        for sql, n in statements:
            self.execute(sql, (at,) * n)


def _refuse_parsed_json(request: LoadRequest, json: tuple[str, ...], what: str) -> None:
    """`json: super` is parsed by the plain merge only (not yet by the version-keeping and
    multiset merges): refused before anything is written."""
    if json:
        raise LoadError(
            request.table.error(
                "json",
                f"`json: super` (columns {', '.join(json)}) is not supported yet with {what}: "
                "set `json: varchar` on this table",
            )
        )


def latest_first(cursor: str | None, *, ordered: bool) -> str:
    """The merge's ORDER BY when one load holds several versions of a key: the latest cursor
    first, a NULL one (a zero date is extracted as NULL) last, not first as PostgreSQL and
    Redshift put NULLs in DESC (https://docs.aws.amazon.com/redshift/latest/dg/r_ORDER_BY_clause.html;
    the window ORDER BY takes NULLS LAST: .../c_Window_functions.html); then the later file,
    then the later row in it (`ORDER_COLUMN`), so that ties never fall to ROW_NUMBER, which
    numbers equal rows "nondeterministically" (.../r_WF_ROW_NUMBER.html). Files written before
    the order column keep the cursor alone. Empty: nothing to order by."""
    terms = [f"{quote_ident(cursor)} DESC NULLS LAST"] if cursor else []
    if ordered:
        terms.append(f"{quote_ident(ORDER_COLUMN)} DESC")
    return ", ".join(terms)
