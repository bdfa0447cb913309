"""sshtunnel's forwarder with a login of our own: host key verified, failures explained.

sshtunnel's own login neither checks known_hosts nor keeps the reason a login failed (it logs it
and raises "Could not establish session"). `Forwarder` does the SSH handshake with paramiko,
checks the server's key against known_hosts, authenticates with exactly the configured keys and
keeps a `TunnelError` in `failure`. Forwarding, threads and shutdown stay sshtunnel's.
"""

from __future__ import annotations

import logging
import socket

import paramiko
import sshtunnel

from mysql_redshift_assets.ssh.keys import (
    host_key_problem,
    known_host_keys,
    prefer_known_key_types,
)
from mysql_redshift_assets.ssh.target import LOCAL_HOST, LogLike, Target, TunnelError, log

# sshtunnel logs every forwarded byte (hex) at level 1 ("TRACE"): database handshakes included.
# Its records go to this logger, which never passes anything below DEBUG, and demotes its chatter
# (INFO, and the "not started" warnings of stopping a dropped tunnel) to DEBUG: this package logs
# what an operator needs.
_sshtunnel_log = logging.getLogger(f"{log.name}.sshtunnel")


def _sshtunnel_filter(record: logging.LogRecord) -> bool:
    if record.levelno < logging.DEBUG:
        return False
    if record.levelno == logging.INFO or (
        record.levelno == logging.WARNING and "not started" in str(record.msg)
    ):
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return True


_sshtunnel_log.addFilter(_sshtunnel_filter)


class Forwarder(sshtunnel.SSHTunnelForwarder):
    """SSHTunnelForwarder whose gateway login verifies the host key and explains failures."""

    def __init__(self, target: Target, keys: list[paramiko.PKey], logger: LogLike) -> None:
        self.target = target
        self.keys = keys
        self.run_log = logger
        self.failure: TunnelError | None = None
        spec = target.spec
        super().__init__(
            (spec.host, spec.port),
            ssh_config_file=None,  # never ~/.ssh/config: connections.yml is the whole truth
            ssh_username=spec.user,
            ssh_pkey=keys[0],  # sshtunnel wants one; the login below offers `keys`
            allow_agent=False,
            host_pkey_directories=[],  # never ~/.ssh/id_*
            remote_bind_address=(target.remote_host, target.remote_port),
            local_bind_address=(LOCAL_HOST, 0),
            set_keepalive=spec.keepalive_seconds,
            logger=_sshtunnel_log,
        )

    # sshtunnel calls these two private methods; the version is pinned in pyproject.toml.
    def _create_tunnels(self) -> None:
        # sshtunnel creates the local servers even when the login failed, and stopping a server
        # that never served blocks forever (socketserver.shutdown): no login, no servers.
        if not self.is_active:
            self._connect_to_gateway()
        if self.is_active:
            super()._create_tunnels()

    def _connect_to_gateway(self) -> None:
        self.failure = None
        sock = self._open_socket()
        if sock is None:
            return
        known = known_host_keys(self.target) if self.target.spec.verify_host_key else None
        transport = self._handshake(sock, known)
        if transport is None:
            return
        if self._trust_host_key(transport.get_remote_server_key(), known):
            self._authenticate(transport)

    def _open_socket(self) -> socket.socket | None:
        target, spec = self.target, self.target.spec
        try:
            return socket.create_connection(
                (spec.host, spec.port), timeout=spec.connect_timeout_seconds
            )
        except socket.gaierror as exc:
            self.failure = target.error(
                f"cannot resolve the bastion's host name {spec.host!r} ({exc.strerror}). Fix: "
                f"check ssh.{target.bastion}.host and DNS"
            )
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            self.failure = target.error(
                f"cannot reach the bastion at {spec.host}:{spec.port} ({reason}). Fix: check "
                f"ssh.{target.bastion}.host/port, the network (VPN, firewall, security group) "
                "and that sshd runs there"
            )
        return None

    def _handshake(
        self, sock: socket.socket, known: dict[str, paramiko.PKey] | None
    ) -> paramiko.Transport | None:
        spec = self.target.spec
        timeout = spec.connect_timeout_seconds
        transport = paramiko.Transport(sock)
        self._transport = transport
        transport.set_keepalive(spec.keepalive_seconds)
        transport.daemon = self.daemon_transport
        transport.banner_timeout = timeout
        transport.auth_timeout = timeout
        if known:
            prefer_known_key_types(transport, known)
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._fail(
                f"the SSH handshake with {spec.host}:{spec.port} failed ({exc or type(exc).__name__})"
                ". Fix: check that this host/port is an SSH server"
            )
            return None
        return transport

    def _trust_host_key(
        self, server_key: paramiko.PKey, known: dict[str, paramiko.PKey] | None
    ) -> bool:
        target = self.target
        if target.spec.verify_host_key:
            if problem := host_key_problem(target, server_key, known):
                self._fail(problem)
                return False
            return True
        warning = (
            f"{target.where}: host key NOT verified (verify_host_key: false); the bastion "
            f"presented {server_key.get_name()} {server_key.fingerprint}. Anyone on the "
            "network path can impersonate it."
        )
        log.warning(warning)
        if self.run_log is not log:
            self.run_log.warning(warning)
        return True

    def _authenticate(self, transport: paramiko.Transport) -> None:
        target, spec = self.target, self.target.spec
        for key in self.keys:
            try:
                transport.auth_publickey(spec.user, key)
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self._fail(f"SSH authentication failed ({exc or type(exc).__name__})")
                return
            if transport.is_authenticated():
                return
        offered = ", ".join(f"{k.get_name()} {k.fingerprint}" for k in self.keys)
        source = (
            f"the key {spec.private_key}"
            if spec.private_key
            else f"the key in ssh.{target.bastion}.private_key_data"
            if spec.private_key_data is not None
            else "the ssh-agent's keys"
        )
        self._fail(
            f"the bastion rejected {source} for user {spec.user!r} ({offered}). Fix: add the "
            f"public key to ~{spec.user}/.ssh/authorized_keys on the bastion, or set "
            f"ssh.{target.bastion}.private_key / user to the key and user the bastion accepts"
        )

    def _fail(self, problem: str) -> None:
        self.failure = self.target.error(problem)
        transport = self.__dict__.get("_transport")
        if transport is not None:
            transport.close()
