"""What one tunnel is for, and the error every SSH failure becomes (naming it, never a secret)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mysql_redshift_assets.config.connections import SshSpec

# One logger for the package: the pool's default log and the forwarder's host-key warning must
# be the same object, so a warning is not written twice when no run logger is given.
log = logging.getLogger("mysql_redshift_assets.ssh")

LOCAL_HOST = "127.0.0.1"
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"

Endpoint = tuple[str, int]


class LogLike(Protocol):
    """A `logging.Logger` or Dagster's `context.log`."""

    def info(self, msg: str, *args: Any) -> Any: ...

    def warning(self, msg: str, *args: Any) -> Any: ...


class TunnelError(RuntimeError):
    """A tunnel that cannot be opened. The message names the connection, the bastion, the fix."""

    def __init__(self, message: str, problem: str = "") -> None:
        super().__init__(message)
        self.problem = problem or message


@dataclass
class Target:
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
        for secret in (self.spec.private_key_passphrase, self.spec.private_key_data):
            if secret is not None and secret.get_secret_value().strip():
                problem = problem.replace(secret.get_secret_value(), "**********")
        return TunnelError(f"{self.where}: {problem}", problem)
