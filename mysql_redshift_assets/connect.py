"""Open the clients that connections.yml names. `${ENV}` is resolved here, at use, not at import."""

from __future__ import annotations

from mysql_redshift_assets.config.env import resolve_env
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.models import (
    DemoSourceSpec,
    DuckDBTargetSpec,
    LocalStoreSpec,
    MySQLSourceSpec,
    PostgresTargetSpec,
    RedshiftTargetSpec,
    S3StoreSpec,
)
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.store.objectstore import LocalStore, ObjectStore


def _entry(project: Project, group: str, name: str):
    entries = getattr(project.connections, group)
    if name not in entries:
        raise ConfigError(f"{project.connections_path}: no {group[:-1]} named {name!r}")
    return resolve_env(entries[name], where=f"{project.connections_path}: {group}.{name}")


def _no_tunnel_yet(spec, where: str) -> None:
    if getattr(spec, "ssh", None):
        raise ConfigError(f"{where}: ssh tunnels are not supported in this version")


def open_source(project: Project, name: str) -> Source:
    spec = _entry(project, "sources", name)
    if isinstance(spec, DemoSourceSpec):
        from mysql_redshift_assets.extract.demo_source import DemoSource

        return DemoSource(name, project.resolve_path(spec.path))
    assert isinstance(spec, MySQLSourceSpec)
    from mysql_redshift_assets.extract.source import MySQLSource

    _no_tunnel_yet(spec, f"{project.connections_path}: sources.{name}")
    return MySQLSource(
        name,
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password.get_secret_value(),
        database=spec.database,
        connect_timeout=spec.connect_timeout_seconds,
    )


def open_store(project: Project, name: str) -> ObjectStore:
    spec = _entry(project, "stores", name)
    if isinstance(spec, LocalStoreSpec):
        return LocalStore(project.resolve_path(spec.path))
    assert isinstance(spec, S3StoreSpec)
    from mysql_redshift_assets.store.s3 import S3Store

    return S3Store(
        spec.bucket,
        spec.prefix,
        region=spec.region,
        endpoint_url=spec.endpoint_url,
        access_key_id=spec.aws_access_key_id.get_secret_value() if spec.aws_access_key_id else None,
        secret_access_key=(
            spec.aws_secret_access_key.get_secret_value() if spec.aws_secret_access_key else None
        ),
    )


def open_warehouse(project: Project, name: str) -> Warehouse:
    spec = _entry(project, "targets", name)
    where = f"{project.connections_path}: targets.{name}"
    if isinstance(spec, DuckDBTargetSpec):
        from mysql_redshift_assets.load.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(name, project.resolve_path(spec.path))
    _no_tunnel_yet(spec, where)
    if isinstance(spec, PostgresTargetSpec):
        from mysql_redshift_assets.load.redshift import PostgresWarehouse

        def connect_pg():
            import psycopg

            return psycopg.connect(
                host=spec.host,
                port=spec.port,
                dbname=spec.database,
                user=spec.user,
                password=spec.password.get_secret_value() or None,
                connect_timeout=10,
            )

        return PostgresWarehouse(name, connect_pg)
    assert isinstance(spec, RedshiftTargetSpec)
    from mysql_redshift_assets.load.redshift import RedshiftWarehouse

    def connect_redshift():
        import redshift_connector

        return redshift_connector.connect(
            host=spec.host,
            port=spec.port,
            database=spec.database,
            user=spec.user,
            password=spec.password.get_secret_value(),
            timeout=10,
        )

    return RedshiftWarehouse(
        name,
        connect_redshift,
        iam_role=spec.iam_role,
        access_key_id=spec.aws_access_key_id.get_secret_value() if spec.aws_access_key_id else None,
        secret_access_key=(
            spec.aws_secret_access_key.get_secret_value() if spec.aws_secret_access_key else None
        ),
    )
