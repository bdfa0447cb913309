"""One writer per table: a lease object created atomically next to the watermark.

Two extractions of one table at once would write the same file keys and overwrite each other's
watermark. However a run is started (UI, schedule, sensor, CLI, backfill), the second one to
arrive finds the lease and refuses with a message that says who holds it. A lease left by a
killed process is taken over when it has expired, or at once when its process is gone (same host).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.naming import lease_key
from mysql_redshift_assets.state.watermark import utcnow
from mysql_redshift_assets.store.objectstore import ObjectStore

log = logging.getLogger(__name__)
DEFAULT_TTL = timedelta(hours=6)


class LeaseHeld(RuntimeError):
    """Another run is writing this table right now."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(holder: dict[str, Any]) -> bool:
    try:
        if datetime.fromisoformat(holder["expires_at"]) < utcnow():
            return True
        return holder.get("host") == socket.gethostname() and not _alive(int(holder["pid"]))
    except (KeyError, ValueError, TypeError):
        return True  # unreadable: nobody can prove they hold it


@contextmanager
def table_lease(
    store: ObjectStore, table: TableConfig, run_id: str, ttl: timedelta = DEFAULT_TTL
) -> Iterator[None]:
    key = lease_key(table)
    now = utcnow()
    mine = {
        "run_id": run_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "acquired_at": now.isoformat(),
        "expires_at": (now + ttl).isoformat(),
    }
    body = json.dumps(mine).encode()
    if not store.put_if_absent(body, key):
        raw = store.get_bytes(key)
        holder = json.loads(raw) if raw else {}
        if raw is not None and not _stale(holder):
            raise LeaseHeld(
                f"{table.qualified} is being written by run {holder.get('run_id')} "
                f"(pid {holder.get('pid')} on {holder.get('host')}, since {holder.get('acquired_at')}); "
                f"wait for it, or if it is gone for good delete {store.uri(key)}"
            )
        log.warning(
            "%s: taking over a stale lease of run %s", table.qualified, holder.get("run_id")
        )
        store.delete([key])
        if not store.put_if_absent(body, key):
            raise LeaseHeld(f"{table.qualified}: another run took the lease at the same moment")
    try:
        yield
    finally:
        raw = store.get_bytes(key)
        if raw is not None and json.loads(raw).get("run_id") == run_id:
            store.delete([key])
