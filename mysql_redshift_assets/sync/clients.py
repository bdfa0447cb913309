"""The clients a run opens: MySQL sources, object stores and warehouses, from the project's
connections.yml, each opened at its first use and reused table after table.

    with Clients(project) as clients:                       # closed when the block ends
        TableSync(table, clients, SyncRun(run_id)).run()

Sources and warehouses are one per worker thread and name (a connection is not shared between
threads, and opening one costs more than a no-op table's queries: a pymysql connection builds an
SSL context, ~70 ms of CPU); a table that fails discards its thread's (`discard_mine`), so the
next table starts on fresh ones. A store client is one per name, shared by the threads, and so
is the newest reading of a source's clock and open transactions (`extract/committed.py`).
`OpenClients` hands a table the clients its caller opened (and closes).
"""

from __future__ import annotations

import threading
from typing import Protocol

from mysql_redshift_assets.closing import Closing
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.readings import Readings
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.ssh import TunnelPool
from mysql_redshift_assets.store.objectstore import ObjectStore


class TableClients(Protocol):
    """What a table's sync asks for its clients (by the names its config gives)."""

    def source(self, name: str) -> Source: ...

    def store(self, name: str) -> ObjectStore: ...

    def warehouse(self, name: str) -> Warehouse: ...

    def discard_mine(self) -> None:
        """After a failure: the connections it may have left broken are not reused."""


class Clients(Closing):
    """A run's clients from `project`; through `tunnels` (None: connect.py's default pool)."""

    def __init__(self, project: Project, tunnels: TunnelPool | None = None) -> None:
        self.project, self.tunnels = project, tunnels
        self._local = threading.local()
        self._all: list[Source | Warehouse] = []
        self._stores: dict[str, ObjectStore] = {}
        self._readings: dict[str, Readings] = {}  # a source's, shared by the threads
        self._lock = threading.Lock()

    def _mine(self) -> tuple[dict[str, Source], dict[str, Warehouse]]:
        if not hasattr(self._local, "clients"):
            self._local.clients = ({}, {})
        return self._local.clients

    def _opened(self, client: Source | Warehouse) -> None:
        with self._lock:
            self._all.append(client)

    def source(self, name: str) -> Source:
        sources = self._mine()[0]
        if name not in sources:
            sources[name] = open_source(self.project, name, tunnels=self.tunnels)
            with self._lock:
                sources[name].readings = self._readings.setdefault(name, Readings())
            self._opened(sources[name])
        return sources[name]

    def warehouse(self, name: str) -> Warehouse:
        warehouses = self._mine()[1]
        if name not in warehouses:
            warehouses[name] = open_warehouse(self.project, name, tunnels=self.tunnels)
            self._opened(warehouses[name])
        return warehouses[name]

    def store(self, name: str) -> ObjectStore:
        with self._lock:
            if name not in self._stores:
                self._stores[name] = open_store(self.project, name)
            return self._stores[name]

    def discard_mine(self) -> None:
        for group in self._mine():
            for client in group.values():
                _close_quietly(client)
                with self._lock:
                    self._all.remove(client)
            group.clear()

    def close(self) -> None:
        with self._lock:
            clients: list[Closing] = [*self._all, *self._stores.values()]
            self._all, self._stores = [], {}
        for client in clients:
            _close_quietly(client)


class OpenClients:
    """The source, store and warehouse a caller opened for one table (and closes itself)."""

    def __init__(self, source: Source, store: ObjectStore, warehouse: Warehouse) -> None:
        self._source, self._store, self._warehouse = source, store, warehouse

    def source(self, name: str) -> Source:
        return self._source

    def store(self, name: str) -> ObjectStore:
        return self._store

    def warehouse(self, name: str) -> Warehouse:
        return self._warehouse

    def discard_mine(self) -> None:
        """The caller's to close."""


def _close_quietly(client: Closing) -> None:
    try:
        client.close()
    except Exception:  # a broken connection: nothing left to release
        pass
