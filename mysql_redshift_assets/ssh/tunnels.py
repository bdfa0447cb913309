"""The tunnel pool: one tunnel per (bastion, remote host, remote port), shared, reopened once."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paramiko
import sshtunnel

from mysql_redshift_assets.config.connections import SshSpec
from mysql_redshift_assets.ssh.forwarder import Forwarder
from mysql_redshift_assets.ssh.keys import load_client_keys
from mysql_redshift_assets.ssh.target import (
    LOCAL_HOST,
    Endpoint,
    LogLike,
    Target,
    TunnelError,
    log,
)


@dataclass
class _Tunnel:
    target: Target
    log: LogLike
    forwarder: Forwarder | None = None
    agent: paramiko.Agent | None = None
    endpoint: Endpoint | None = None
    opens: int = 0
    reopens: int = 0
    history: list[Endpoint] = field(default_factory=list)

    def alive(self) -> bool:
        f = self.forwarder
        return f is not None and f.is_active and f.is_alive

    def open(self) -> Endpoint:
        target = self.target
        keys, self.agent = load_client_keys(target)
        forwarder = Forwarder(target, keys, self.log)
        try:
            forwarder.start()
        except sshtunnel.BaseSSHTunnelForwarderError:
            failure = forwarder.failure
            forwarder.stop(force=True)
            self._close_agent()
            if failure is not None:
                raise failure from None
            raise target.error(
                f"could not open the local end of the tunnel on {LOCAL_HOST} (to "
                f"{target.remote_host}:{target.remote_port})"
            ) from None
        self.forwarder = forwarder
        self.endpoint = (LOCAL_HOST, int(forwarder.local_bind_port))
        self.opens += 1
        self.history.append(self.endpoint)
        self.log.info(
            f"{target.where}: tunnel to {target.remote_host}:{target.remote_port} open on "
            f"{self.endpoint[0]}:{self.endpoint[1]}"
        )
        return self.endpoint

    def reopen(self) -> Endpoint:
        """Close a dropped tunnel and open it again, once; a failure here fails the caller."""
        target = self.target
        self.log.warning(
            f"{target.where}: the tunnel to {target.remote_host}:{target.remote_port} "
            "dropped; reopening it once"
        )
        self.close()
        try:
            endpoint = self.open()
        except TunnelError as exc:
            raise target.error(
                f"the tunnel to {target.remote_host}:{target.remote_port} dropped and "
                f"reopening it failed: {exc.problem}"
            ) from None
        self.reopens += 1
        return endpoint

    def close(self) -> None:
        forwarder, self.forwarder = self.forwarder, None
        if forwarder is not None:
            try:
                forwarder.stop(force=True)
            except Exception as exc:  # closing must not mask the run's result
                log.debug("closing tunnel %s: %s", self.target.bastion, type(exc).__name__)
        self._close_agent()
        self.endpoint = None

    def _close_agent(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None


class TunnelPool:
    """One tunnel per (bastion, remote host, remote port), opened lazily, shared, reopened once.

    Thread-safe. `logger` receives the open / reopen / close lines (a `logging.Logger` or
    Dagster's `context.log`); host-key warnings always go to this package's logger as well.
    """

    def __init__(self, logger: LogLike | None = None) -> None:
        self._log: LogLike = logger or log
        self._lock = threading.Lock()
        self._tunnels: dict[tuple[str, str, int], _Tunnel] = {}
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"TunnelPool({sorted(f'{b}->{h}:{p}' for b, h, p in self._tunnels)})"

    def local_endpoint(
        self,
        bastion: str,
        spec: SshSpec,
        remote_host: str,
        remote_port: int,
        *,
        connection: str = "",
    ) -> Endpoint:
        """(host, port) on this machine that reaches remote_host:remote_port through `bastion`.

        Opens the tunnel on first use; reopens it once when it dropped. `spec` must already have
        its `${ENV}` resolved and its paths made absolute (connect.py does both).
        """
        key = (bastion, remote_host, int(remote_port))
        with self._lock:
            self._forget_after_fork()
            tunnel = self._tunnels.get(key)
            if tunnel is None:
                target = Target(bastion, spec, remote_host, int(remote_port), connection)
                tunnel = _Tunnel(target, self._log)
                endpoint = tunnel.open()  # raises before anything is stored
                self._tunnels[key] = tunnel
                return endpoint
            if tunnel.alive() and tunnel.endpoint is not None:
                return tunnel.endpoint
            # Dropped: reopen once, now; a connection that fails here fails its step.
            if connection:
                tunnel.target.connection = connection
            return tunnel.reopen()

    def endpoint_fn(
        self, bastion: str, spec: SshSpec, remote_host: str, remote_port: int, *, connection: str
    ) -> Callable[[], Endpoint]:
        """A callable a client calls whenever it (re)connects: opens / checks / reopens."""
        return lambda: self.local_endpoint(
            bastion, spec, remote_host, remote_port, connection=connection
        )

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per tunnel `bastion->host:port`: opens, reopens, alive, endpoint (tests, diagnostics)."""
        with self._lock:
            return {
                f"{b}->{h}:{p}": {
                    "opens": t.opens,
                    "reopens": t.reopens,
                    "alive": t.alive(),
                    "endpoint": t.endpoint,
                    "endpoints": list(t.history),
                }
                for (b, h, p), t in self._tunnels.items()
            }

    def close_all(self) -> None:
        """Close every tunnel (in the process that opened them; a forked child only forgets)."""
        with self._lock:
            tunnels, self._tunnels = self._tunnels, {}
            if os.getpid() != self._pid:
                return  # a forked child: the parent owns these sockets
            for tunnel in tunnels.values():
                tunnel.close()
                self._log.info(f"{tunnel.target.where}: tunnel closed")

    def _forget_after_fork(self) -> None:
        if os.getpid() != self._pid:
            self._tunnels = {}
            self._pid = os.getpid()

    def __enter__(self) -> TunnelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()
