"""A real OpenSSH server for the tunnel tests, on 127.0.0.1, in a temp folder.

`SshServer.start(folder)` generates a host key and a user key with ssh-keygen, writes its own
sshd_config (free port, PidFile / AuthorizedKeysFile / host key in the folder, TCP forwarding
allowed, public keys only) and runs `/usr/sbin/sshd -f <config> -D -e` as a subprocess, logging
to `<folder>/sshd.log`. `stop()` ends it by pid (and, with `drop_sessions`, the per-connection
sshd processes it forked, found through /proc, so live tunnels drop as on a real outage);
`start_again()` restarts it on the same port with the same keys.

The SSH user is the current user (root here): sshd only lets a non-root sshd log in as itself.
Without sshd / ssh-keygen the test is skipped, or fails under CI=true (`conftest.unavailable`).
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from mysql_redshift_assets_tests.conftest import free_port, unavailable

SSHD = os.environ.get("MRA_TEST_SSHD", "/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; it refuses to start without it


def keygen(path: Path, *, passphrase: str = "", kind: str = "ed25519") -> Path:
    """A new key pair `path` / `path.pub`, private key mode 0600."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", "mra-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    path.chmod(0o600)
    return path


def _children(pid: int) -> list[int]:
    """Every descendant of `pid` (per-connection sshd processes), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "<pid> (<comm>) <state> <ppid> ...": comm may hold spaces; split after the last ')'.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@dataclass
class SshServer:
    folder: Path
    port: int
    user: str
    host_key: Path
    user_key: Path
    known_hosts: Path  # holds exactly this server's host key, as `[127.0.0.1]:<port>`
    config: Path
    log: Path
    proc: subprocess.Popen | None = None
    _log_handle: object = field(default=None, repr=False)

    host = "127.0.0.1"

    @classmethod
    def start(cls, folder: Path) -> SshServer:
        if not os.access(SSHD, os.X_OK) or not shutil.which("ssh-keygen"):
            unavailable("OpenSSH server (sshd, ssh-keygen)", FileNotFoundError(SSHD))
        if not PRIVSEP_DIR.is_dir():
            try:
                PRIVSEP_DIR.mkdir(mode=0o755, parents=True)
            except OSError as exc:
                unavailable(f"sshd privilege separation directory {PRIVSEP_DIR}", exc)
        folder.mkdir(parents=True, exist_ok=True)
        host_key = keygen(folder / "host_ed25519")
        user_key = keygen(folder / "user_ed25519")
        (folder / "authorized_keys").write_text((folder / "user_ed25519.pub").read_text())
        port = free_port()
        config = folder / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"Port {port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {host_key}",
                    f"PidFile {folder / 'sshd.pid'}",
                    f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                    "StrictModes no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "AllowTcpForwarding yes",
                    "PermitOpen any",
                    "UsePAM no",
                    "LogLevel DEBUG1",  # logs each forward: "... target 127.0.0.1 port 3306"
                    "",
                ]
            )
        )
        host_public = (folder / "host_ed25519.pub").read_text().split()
        known_hosts = folder / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_public[0]} {host_public[1]}\n")
        server = cls(
            folder=folder,
            port=port,
            user=getpass.getuser(),
            host_key=host_key,
            user_key=user_key,
            known_hosts=known_hosts,
            config=config,
            log=folder / "sshd.log",
        )
        check = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            unavailable("sshd (config test)", RuntimeError(check.stderr.strip()))
        server.start_again()
        return server

    def start_again(self) -> None:
        """Start sshd (again) on this port with these keys; returns once it speaks SSH."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        handle = self.log.open("ab")
        self._log_handle = handle
        self.proc = subprocess.Popen(
            [SSHD, "-f", str(self.config), "-D", "-e"],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=handle,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                unavailable("sshd", RuntimeError(f"exited: {self.log_text()[-2000:]}"))
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-2.0"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        unavailable("sshd", TimeoutError(f"no SSH banner on port {self.port}"))

    def sessions(self) -> list[int]:
        """Pids of the per-connection sshd processes (empty when no tunnel is connected)."""
        return _children(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def stop(self, *, drop_sessions: bool = True) -> None:
        """Stop the listener by pid; with drop_sessions, kill its live sessions as well."""
        if self.proc is None:
            return
        kids = _children(self.proc.pid) if drop_sessions else []
        for pid in kids:
            _signal(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log_handle is not None:
            self._log_handle.close()  # type: ignore[attr-defined]
            self._log_handle = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def accepted_logins(self) -> int:
        return self.log_text().count("Accepted publickey")

    def ssh_entry(self, **overrides: object) -> dict[str, object]:
        """The `ssh:` entry of connections.yml for this server."""
        entry: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "private_key": str(self.user_key),
            "known_hosts": str(self.known_hosts),
        }
        entry.update(overrides)
        return entry
