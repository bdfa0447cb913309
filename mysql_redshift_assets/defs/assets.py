"""One multi-asset op per pipeline (and source, and partitions definition), like `@sling_assets`.

The op holds both assets of every table (`<pipeline>/<schema>/<table>` Parquet and
`<target_schema>/<table>` in the warehouse) and their checks; it runs any subset of them. Its
tables run in worker threads, at most as many at once as the pool `mysql-<source>` allows (the
op takes one slot of it, for the queue and the UI); each table's extraction and delete pass also
hold one of the pool's slots on the MySQL server (`extract/slots.py`), so that the tables reading
one source stay within the pool's limit across every run and process. Each table yields one materialization per asset (per partition in a
single-run backfill, each window with its own rows and files); a table that fails is logged with
its error and fails its checks, the others complete, and the op fails at the end naming it.
While they run, the op's thread (never a worker) logs what `sync/relay.py` gathers from the
workers' threads: each long-running table's progress every `progress_interval_seconds`, and the
library's warnings as they happen.

Why the two layers share one op: Dagster skips a whole downstream step when any one upstream
output it depends on is missing (`_should_skip_step` in dagster/_core/execution/plan/active.py),
so with one op per layer a single failed extraction would stop every table's load.
"""

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import dagster as dg
from pydantic import Field

from mysql_redshift_assets.causes import table_line
from mysql_redshift_assets.defs.partitions import window_for
from mysql_redshift_assets.defs.resources import ConnectionsResource
from mysql_redshift_assets.defs.table_run import Event, TableAssets, TableOutcome, run_table
from mysql_redshift_assets.extract.slots import SourceSlots
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.relay import Line, ProgressRelay
from mysql_redshift_assets.sync.table import SyncRun

DEFAULT_WIDTH = 2  # dagster.yaml's `pools.default_limit`


class SyncConfig(dg.Config):
    max_rows: int | None = Field(
        None,
        description="Stop each table after this many rows (the old `--limit` x `--max-chunks`).",
    )
    chunk_rows: int | None = Field(None, description="Rows per MySQL query, for this run only.")
    max_parallel_tables: int | None = Field(
        None,
        description="Tables run at once in this op; default: the limit of the pool "
        "`mysql-<source>` (dagster.yaml `concurrency.pools`), else 2. Whatever it is, the "
        "tables reading the source at once, across runs, stay within the pool's limit.",
    )
    progress_interval_seconds: float = Field(
        30.0,
        description="A line in the run's log for each table still running, this often: rows, "
        "files, MB, rate and ETA while it extracts; while it loads; then when it is done.",
    )


# What the op yields: materializations and check evaluations as events, blocking checks as
# outputs (see `_recorded`).
Recorded = dg.AssetMaterialization | dg.AssetCheckEvaluation | dg.AssetCheckResult


def pool_width(instance: dg.DagsterInstance, pool: str) -> int:
    """The pool's slot count: the op's threads, and the tables reading its source at once
    across runs (`extract/slots.py`)."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        info = storage.get_concurrency_info(pool)
        if info.slot_count:
            return info.slot_count
    return instance.get_concurrency_config().pool_config.default_pool_limit or DEFAULT_WIDTH


class TablesOpRun:
    """What an `execute` hook (`build_tables_op`, `MysqlRedshiftComponent.execute`) is given
    for one run of a pipeline op: its tables, the run's config and connections, and `sync()`,
    the op's own work, an iterator of the events to yield."""

    def __init__(
        self,
        tables: Sequence[TableAssets],
        config: SyncConfig,
        connections: ConnectionsResource,
        pool: str,
        sync: Callable[[], Iterator[Recorded]],
    ) -> None:
        self.tables, self.config, self.connections, self.pool = tables, config, connections, pool
        self.sync = sync


# `execute(context, run)`: yields every event `run.sync()` yields (and may add log lines or
# wrap the work); a failed table raises `dg.Failure` from `run.sync()` after its events.
Execute = Callable[[dg.AssetExecutionContext, TablesOpRun], Iterator[Recorded]]


def build_tables_op(
    name: str,
    tables: Sequence[TableAssets],
    specs: Sequence[dg.AssetSpec],
    pool: str,
    op_tags: Mapping[str, str] | None = None,
    execute: Execute | None = None,
) -> dg.AssetsDefinition:
    partitioned = tables[0].table.partitioned
    by_key = {a.parquet: a for a in tables} | {a.warehouse: a for a in tables}

    @dg.multi_asset(
        name=name,
        specs=list(specs),
        check_specs=[c for a in tables for c in a.checks],
        can_subset=True,
        pool=pool,
        # One run for a whole range (`dagster asset materialize --partition-range`, the UI's
        # single-run backfill); inside it every window is its own query plan, files and replace.
        backfill_policy=dg.BackfillPolicy.single_run() if partitioned else None,
        op_tags={**(op_tags or {}), "mysql_redshift/pipeline": tables[0].table.pipeline},
    )
    def _op(
        context: dg.AssetExecutionContext, config: SyncConfig, connections: ConnectionsResource
    ) -> Iterator[Recorded]:
        def sync() -> Iterator[Recorded]:
            return _tables(context, config, connections)

        run = TablesOpRun(tables, config, connections, pool, sync)
        yield from execute(context, run) if execute else sync()

    def _tables(
        context: dg.AssetExecutionContext, config: SyncConfig, connections: ConnectionsResource
    ) -> Iterator[Recorded]:
        work = _selected(context, tables, by_key)
        keys = list(context.partition_keys) if partitioned else []
        limit = pool_width(context.instance, pool)
        run = SyncRun(
            run_id=context.run.run_id,
            windows=[window_for(tables[0].table, _pdef(context), k) for k in keys],
            max_rows=config.max_rows,
            page_rows=config.chunk_rows,
            slots=SourceSlots(pool, limit),  # bounds this source's tables across runs
        )
        run.binlog.register(a.table for a, _, _ in work)  # one binlog stream a source
        width = config.max_parallel_tables or limit
        with connections.clients() as clients:
            relay = ProgressRelay(
                [a.table.qualified for a, _, _ in work],
                config.progress_interval_seconds,
            )
            with relay:
                failed = yield from _run_all(context, clients, run, work, width, relay)
        if failed:
            raise dg.Failure(
                description=f"{len(failed)} of {len(work)} table(s) failed: "
                + "; ".join(f"{o.assets.table.qualified}: {o.error}" for o in failed),
                metadata={
                    "failed_tables": [o.assets.table.qualified for o in failed],
                    # One line a table, as `mysql-redshift sync` prints them.
                    "errors": [
                        table_line(o.assets.table.pipeline, o.assets.table.qualified, o.cause or "")
                        for o in failed
                    ],
                },
            )

    return _op


def _pdef(context: dg.AssetExecutionContext) -> dg.PartitionsDefinition:
    pdef = context.assets_def.partitions_def
    assert pdef is not None
    return pdef


Work = list[tuple[TableAssets, set[str], set[str]]]


def _selected(
    context: dg.AssetExecutionContext,
    tables: Sequence[TableAssets],
    by_key: dict[dg.AssetKey, TableAssets],
) -> Work:
    """(table, layers, check names) for each table this run touches, in the op's order."""
    layers: dict[str, set[str]] = {}
    checks: dict[str, set[str]] = {}
    for key in context.selected_asset_keys:
        assets = by_key[key]
        layer = "parquet" if key == assets.parquet else "redshift"
        layers.setdefault(assets.table.qualified, set()).add(layer)
    for check in context.selected_asset_check_keys:
        assets = by_key[check.asset_key]
        checks.setdefault(assets.table.qualified, set()).add(check.name)
    return [
        (a, layers.get(a.table.qualified, set()), checks.get(a.table.qualified, set()))
        for a in tables
        if a.table.qualified in layers or a.table.qualified in checks
    ]


def _recorded(event: Event, blocking: set[dg.AssetCheckKey]) -> Recorded:
    """A check's result as the evaluation Dagster records: yielded as a check output instead,
    Dagster adds an output event and looks up the asset's latest materialization (~30 ms of
    CPU a check on a no-op run). A blocking check is the exception: Dagster gives it an output
    of the op (what a blocked asset would wait on) and expects it yielded as such."""
    if not isinstance(event, dg.AssetCheckResult):
        assert isinstance(event, dg.AssetMaterialization)
        return event
    assert event.asset_key is not None and event.check_name is not None
    key = dg.AssetCheckKey(event.asset_key, event.check_name)
    if key in blocking:
        return event
    return dg.AssetCheckEvaluation(
        asset_key=event.asset_key,
        check_name=event.check_name,
        passed=event.passed,
        metadata=event.metadata,
        severity=event.severity,
        description=event.description,
        blocking=key in blocking,
    )


def _log(context: dg.AssetExecutionContext, lines: list[Line]) -> None:
    for level, message in lines:
        getattr(context.log, level)(message)


def _run_all(
    context: dg.AssetExecutionContext,
    clients: Clients,
    run: SyncRun,
    work: Work,
    width: int,
    relay: ProgressRelay,
) -> Generator[Recorded, None, list[TableOutcome]]:
    """Run the tables `width` at a time; while they run, log what the relay gathers from
    their threads (progress, the library's warnings); yield each one's events as it finishes."""
    failed: list[TableOutcome] = []
    blocking = {c.key for a, _, _ in work for c in a.checks if c.blocking}
    warned: dict[str, list[str]] = {}  # a warning many tables share (e.g. the source's) once
    with ThreadPoolExecutor(max_workers=max(1, min(width, len(work)))) as pool:
        pending: set[Future[TableOutcome]] = {
            pool.submit(run_table, clients, run, a, layers, checks) for a, layers, checks in work
        }
        while pending:
            done, pending = wait(pending, timeout=relay.tick, return_when=FIRST_COMPLETED)
            _log(context, relay.drain())
            for future in done:
                outcome = future.result()
                name = outcome.assets.table.qualified
                _log(context, relay.finished(name, failed=outcome.error is not None))
                for level, message in outcome.logs:
                    if level == "warning":
                        if message in relay.warned:  # in the log already, as it happened
                            continue
                        if message in warned:
                            warned[message].append(name)
                            continue
                        warned[message] = [name]
                    getattr(context.log, level)(f"{name}: {message}")
                yield from (_recorded(e, blocking) for e in outcome.events)
                if outcome.error is not None:
                    failed.append(outcome)
    for message, names in warned.items():
        if len(names) > 1:
            context.log.warning(f"{len(names)} tables warned: {message} ({', '.join(names)})")
    return failed
