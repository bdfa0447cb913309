"""`check-target`'s production paths, each run once on a scratch table of the target schema
through the code a sync runs, one line each; whatever they created is removed, also when one
fails (`cleanup`).

- `load`: the canary (`canary.py`) written as extraction writes it, put in the store, loaded
  as a sync loads (the schema preflight `evolve_before_load`, then `warehouse.load`: COPY into
  a temporary table, LOCK, merge, ledger row, COMMIT); `values`: every value read back.
- `reload`: a second load into the existing table, adding a column with MySQL's DEFAULT and a
  binary one: the preflight reads the table's column types back from the catalog.
- `widen`: a VARCHAR widening of that DEFAULT column (Redshift refuses it in place: the rebuild
  path; PostgreSQL and DuckDB widen in place); the first load's values read back equal after.
- `deletes`: the delete pass's transaction (`load/deletes.py` `delete_keys`): one key deleted,
  its `#deletes` ledger row written.
- `validate`: the reconciliation's bucket hashes (`reconcile/buckets.py`, `compare.py`: the
  path `reconcile_scope` runs) of the scratch table in the target's SQL, against the same
  computed in a DuckDB file loaded with the same files through the same path (`check_reference`).
- `resync`: a swap (`load/swap.py` `swap_in`) of the scratch table while a view reads it, a
  materialized view reads it (not DuckDB) and PUBLIC may SELECT it: afterwards the view and the
  materialized view (created again in the swap's transaction, computed from the new table)
  answer with the new rows and the grant is listed.
- `rowsize`: a row over COPY's 4 MB row limit, refused before COPY (`load/widths.py`).
- `json`: a JSON document parsed into SUPER (JSONB, JSON) and read back (`check_json.py`).
"""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.config.resolve import TableConfig, table_configs
from mysql_redshift_assets.extract.schema_types import PlannedColumn, arrow_schema, plan_columns
from mysql_redshift_assets.identifiers import identifier_limit, quote_ident
from mysql_redshift_assets.load.alter import evolve_before_load
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.deletes import delete_keys
from mysql_redshift_assets.load.evolve import warehouse_columns
from mysql_redshift_assets.load.mysql_defaults import ColumnDefault
from mysql_redshift_assets.load.request import LoadError, LoadRequest, LoadResult
from mysql_redshift_assets.load.swap import swap_in
from mysql_redshift_assets.maintenance import check_reference
from mysql_redshift_assets.maintenance.canary import (
    ADDED_BINARY,
    ADDED_DEFAULT,
    ADDED_TEXT,
    ROWS,
    WIDER_TEXT,
    Column,
    arrow_arrays,
    big_row,
    canary_rows,
    later_rows,
)
from mysql_redshift_assets.maintenance.check_common import (
    CheckFailed,
    Status,
    TargetCheck,
    run_check,
)
from mysql_redshift_assets.maintenance.check_json import json_probe
from mysql_redshift_assets.maintenance.values import compare_rows
from mysql_redshift_assets.naming import (
    LEDGER_TABLE,
    deletes_ledger_name,
    ledger_entry_name,
    side_table_name,
    table_base,
    target_table,
)
from mysql_redshift_assets.state.watermark import FileRecord, Watermark
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import (
    FileColumn,
    ParquetFileWriter,
    parquet_codec,
    read_footer,
)
from mysql_redshift_assets.targets import dialect_of

# MySQL's DEFAULT of the column the second load adds, as the sync passes it (by MySQL name).
DEFAULTS: Mapping[str, ColumnDefault] = {
    ADDED_TEXT.name: ColumnDefault("literal", f"'{ADDED_DEFAULT}'")
}
KEPT_ROWS = 6  # the canary's 4 rows and the second load's 2
DELETED_KEY = 7  # the widening's row, deleted by the delete pass
SWAPPED_KEYS = [11, 12]


@dataclasses.dataclass
class Written:
    """One file the check put in the store, with what it holds."""

    record: FileRecord
    planned: list[PlannedColumn]
    columns: list[FileColumn]
    values: list[list[Any]]  # per column


class Canary:
    """The production paths on one scratch table of the target schema, then removed."""

    def __init__(
        self, project: Project, pipeline: Pipeline, warehouse: Warehouse, store: ObjectStore
    ) -> None:
        self.warehouse, self.store = warehouse, store
        token = secrets.token_hex(4)
        template = table_configs(pipeline)[0]
        self.table: TableConfig = dataclasses.replace(
            template, source_schema="mra_check", source_table=f"canary_{token}",
            target_table=f"mra_check_{token}", mode="incremental", cursor=None, distkey=None,
            sortkey=None, partitions=None, id_range=None, text_overflow="error",
        )  # fmt: skip
        self.schema, self.name = target_table(self.table)
        self.view = f"{self.name}_v"
        self.mview = f"{self.name}_mv"
        self.run_id = f"check-{self.name}"
        self.files: list[Written] = []
        self.rows = canary_rows(warehouse.dialect)
        self.json = any(t.json == "super" for t in table_configs(pipeline))

    # -- the steps ------------------------------------------------------------------------------
    def steps(self) -> list[tuple[str, Callable[[], tuple[Status, str]], str | None]]:
        """(name, step, the step it needs to have passed)."""
        return [
            ("load", self._load, None),
            ("values", self._values, "load"),
            ("reload", self._reload, "load"),
            ("widen", self._widen, "reload"),
            ("deletes", self._deletes, "widen"),
            ("validate", self._validate, "reload"),
            ("resync", self._resync, "load"),
            ("rowsize", self._rowsize, "resync"),
            ("json", lambda: json_probe(self.warehouse, self.json), "load"),
        ]

    def run(self) -> list[TargetCheck]:
        checks: list[TargetCheck] = []
        had_schema = self.warehouse.schema_exists(self.schema)
        had_ledger = bool(self.warehouse.table_columns(self.schema, LEDGER_TABLE))
        self.warehouse.commit()
        try:
            passed: set[str] = set()
            for name, step, needs in self.steps():
                if needs is not None and needs not in passed:
                    checks.append(TargetCheck(name, "SKIP", f"not run: `{needs}` did not pass"))
                    continue
                checks.append(run_check(name, step, self.warehouse.rollback))
                if checks[-1].status == "OK":
                    passed.add(name)
        finally:
            checks.append(run_check("cleanup", lambda: self._cleanup(had_schema, had_ledger)))
        return checks

    def _load(self) -> tuple[Status, str]:
        first = self._write("incremental", self.rows)
        result = self._sync_load(self.warehouse, [first.record])
        if result.rows_loaded != ROWS:
            raise CheckFailed(f"{result.rows_loaded} rows loaded of {ROWS}")
        return "OK", (
            f"{ROWS} rows x {len(first.columns)} columns: COPY into a temporary table, LOCK, "
            f"merge, ledger row, COMMIT; lock held {result.lock_seconds * 1000:.0f} ms"
        )

    def _values(self) -> tuple[Status, str]:
        first = self.files[0]
        problems = self._read_back(first.columns, first.values, f'"id" <= {ROWS}')
        if problems:
            raise CheckFailed(f"{len(problems)} value(s) differ: " + "; ".join(problems[:5]))
        return "OK", f"every value read back equal ({len(first.columns)} columns x {ROWS} rows)"

    def _reload(self) -> tuple[Status, str]:
        extra: list[Column] = [(ADDED_TEXT, ["five", "six"]), (ADDED_BINARY, [b"\x00\xffvb", None])]
        second = self._write("incremental", later_rows(self.rows, [5, 6], extra))
        result = self._sync_load(self.warehouse, [f.record for f in self.files])
        if result.rows_loaded != 2:
            raise CheckFailed(f"{result.rows_loaded} rows loaded of 2")
        names = ["id", ADDED_TEXT.name, ADDED_BINARY.name]
        columns = [c for c in second.columns if c.name in names]
        sent: list[list[Any]] = [[1, 2, 3, 4, 5, 6], [ADDED_DEFAULT] * ROWS + ["five", "six"],
                [None] * ROWS + [b"\x00\xffvb", None]]  # fmt: skip
        problems = self._read_back(columns, sent, f'"id" <= {KEPT_ROWS}')
        if problems:
            raise CheckFailed("; ".join(problems[:5]))
        types = warehouse_columns(self.warehouse, self.schema, self.name)
        self.warehouse.commit()
        binary = ", ".join(f"{c} {types[c][1]}" for c in ("bn", "vb", ADDED_BINARY.name))
        return "OK", (
            f"2 rows into the existing table, 2 columns added ({ADDED_TEXT.name} with its "
            f"DEFAULT in the {ROWS} older rows); the catalog's binary types read back: {binary}"
        )

    def _widen(self) -> tuple[Status, str]:
        refusals = self.warehouse.in_place_refusals(self.schema, self.name)
        self.warehouse.commit()
        extra: list[Column] = [(WIDER_TEXT, ["w" * 100]), (ADDED_BINARY, [None])]
        self._write("incremental", later_rows(self.rows, [DELETED_KEY], extra))
        result = self._sync_load(self.warehouse, [f.record for f in self.files])
        if result.rows_loaded != 1:
            raise CheckFailed(f"{result.rows_loaded} rows loaded of 1")
        width = warehouse_columns(self.warehouse, self.schema, self.name)[ADDED_TEXT.name][1]
        self.warehouse.commit()
        first = self.files[0]
        problems = self._read_back(first.columns, first.values, f'"id" <= {ROWS}')
        if problems:
            raise CheckFailed(f"after the widening: {'; '.join(problems[:5])}")
        why = refusals.get(ADDED_TEXT.name)
        path = f"rebuilt ({why})" if why else "widened in place"
        return "OK", f"{ADDED_TEXT.name} is {width} now, {path}; the values are still equal"

    def _deletes(self) -> tuple[Status, str]:
        wh = self.warehouse
        watermark = Watermark(table=self.table.qualified, mode="incremental")
        files_seen = wh.loaded_files(self.table, watermark)
        wh.commit()
        deleted = delete_keys(wh, self.table, watermark, ["id"], [(DELETED_KEY,)],
                              files_seen=files_seen, run_id=self.run_id)  # fmt: skip
        if deleted != 1:
            raise CheckFailed(f"the delete pass deleted {deleted} row(s) of 1")
        entry = deletes_ledger_name(self.table)
        recorded = wh.fetchall(
            f'SELECT "row_count" FROM {wh.ledger(self.schema)} WHERE "table_name" = {wh.ph}',
            (entry,),
        )
        left = wh.fetchall(f'SELECT COUNT(*) FROM {self._target} WHERE "id" = {DELETED_KEY}')
        wh.commit()
        if [int(r[0]) for r in recorded] != [1] or int(left[0][0]):
            raise CheckFailed(f"ledger rows {recorded} for {entry}; {left[0][0]} row(s) left")
        return "OK", f"1 key deleted under the lock; ledger row {entry!r} written"

    def _validate(self) -> tuple[Status, str]:
        second = self.files[1]
        with tempfile.TemporaryDirectory(prefix="mra-check-") as tmp:
            reference = check_reference.open_reference(Path(tmp))
            try:
                for loaded in (1, 2):  # as the scratch table got them: the DEFAULT fills
                    self._sync_load(reference, [f.record for f in self.files[:loaded]])
                return check_reference.reconcile(
                    self.warehouse, reference, self.schema, self.name, second.planned,
                    f'"id" <= {KEPT_ROWS}', KEPT_ROWS,
                )  # fmt: skip
            finally:
                reference.close()

    def _resync(self) -> tuple[Status, str]:
        wh = self.warehouse
        embedded = dialect_of(wh.dialect).embedded
        view = wh.ref(self.schema, self.view)
        wh.execute(f'CREATE VIEW {view} AS SELECT "id" FROM {self._target}')
        mview = wh.ref(self.schema, self.mview)
        if not embedded:
            wh.execute(f"GRANT SELECT ON {self._target} TO PUBLIC")
            wh.execute(f'CREATE MATERIALIZED VIEW {mview} AS SELECT "id" FROM {self._target}')
        wh.commit()
        generation = self._write("resync", later_rows(self.rows, SWAPPED_KEYS))
        request = self._request([generation.record])
        result = swap_in(wh, self.store, request)
        ids = [int(r[0]) for r in wh.fetchall(f'SELECT "id" FROM {view} ORDER BY 1')]
        wh.commit()
        if result.rows_loaded != len(SWAPPED_KEYS) or ids != SWAPPED_KEYS:
            raise CheckFailed(f"after the swap the view {self.view} answers ids {ids}")
        if embedded:
            return "OK", f"swapped in; the view {self.view} answers with the new rows"
        mv_ids = [int(r[0]) for r in wh.fetchall(f'SELECT "id" FROM {mview} ORDER BY 1')]
        kept = wh.kept_objects(self.schema, self.name)
        wh.commit()
        if mv_ids != SWAPPED_KEYS:
            raise CheckFailed(f"after the swap the materialized view {self.mview} answers {mv_ids}")
        if not any(g.grantee is None and g.privilege == "SELECT" for g in kept.grants):
            raise CheckFailed(
                f"after the swap SELECT to PUBLIC is no longer granted on {self.name} "
                f"(grants listed: {kept.grants})"
            )
        return "OK", (
            f"swapped in; the view {self.view} and the materialized view {self.mview} answer "
            "with the new rows and SELECT to PUBLIC is still granted"
        )

    def _rowsize(self) -> tuple[Status, str]:
        limit = dialect_of(self.warehouse.dialect).row_limit_bytes
        if limit is None:
            return "SKIP", f"{dialect_of(self.warehouse.dialect).title} takes rows of any size"
        big = self._write("incremental", big_row(self.rows, 99))
        try:
            self._sync_load(self.warehouse, [big.record])
        except LoadError as exc:
            refusal = str(exc)
        else:
            raise CheckFailed("a 5 MB row was loaded: the row-size pre-check did not refuse it")
        loaded = self.warehouse.loaded_keys(self.schema, ledger_entry_name(self.table))
        self.warehouse.commit()
        if big.record.key in loaded or "row limit" not in refusal:
            raise CheckFailed(f"the 5 MB row's load: {refusal}")
        return "OK", f"refused before COPY: {refusal}"

    # -- helpers ------------------------------------------------------------------------------
    @property
    def _target(self) -> str:
        return self.warehouse.ref(self.schema, self.name)

    def _request(self, records: list[FileRecord]) -> LoadRequest:
        return LoadRequest(table=self.table, primary_key=["id"], cursor=None,
                           candidates=records, run_id=self.run_id)  # fmt: skip

    def _sync_load(self, warehouse: Warehouse, records: list[FileRecord]) -> LoadResult:
        """As a sync loads (`sync/load.py`): the schema preflight, then the load."""
        request = self._request(records)
        added = evolve_before_load(warehouse, self.store, request, DEFAULTS)
        result = warehouse.load(request, self.store)
        result.columns_added = [*added, *result.columns_added]
        return result

    def _read_back(self, columns: list[FileColumn], sent: list[list[Any]], where: str) -> list[str]:
        cols = ", ".join(quote_ident(c.name) for c in columns)
        sql = f'SELECT {cols} FROM {self._target} WHERE {where} ORDER BY "id"'
        got = self.warehouse.fetchall(sql)
        self.warehouse.commit()
        return compare_rows(columns, sent, got, self.warehouse.column_type)

    def _write(self, folder: str, rows: list[Column]) -> Written:
        planned = plan_columns([c for c, _ in rows], table=self.table.qualified,
                               limit=identifier_limit(self.table.target_kind))  # fmt: skip
        columns = [FileColumn.from_planned(p) for p in planned]
        values = [v for _, v in rows]
        schema = arrow_schema(planned)
        key = f"{table_base(self.table)}/{folder}/{len(self.files):010d}.parquet"
        with tempfile.TemporaryDirectory(prefix="mra-check-") as tmp:
            path = Path(tmp) / "file.parquet"
            writer = ParquetFileWriter(
                path, schema, columns, compression=parquet_codec(self.table.target_kind)
            )
            writer.write(
                pa.record_batch(arrow_arrays([f.type for f in schema], values), schema=schema)
            )
            writer.close()
            footer = read_footer(path)
            stored = self.store.put_file(path, key)
        record = FileRecord(key=key, rows=footer.rows, bytes=stored.size,
                            fingerprint=footer.fingerprint, run_id=self.run_id,
                            written_at=datetime.now(UTC))  # fmt: skip
        written = Written(record, planned, columns, values)
        self.files.append(written)
        return written

    def _cleanup(self, had_schema: bool, had_ledger: bool) -> tuple[Status, str]:
        try:
            self._cleanup_warehouse(had_schema, had_ledger)
        finally:  # the store's objects go also when the warehouse refuses
            keys = [o.key for o in self.store.list(table_base(self.table))]
            self.store.delete(keys)
        return "OK", (
            f"removed the scratch table, its views, its ledger rows and {len(keys)} store object(s)"
        )

    def _cleanup_warehouse(self, had_schema: bool, had_ledger: bool) -> None:
        wh = self.warehouse
        try:
            wh.rollback()
        except Exception:  # DuckDB: no transaction was open
            pass
        wh.execute(f"DROP VIEW IF EXISTS {wh.ref(self.schema, self.view)}")
        if not dialect_of(wh.dialect).embedded:  # before its table, which it would hold
            wh.execute(f"DROP MATERIALIZED VIEW IF EXISTS {wh.ref(self.schema, self.mview)}")
        for table in (self.name, side_table_name(self.name)):
            wh.execute(f"DROP TABLE IF EXISTS {wh.ref(self.schema, table)}")
        if wh.table_columns(self.schema, LEDGER_TABLE):
            if had_ledger:
                names = (ledger_entry_name(self.table), deletes_ledger_name(self.table))
                wh.execute(
                    f'DELETE FROM {wh.ledger(self.schema)} WHERE "table_name" IN ({wh.ph}, {wh.ph})',
                    names,
                )
            else:
                wh.execute(f"DROP TABLE IF EXISTS {wh.ledger(self.schema)}")
        if not had_schema and not dialect_of(wh.dialect).embedded:
            wh.execute(f"DROP SCHEMA IF EXISTS {quote_ident(self.schema)}")
        wh.commit()
