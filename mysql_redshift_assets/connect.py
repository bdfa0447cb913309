"""Open the clients that connections.yml names. `${ENV}` is resolved here, at use, not at import.

SSH. A source or target with `ssh: <name>` connects to the local end of a tunnel through that
bastion (`tunnel.TunnelPool`) instead of its host/port; host/port are then the address as the
bastion sees it. The tunnel opens when the client first connects, not here. `tunnels` is the
pool to use: the Dagster resource passes its per-run pool; without one, a module-level default
pool is used (one tunnel per bastion and endpoint for the whole process, closed at interpreter
exit or by `close_default_tunnels()`).
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

from pydantic import SecretStr

from mysql_redshift_assets.config.connections import (
    DemoSourceSpec,
    DuckDBTargetSpec,
    Keepalive,
    LocalStoreSpec,
    MySQLSourceSpec,
    PostgresTargetSpec,
    RedshiftTargetSpec,
    S3StoreSpec,
    SourceSpec,
    StoreSpec,
    TargetSpec,
    check_redshift_target,
)
from mysql_redshift_assets.config.env import resolve_env
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.deadline import SessionBounds
from mysql_redshift_assets.ssh import TunnelPool
from mysql_redshift_assets.store.objectstore import LocalStore, ObjectStore

if TYPE_CHECKING:
    import psycopg
    import redshift_connector
    from psycopg.rows import TupleRow

_default_tunnels: TunnelPool | None = None

# Bounds opening a warehouse session (TCP, TLS, authentication), not the statements after it.
REDSHIFT_CONNECT_TIMEOUT_SECONDS = 10


def default_tunnels() -> TunnelPool:
    """The process-wide pool used when no `tunnels` is passed; closed at interpreter exit."""
    global _default_tunnels
    if _default_tunnels is None:
        _default_tunnels = TunnelPool()
        atexit.register(close_default_tunnels)
    return _default_tunnels


def close_default_tunnels() -> None:
    if _default_tunnels is not None:
        _default_tunnels.close_all()


@overload
def _entry(project: Project, group: Literal["sources"], name: str) -> SourceSpec: ...
@overload
def _entry(project: Project, group: Literal["stores"], name: str) -> StoreSpec: ...
@overload
def _entry(project: Project, group: Literal["targets"], name: str) -> TargetSpec: ...
def _entry(project: Project, group: str, name: str) -> SourceSpec | StoreSpec | TargetSpec:
    entries = getattr(project.connections, group)
    if name not in entries:
        raise ConfigError(f"{project.connections_path}: no {group[:-1]} named {name!r}")
    return resolve_env(
        entries[name],
        where=f"{project.connections_path}: {group}.{name}",
        deferred=project.references(group, name),
    )


def _tunnel_endpoint(
    project: Project,
    spec: MySQLSourceSpec | PostgresTargetSpec | RedshiftTargetSpec,
    group: str,
    name: str,
    tunnels: TunnelPool | None,
) -> Callable[[], tuple[str, int]] | None:
    """None without `ssh:`; else the callable a client calls to get its (host, port).

    The SSH entry is resolved now (`${ENV}`, relative paths), so a missing variable is an error
    when the connection is opened, naming the bastion and the connection that uses it.
    """
    bastion = getattr(spec, "ssh", None)
    if not bastion:
        return None
    path = project.connections_path
    if bastion not in project.connections.ssh:
        raise ConfigError(f"{path}: {group}.{name}.ssh: no entry {bastion!r} under `ssh:`")
    ssh = resolve_env(
        project.connections.ssh[bastion],
        where=f"{path}: ssh.{bastion} (used by {group}.{name})",
        deferred=project.references("ssh", bastion),
    )
    ssh = ssh.model_copy(
        update={
            key: str(project.resolve_path(value))
            for key in ("private_key", "known_hosts")
            if (value := getattr(ssh, key))
        }
    )
    pool = tunnels
    connection = f"{path}: {group}.{name}"
    host, port = spec.host, spec.port
    return lambda: (pool or default_tunnels()).local_endpoint(
        bastion, ssh, host, port, connection=connection
    )


def open_source(project: Project, name: str, tunnels: TunnelPool | None = None) -> Source:
    spec = _entry(project, "sources", name)
    if isinstance(spec, DemoSourceSpec):
        from mysql_redshift_assets.extract.demo_source import DemoSource

        return DemoSource(name, project.resolve_path(spec.path))
    assert isinstance(spec, MySQLSourceSpec)
    from mysql_redshift_assets.extract.mysql_socket import Keepalive
    from mysql_redshift_assets.extract.source import MySQLSource

    return MySQLSource(
        name,
        host=spec.host,
        port=spec.port,
        user=spec.user,
        password=spec.password.get_secret_value(),
        database=spec.database,
        connect_timeout=spec.connect_timeout_seconds,
        read_timeout=spec.read_timeout_seconds,
        keepalive=Keepalive(
            spec.keepalive_idle_seconds, spec.keepalive_interval_seconds, spec.keepalive_count
        ),
        endpoint=_tunnel_endpoint(project, spec, "sources", name, tunnels),
        reader=spec.reader,
        time_zone=spec.time_zone,
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
        timeouts=(spec.connect_timeout_seconds, spec.read_timeout_seconds),
    )


def open_warehouse(project: Project, name: str, tunnels: TunnelPool | None = None) -> Warehouse:
    spec = _entry(project, "targets", name)
    if isinstance(spec, DuckDBTargetSpec):
        from mysql_redshift_assets.load.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(
            name, project.resolve_path(spec.path), memory_limit=spec.memory_limit
        )
    tunnel = _tunnel_endpoint(project, spec, "targets", name, tunnels)

    def address() -> tuple[str, int]:
        # Asked at every (re)connect: opens the tunnel, or reopens it once if it dropped.
        return tunnel() if tunnel is not None else (spec.host, spec.port)

    if isinstance(spec, PostgresTargetSpec):
        from mysql_redshift_assets.load.postgres import PostgresWarehouse

        def connect_pg() -> psycopg.Connection[TupleRow]:
            import psycopg

            host, port = address()
            return psycopg.connect(
                host=host,
                port=port,
                dbname=spec.database,
                user=spec.user,
                password=spec.password.get_secret_value() or None,
                connect_timeout=10,
                **libpq_keepalive_args(spec),
            )

        return PostgresWarehouse(name, connect_pg, session_bounds(spec))
    assert isinstance(spec, RedshiftTargetSpec)
    try:
        check_redshift_target(spec)  # again, now that `${ENV}` values are resolved
    except ValueError as exc:
        raise ConfigError(f"{project.connections_path}: targets.{name}.{exc}") from None
    from mysql_redshift_assets.load.redshift import RedshiftWarehouse

    def connect_redshift() -> redshift_connector.Connection:
        host, port = address()
        return connect_redshift_session(spec, host, port)

    return RedshiftWarehouse(
        name,
        connect_redshift,
        iam_role=spec.iam_role,
        access_key_id=_secret(spec.aws_access_key_id),
        secret_access_key=_secret(spec.aws_secret_access_key),
        session_token=_secret(spec.aws_session_token),
        bounds=session_bounds(spec),
    )


def session_bounds(spec: PostgresTargetSpec | RedshiftTargetSpec) -> SessionBounds:
    """The statement bounds of a target's sessions (`load/deadline.py`)."""
    return SessionBounds(spec.statement_timeout_seconds, spec.deadline_margin_seconds)


def libpq_keepalive_args(spec: Keepalive) -> dict[str, Any]:
    """TCP keepalive in libpq's connection parameters
    (https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-KEEPALIVES)."""
    return {
        "keepalives": 1,
        "keepalives_idle": spec.keepalive_idle_seconds,
        "keepalives_interval": spec.keepalive_interval_seconds,
        "keepalives_count": spec.keepalive_count,
    }


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def redshift_connect_args(spec: RedshiftTargetSpec, host: str, port: int) -> dict[str, Any]:
    """The arguments of `redshift_connector.connect` for `spec` reached at (host, port).

    `timeout` bounds the connect only: the connector keeps it as the socket timeout of every
    later read (core.py: `self._usock.settimeout(timeout)`, never reset), so any statement
    slower than it (a real COPY, the merge, waiting on LOCK) would raise TimeoutError;
    `connect_redshift_session` clears it once the session is open. `sslmode` is verify-ca
    through a tunnel (the certificate names the cluster, not 127.0.0.1), verify-full otherwise
    (https://docs.aws.amazon.com/redshift/latest/mgmt/python-configuration-options.html).
    TCP keepalive is on with the target's idle/interval/count: the connector's own default is
    the OS's 7,200 s idle, while a firewall or load balancer drops an idle flow (AWS's default
    is 350 s: https://docs.aws.amazon.com/network-firewall/latest/APIReference/API_FlowTimeouts.html;
    https://docs.aws.amazon.com/redshift/latest/mgmt/connecting-firewall-guidance.html).
    `statement_timeout_seconds` is sent once the session is open (`load/dbapi.py`).
    """
    return {
        "host": host,
        "port": port,
        "database": spec.database,
        **(_iam_args(spec) if spec.iam_auth else _password_args(spec)),
        "ssl": True,
        "sslmode": spec.effective_sslmode,
        "timeout": REDSHIFT_CONNECT_TIMEOUT_SECONDS,
        "tcp_keepalive": True,
        "tcp_keepalive_idle": spec.keepalive_idle_seconds,
        "tcp_keepalive_interval": spec.keepalive_interval_seconds,
        "tcp_keepalive_count": spec.keepalive_count,
    }


def _password_args(spec: RedshiftTargetSpec) -> dict[str, Any]:
    return {"user": spec.user, "password": spec.password.get_secret_value()}


def _iam_args(spec: RedshiftTargetSpec) -> dict[str, Any]:
    """`iam_auth: true`: the connector asks IAM for a temporary password (Serverless:
    GetCredentials of the workgroup; provisioned: GetClusterCredentials of the cluster for
    `db_user`), with the process's AWS credentials or `profile`
    (https://docs.aws.amazon.com/redshift/latest/mgmt/python-connect-examples.html,
    https://docs.aws.amazon.com/redshift/latest/mgmt/python-configuration-options.html). The
    host may be a tunnel's 127.0.0.1: the workgroup or cluster is named, never read from it."""
    args: dict[str, Any] = {"iam": True, "user": spec.db_user or spec.user,
                            "db_user": spec.db_user or spec.user,
                            "region": spec.cluster_region}  # fmt: skip
    if spec.profile:
        args["profile"] = spec.profile
    if spec.serverless:
        args["is_serverless"] = True
        args["serverless_work_group"] = spec.serverless_workgroup
        if spec.serverless_account:
            args["serverless_acct_id"] = spec.serverless_account
    else:
        args["cluster_identifier"] = spec.iam_cluster_identifier
    return args


def connect_redshift_session(
    spec: RedshiftTargetSpec, host: str, port: int
) -> redshift_connector.Connection:
    import redshift_connector

    conn = redshift_connector.connect(**redshift_connect_args(spec, host, port))
    unbound_statements(conn)
    return conn


def unbound_statements(conn: Any) -> None:
    """Clear the connect timeout from the session's socket: statements may take hours. They
    are bounded by the session's statement_timeout and the client-side deadline instead."""
    conn._usock.settimeout(None)
