"""Dagster resources: thin shells over the library's clients."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from mysql_redshift_assets.config.loader import Project, load_project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore


class ConnectionsResource(dg.ConfigurableResource):
    """Opens the sources, stores and warehouses named in `<pipelines_dir>/connections.yml`."""

    pipelines_dir: str = Field(description="Folder holding connections.yml and the pipelines.")

    def project(self) -> Project:
        return load_project(Path(self.pipelines_dir))

    def source(self, name: str) -> Source:
        return open_source(self.project(), name)

    def store(self, name: str) -> ObjectStore:
        return open_store(self.project(), name)

    def warehouse(self, name: str) -> Warehouse:
        return open_warehouse(self.project(), name)


class WatermarkResource(dg.ConfigurableResource):
    """Per-table extraction state, kept as JSON in each table's object store."""

    connections: ConnectionsResource = Field(description="Where the stores are defined.")

    def store_for(self, table: TableConfig) -> WatermarkStore:
        return WatermarkStore(self.connections.store(table.store))

    def get(self, table: TableConfig) -> Watermark | None:
        return self.store_for(table).load(table)
