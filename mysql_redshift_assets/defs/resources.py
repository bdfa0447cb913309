"""Dagster resources: thin shells over the library's clients."""

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.ssh import TunnelPool
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.sync.clients import Clients


class ConnectionsResource(dg.ConfigurableResource):
    """Opens the sources, stores and warehouses named in `<pipelines_dir>/connections.yml`.

    SSH tunnels live as long as the resource is set up: one `TunnelPool` per run (per step
    process with the multiprocess executor), created in `setup_for_execution`, shared by every
    asset that connects through a bastion, closed in `teardown_after_execution`. A tunnel opens
    at the first connection that needs it. Used outside a run (no setup), connect.py's default
    pool is used.

    The pipelines folder is read once per run too (at setup), and each store client is built
    once: a run of 200 tables used to re-read and re-parse the YAML ~190 times.
    """

    pipelines_dir: str = Field(description="Folder holding connections.yml and the pipelines.")

    _tunnels: TunnelPool | None = PrivateAttr(default=None)
    _project: Project | None = PrivateAttr(default=None)
    _stores: dict[str, ObjectStore] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._tunnels = TunnelPool(logger=context.log) if context.log else TunnelPool()
        self._project = load_project(Path(self.pipelines_dir), keep_going=True)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        tunnels, self._tunnels = self._tunnels, None
        if tunnels is not None:
            tunnels.close_all()

    @property
    def tunnels(self) -> TunnelPool | None:
        """This run's tunnel pool (None outside a run)."""
        return self._tunnels

    def project(self) -> Project:
        """This run's project (read at setup); outside a run, read now."""
        return self._project or load_project(Path(self.pipelines_dir), keep_going=True)

    def source(self, name: str) -> Source:
        return open_source(self.project(), name, tunnels=self._tunnels)

    def store(self, name: str) -> ObjectStore:
        """One client per store and run (outside a run, a new one)."""
        if self._project is None:
            return open_store(self.project(), name)
        if name not in self._stores:
            self._stores[name] = open_store(self._project, name)
        return self._stores[name]

    def warehouse(self, name: str) -> Warehouse:
        return open_warehouse(self.project(), name, tunnels=self._tunnels)

    def clients(self) -> Clients:
        """A run's clients (`sync/clients.py`), through this run's tunnels; close it."""
        return Clients(self.project(), self._tunnels)


class WatermarkResource(dg.ConfigurableResource):
    """Per-table extraction state, kept as JSON in each table's object store."""

    connections: ConnectionsResource = Field(description="Where the stores are defined.")

    def store_for(self, table: TableConfig) -> WatermarkStore:
        return WatermarkStore(self.connections.store(table.store))

    def get(self, table: TableConfig) -> Watermark | None:
        return self.store_for(table).load(table)
