"""Watermark get / set / reset: the old CLI's workflows, on the one state model."""

from __future__ import annotations

import uuid
from typing import Any

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.maintenance.s3clean import superseded_keys
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import (
    Generation,
    Position,
    Session,
    Watermark,
    WatermarkStore,
)


def set_position(
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    timestamp: str | None = None,
    id: str | None = None,
) -> Watermark:
    """Move where the next extraction starts.

    `--timestamp T`: rows with cursor >= T. `--id N`: rows with primary key > N (tables whose
    keyset is the primary key), or after (T, N) when given with a timestamp.
    """
    if table.mode != "incremental":
        raise ConfigError(table.error("mode", "only incremental tables have a position to set"))
    if table.binlog:
        raise ConfigError(
            table.error(
                "capture",
                "a `capture: binlog` table resumes at a binlog position, which only its copy "
                f"sets: run `mysql-redshift resync -p {table.pipeline} -t {table.qualified}` "
                "to copy it again at a new position",
            )
        )
    watermark = watermarks.load(table) or Watermark(table=table.qualified, mode=table.mode)
    has_cursor = table.cursor is not None and table.cursor not in (table.primary_key or ())
    if watermark.cursor is not None or watermark.primary_key:
        has_cursor = watermark.cursor is not None and watermark.cursor not in watermark.primary_key
    if has_cursor:
        if timestamp is None:
            raise ConfigError(
                table.error(
                    "cursor", f"the keyset is ({table.cursor}, primary key): give --timestamp"
                )
            )
        position = Position(cursor=timestamp, pk=[id] if id is not None else [])
    else:
        if id is None:
            raise ConfigError(table.error(None, "the keyset is the primary key: give --id"))
        position = Position(cursor=None, pk=[id])
    with table_lease(watermarks.store, table, f"watermark-set-{uuid.uuid4().hex[:12]}"):
        fresh = watermarks.load(table) or watermark
        fresh.position = position
        fresh.status = "new"
        watermarks.save(table, fresh)
    return fresh


def reset(watermarks: WatermarkStore, table: TableConfig) -> Watermark:
    """Start extraction from the beginning; counts go to zero.

    Kept: the file sequence (keys are never reused, so the ledger can never mistake a new file
    for a loaded one), the column-name mapping, and the list of files still in the store (files
    not yet loaded are still loaded; the merge makes re-extracted rows harmless).
    """
    with table_lease(watermarks.store, table, f"watermark-reset-{uuid.uuid4().hex[:12]}"):
        old = watermarks.load(table)
        watermark = Watermark(table=table.qualified, mode=table.mode)
        if old is not None:
            watermark.next_seq = old.next_seq
            watermark.lineage = old.lineage
            watermark.columns = old.columns
            watermark.warehouse_names = old.warehouse_names
            watermark.primary_key = old.primary_key
            watermark.cursor = old.cursor
            watermark.files = old.files
            watermark.generations = old.generations
        watermarks.save(table, watermark)
    return watermark


def current_counts(watermark: Watermark) -> dict[str, int]:
    """Rows and files the table is made of now: every increment, and of each window (None: the
    whole table) the newest complete generation. Unlike `cumulative`, a superseded generation
    does not count; nor does s3clean deleting files (counted when recorded, not listed)."""
    newest: dict[str | None, Generation] = {}
    for generation in watermark.generations:
        if generation.complete:
            newest[generation.partition] = generation
    in_generations = sum(g.rows for g in watermark.generations)
    files_in_generations = sum(g.files for g in watermark.generations)
    return {
        "rows": max(watermark.cumulative.rows - in_generations, 0)
        + sum(g.rows for g in newest.values()),
        "files": max(watermark.cumulative.files - files_in_generations, 0)
        + sum(g.files for g in newest.values()),
    }


def describe(watermark: Watermark, loaded: set[str] | None) -> dict[str, Any]:
    """What `watermark get` shows: position, the current files' counts, the last session, the
    cumulative counts, and files loaded / pending / superseded (`s3clean list`'s words)."""
    files_loaded = None if loaded is None else sum(1 for f in watermark.files if f.key in loaded)
    superseded = None if loaded is None else len(superseded_keys(watermark, loaded))
    pending = (
        None
        if files_loaded is None or superseded is None
        else len(watermark.files) - files_loaded - superseded
    )
    return {
        "table": watermark.table,
        "mode": watermark.mode,
        "status": watermark.status,
        "position": watermark.position.model_dump() if watermark.position else None,
        # `capture: binlog`: the binlog position the next read resumes at (positions.py JSON)
        "binlog_position": watermark.binlog_position,
        "warehouse_names": dict(watermark.warehouse_names),  # the target's names, never changed
        "session": _session(watermark.session),
        "current": current_counts(watermark),
        "cumulative": watermark.cumulative.model_dump(),
        "files_in_store": len(watermark.files),
        "files_loaded": files_loaded,
        "files_pending": pending,
        "files_superseded": superseded,
        "updated_at": watermark.updated_at.isoformat() if watermark.updated_at else None,
    }


def _session(session: Session | None) -> dict[str, Any] | None:
    if session is None:
        return None
    return {
        "run_id": session.run_id,
        "status": session.status,
        "started_at": session.started_at.isoformat(),
        "finished_at": session.finished_at.isoformat() if session.finished_at else None,
        **session.counts.model_dump(),
        "error": session.error,
    }
