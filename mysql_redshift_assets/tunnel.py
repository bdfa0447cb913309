"""SSH tunnels through bastions: one per (bastion, remote endpoint), shared, verified, reopened once.

    pool = TunnelPool()
    host, port = pool.local_endpoint("bastion_us", ssh_spec, "db.internal", 3306,
                                     connection="connections.yml: sources.us_dw_ro")
    ...                                 # connect the database client to (host, port)
    pool.close_all()                    # end of the run (the Dagster resource does this)

Lifetime. A `TunnelPool` holds at most one `sshtunnel.SSHTunnelForwarder` per key
(bastion name, remote host, remote port). The first `local_endpoint()` for a key opens it,
bound to 127.0.0.1 on a free port chosen by the OS; every later call for the same key returns
the same endpoint, so every table and asset of a run shares one SSH connection per bastion.
`close_all()` closes them; the Dagster `ConnectionsResource` owns one pool per run (per step
process with the multiprocess executor), and `connect.py` has a module-level default pool,
closed at interpreter exit, for library and CLI use.

Liveness. The SSH transport sends keepalives (`keepalive_seconds`). Each `local_endpoint()`
checks that the transport is still active; when it dropped (bastion restarted, network cut) the
tunnel is reopened once, on a new local port, and the new endpoint returned; a failed reopen is
a `TunnelError`. Database connections made through the old endpoint are dead; clients that ask
for the endpoint when they (re)connect (MySQLSource, the warehouses) reconnect through the new
one.

Security.
- The host key is verified by default against `known_hosts` (default `~/.ssh/known_hosts`,
  OpenSSH format, hashed names allowed, `[host]:port` for ports other than 22): an unknown key
  and a changed key are refused with the command that fixes it. `verify_host_key: false`
  disables the check explicitly and logs a warning at every connect.
- A private key file that group or others may read is refused (as OpenSSH does), with the
  `chmod 600` fix. Without `private_key` the keys of a running ssh-agent are used; ~/.ssh/id_*
  and ~/.ssh/config are never read implicitly, so what connects is what connections.yml says.
- Messages and logs name the connection, the bastion (user@host:port), the key *path* and
  public fingerprints, never a passphrase or key material; sshtunnel's byte-level TRACE logging
  is cut off.

No Dagster import here: the pool is plain Python.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import paramiko
import sshtunnel

from mysql_redshift_assets.config.models import SshSpec

log = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"

# sshtunnel logs every forwarded byte (hex) at level 1 ("TRACE"): database handshakes included.
# Its records go to this logger, which never passes anything below DEBUG, and demotes its chatter
# (INFO, and the "not started" warnings of stopping a dropped tunnel) to DEBUG: this module logs
# what an operator needs.
_sshtunnel_log = logging.getLogger(f"{__name__}.sshtunnel")


def _sshtunnel_filter(record: logging.LogRecord) -> bool:
    if record.levelno < logging.DEBUG:
        return False
    if record.levelno == logging.INFO or (
        record.levelno == logging.WARNING and "not started" in str(record.msg)
    ):
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
    return True


_sshtunnel_log.addFilter(_sshtunnel_filter)


class TunnelError(RuntimeError):
    """A tunnel that cannot be opened. The message names the connection, the bastion, the fix."""

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message


class LogLike(Protocol):
    def info(self, msg: str, *args: Any) -> Any: ...

    def warning(self, msg: str, *args: Any) -> Any: ...


Endpoint = tuple[str, int]


# -- checks done before connecting ------------------------------------------------------------
def check_key_permissions(path: Path) -> str | None:
    """Why OpenSSH would refuse this private key file, or None. Never reads the file."""
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    mine = st.st_uid == os.geteuid()
    if (mine and mode & 0o077) or (not mine and mode & 0o007):
        who = "other users" if mode & 0o007 else "its group"
        return (
            f"private key {path} is accessible to {who} (mode {mode:04o}); a private key must "
            f"be readable by its owner only. Fix: chmod 600 {path}"
        )
    return None


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH writes in known_hosts: `host`, or `[host]:port` when port != 22."""
    return host if port == 22 else f"[{host}]:{port}"


def _key_types_for(names: list[str]) -> list[str]:
    """Transport host-key algorithms for known_hosts key types (ssh-rsa -> rsa-sha2-*)."""
    out: list[str] = []
    for name in names:
        out += ["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name]
    return out


@dataclass
class _Target:
    """What one tunnel is for; only non-secret fields are ever formatted into a message."""

    bastion: str
    spec: SshSpec
    remote_host: str
    remote_port: int
    connection: str

    @property
    def where(self) -> str:
        s = self.spec
        who = f"{self.connection} via " if self.connection else ""
        return f"{who}SSH bastion {self.bastion!r} ({s.user}@{s.host}:{s.port})"

    @property
    def known_hosts(self) -> Path:
        return Path(self.spec.known_hosts or DEFAULT_KNOWN_HOSTS).expanduser()

    def error(self, problem: str) -> TunnelError:
        secret = self.spec.private_key_passphrase
        if secret is not None and secret.get_secret_value():
            problem = problem.replace(secret.get_secret_value(), "**********")
        return TunnelError(f"{self.where}: {problem}", problem)


def _load_keys(target: _Target) -> tuple[list[paramiko.PKey], paramiko.Agent | None]:
    """The client keys to offer: the configured file, else the ssh-agent's keys."""
    spec = target.spec
    if spec.private_key is None:
        agent = paramiko.Agent()
        keys = list(agent.get_keys())
        if not keys:
            agent.close()
            sock = (
                "SSH_AUTH_SOCK is not set"
                if not os.environ.get("SSH_AUTH_SOCK")
                else ("the ssh-agent holds no key")
            )
            raise target.error(
                f"no private_key is configured and {sock}. Fix: set `private_key: <path>` "
                f"under ssh.{target.bastion}, or start ssh-agent and `ssh-add` the key"
            )
        return keys, agent
    path = Path(spec.private_key).expanduser()
    if not path.is_file():
        raise target.error(
            f"private key file {path} not found (ssh.{target.bastion}.private_key). Fix: point "
            "private_key at the key file, or remove it to use ssh-agent"
        )
    if problem := check_key_permissions(path):
        raise target.error(problem)
    secret = spec.private_key_passphrase.get_secret_value() if spec.private_key_passphrase else ""
    passphrase = secret.encode() if secret else None  # cryptography wants bytes
    encrypted = target.error(
        f"private key {path} is encrypted and no passphrase is configured. Fix: set "
        f"`private_key_passphrase: ${{SOME_ENV_VAR}}` under ssh.{target.bastion}"
    )
    try:
        try:
            return [paramiko.PKey.from_path(path, passphrase)], None
        except paramiko.PasswordRequiredException:
            raise encrypted from None
        except TypeError:
            # cryptography: "password was not given but the key is encrypted", or "password
            # was given but the key is not encrypted" (then the passphrase is simply not needed).
            if passphrase is None:
                raise encrypted from None
            return [paramiko.PKey.from_path(path, None)], None
    except PermissionError:
        raise target.error(f"private key {path} cannot be read by this user") from None
    except (paramiko.SSHException, ValueError, TypeError) as exc:
        raise target.error(
            f"cannot load private key {path} ({type(exc).__name__}): wrong passphrase, or not an "
            "OpenSSH/PEM private key (ed25519, ecdsa or rsa; DSA is no longer supported)"
        ) from None


# -- the forwarder ----------------------------------------------------------------------------
class _Forwarder(sshtunnel.SSHTunnelForwarder):
    """SSHTunnelForwarder whose gateway login verifies the host key and explains failures.

    sshtunnel's own login neither checks known_hosts nor keeps the reason a login failed (it
    logs it and raises "Could not establish session"). This override does the SSH handshake
    with paramiko, checks the server's key against known_hosts, authenticates with exactly the
    configured keys and keeps a `TunnelError` in `self.failure`. Forwarding, threads and
    shutdown stay sshtunnel's.
    """

    def __init__(self, target: _Target, keys: list[paramiko.PKey], logger: LogLike) -> None:
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

    def _create_tunnels(self) -> None:
        # sshtunnel creates the local servers even when the login failed, and stopping a server
        # that never served blocks forever (socketserver.shutdown): no login, no servers.
        if not self.is_active:
            self._connect_to_gateway()
        if self.is_active:
            super()._create_tunnels()

    def _connect_to_gateway(self) -> None:
        target, spec = self.target, self.target.spec
        self.failure = None
        timeout = spec.connect_timeout_seconds
        try:
            sock = socket.create_connection((spec.host, spec.port), timeout=timeout)
        except socket.gaierror as exc:
            self.failure = target.error(
                f"cannot resolve the bastion's host name {spec.host!r} ({exc.strerror}). Fix: "
                f"check ssh.{target.bastion}.host and DNS"
            )
            return
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            self.failure = target.error(
                f"cannot reach the bastion at {spec.host}:{spec.port} ({reason}). Fix: check "
                f"ssh.{target.bastion}.host/port, the network (VPN, firewall, security group) "
                "and that sshd runs there"
            )
            return
        transport = paramiko.Transport(sock)
        self._transport = transport
        transport.set_keepalive(spec.keepalive_seconds)
        transport.daemon = self.daemon_transport
        transport.banner_timeout = timeout
        transport.auth_timeout = timeout
        known = self._known_keys() if spec.verify_host_key else None
        if known:
            # Ask for a key type known_hosts holds, as OpenSSH does.
            options = transport.get_security_options()
            supported = list(options.key_types)
            wanted = [t for t in _key_types_for(list(known)) if t in supported]
            options.key_types = tuple(wanted + [t for t in supported if t not in wanted])
        try:
            transport.start_client(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._fail(
                f"the SSH handshake with {spec.host}:{spec.port} failed ({exc or type(exc).__name__})"
                ". Fix: check that this host/port is an SSH server"
            )
            return
        server_key = transport.get_remote_server_key()
        if spec.verify_host_key:
            if problem := self._host_key_problem(server_key, known):
                self._fail(problem)
                return
        else:
            warning = (
                f"{target.where}: host key NOT verified (verify_host_key: false); the bastion "
                f"presented {server_key.get_name()} {server_key.fingerprint}. Anyone on the "
                "network path can impersonate it."
            )
            log.warning(warning)
            if self.run_log is not log:
                self.run_log.warning(warning)
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
        source = f"the key {spec.private_key}" if spec.private_key else "the ssh-agent's keys"
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

    def _known_keys(self) -> dict[str, paramiko.PKey] | None:
        path = self.target.known_hosts
        if not path.is_file():
            return None
        host_keys = paramiko.HostKeys()
        try:
            host_keys.load(str(path))
        except (OSError, paramiko.SSHException, ValueError):
            return None
        spec = self.target.spec
        found = host_keys.lookup(known_hosts_name(spec.host, spec.port))
        return dict(found) if found else None

    def _host_key_problem(
        self, server_key: paramiko.PKey, known: dict[str, paramiko.PKey] | None
    ) -> str | None:
        target, spec = self.target, self.target.spec
        path = target.known_hosts
        name = known_hosts_name(spec.host, spec.port)
        presented = f"{server_key.get_name()} {server_key.fingerprint}"
        add = f"ssh-keyscan -p {spec.port} {spec.host} >> {path}"
        if known is None:
            state = "is not in" if path.is_file() else "cannot be checked: there is no file"
            return (
                f"the bastion's host key ({presented}) {state} known_hosts {path}. Fix: confirm "
                f"this fingerprint with the bastion's administrator, then `{add}` (or set "
                f"ssh.{target.bastion}.known_hosts to a file that has it)"
            )
        expected = known.get(server_key.get_name())
        if expected is not None and expected.asbytes() == server_key.asbytes():
            return None
        recorded = ", ".join(f"{k.get_name()} {k.fingerprint}" for k in known.values())
        return (
            f"HOST KEY MISMATCH: the bastion presented {presented}, but {path} records "
            f"{recorded} for {name}. The connection may be intercepted, or the bastion's key "
            f"changed. Do not connect until its administrator confirms the new fingerprint; then "
            f"`ssh-keygen -R '{name}' -f {path}` and `{add}`"
        )


# -- the pool ---------------------------------------------------------------------------------
@dataclass
class _Tunnel:
    target: _Target
    log: LogLike
    forwarder: _Forwarder | None = None
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
        keys, self.agent = _load_keys(target)
        forwarder = _Forwarder(target, keys, self.log)
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
    Dagster's `context.log`); host-key warnings always go to this module's logger as well.
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
                target = _Target(bastion, spec, remote_host, int(remote_port), connection)
                tunnel = _Tunnel(target, self._log)
                endpoint = tunnel.open()  # raises before anything is stored
                self._tunnels[key] = tunnel
                return endpoint
            if tunnel.alive():
                assert tunnel.endpoint is not None
                return tunnel.endpoint
            # Dropped: reopen once, now; a connection that fails here fails its step.
            target = tunnel.target
            if connection:
                target.connection = connection
            self._log.warning(
                f"{target.where}: the tunnel to {target.remote_host}:{target.remote_port} "
                "dropped; reopening it once"
            )
            tunnel.close()
            try:
                endpoint = tunnel.open()
            except TunnelError as exc:
                raise target.error(
                    f"the tunnel to {target.remote_host}:{target.remote_port} dropped and "
                    f"reopening it failed: {exc.problem}"
                ) from None
            tunnel.reopens += 1
            return endpoint

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
