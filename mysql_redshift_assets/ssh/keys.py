"""The checks made before and during an SSH login: client keys and the bastion's host key.

- Client keys: the configured `private_key` file (refused, as OpenSSH does, when its group or
  others may read it; an encrypted key needs `private_key_passphrase`), or the key's content in
  `private_key_data` (a secret in an env var, for ECS / Kubernetes where a key file with the
  right mode is awkward), else the keys of a running ssh-agent. ~/.ssh/id_* are never read
  implicitly.
- `private_key_data` is written to a file only this user can read (0600, in a fresh 0700
  folder under $TMPDIR), loaded from there, and the folder is removed as soon as the key is
  loaded (and at interpreter exit, should that ever be skipped): the key lives on disk for
  milliseconds per tunnel open, not for the run.
- Host key: looked up in `known_hosts` (OpenSSH format, hashed names allowed, `[host]:port` for
  ports other than 22); an unknown key and a changed key are refused with the command that fixes
  it.

Messages name the key *path* and public fingerprints, never a passphrase or key material.
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko

from mysql_redshift_assets.ssh.target import Target


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


def load_client_keys(target: Target) -> tuple[list[paramiko.PKey], paramiko.Agent | None]:
    """The client keys to offer: the configured file, else the ssh-agent's keys (and the agent,
    which the caller closes when the tunnel closes)."""
    spec = target.spec
    if spec.private_key_data is not None:
        return [_data_key(target, spec.private_key_data.get_secret_value())], None
    if spec.private_key is None:
        return _agent_keys(target)
    path = Path(spec.private_key).expanduser()
    if not path.is_file():
        raise target.error(
            f"private key file {path} not found (ssh.{target.bastion}.private_key). Fix: point "
            "private_key at the key file, or remove it to use ssh-agent"
        )
    if problem := check_key_permissions(path):
        raise target.error(problem)
    return [_file_key(target, path, f"private key {path}")], None


# Folders holding a key right now: removed at interpreter exit if their `finally` never ran.
_LIVE_KEY_FOLDERS: set[Path] = set()


@atexit.register
def _remove_key_folders() -> None:
    for folder in list(_LIVE_KEY_FOLDERS):
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def private_key_file(data: str) -> Iterator[Path]:
    """`data` in a file only this user can read (0600 in a new 0700 folder), removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix="mra-ssh-key-"))  # mkdtemp: mode 0700, owner only
    _LIVE_KEY_FOLDERS.add(folder)
    try:
        path = folder / "key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            handle.write(data)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _LIVE_KEY_FOLDERS.discard(folder)


def normalize_key_text(data: str) -> str:
    """A key as secret stores hand it over: CRLF, or one line with literal `\\n`, made PEM."""
    text = data.strip().replace("\r\n", "\n")
    if "\n" not in text and "\\n" in text:
        text = text.replace("\\n", "\n")
    return text + "\n"


def _data_key(target: Target, data: str) -> paramiko.PKey:
    where = f"ssh.{target.bastion}.private_key_data"
    if not data.strip():
        raise target.error(
            f"{where} is empty (the variable it names is set but empty). Fix: put the private "
            "key's content (the text of the key file) in that secret"
        )
    with private_key_file(normalize_key_text(data)) as path:
        return _file_key(target, path, f"the private key in {where}")


def _agent_keys(target: Target) -> tuple[list[paramiko.PKey], paramiko.Agent]:
    agent = paramiko.Agent()
    keys: list[paramiko.PKey] = list(agent.get_keys())
    if not keys:
        agent.close()
        sock = (
            "SSH_AUTH_SOCK is not set"
            if not os.environ.get("SSH_AUTH_SOCK")
            else "the ssh-agent holds no key"
        )
        raise target.error(
            f"no private_key is configured and {sock}. Fix: set `private_key: <path>` "
            f"under ssh.{target.bastion}, or start ssh-agent and `ssh-add` the key"
        )
    return keys, agent


def _file_key(target: Target, path: Path, what: str) -> paramiko.PKey:
    """The key in `path`; `what` names it in messages (`private key <path>`, or the YAML key)."""
    spec = target.spec
    secret = spec.private_key_passphrase.get_secret_value() if spec.private_key_passphrase else ""
    passphrase = secret.encode() if secret else None  # cryptography wants bytes
    encrypted = target.error(
        f"{what} is encrypted and no passphrase is configured. Fix: set "
        f"`private_key_passphrase: ${{SOME_ENV_VAR}}` under ssh.{target.bastion}"
    )
    try:
        try:
            # paramiko annotates `password` as str but hands it to cryptography's loaders, which
            # take bytes only (a str is a TypeError there): paramiko's annotation is wrong.
            return paramiko.PKey.from_path(path, passphrase)  # type: ignore[arg-type]
        except paramiko.PasswordRequiredException:
            raise encrypted from None
        except TypeError:
            # cryptography: "password was not given but the key is encrypted", or "password
            # was given but the key is not encrypted" (then the passphrase is simply not needed).
            if passphrase is None:
                raise encrypted from None
            return paramiko.PKey.from_path(path, None)
    except PermissionError:
        raise target.error(f"{what} cannot be read by this user") from None
    except (paramiko.SSHException, ValueError, TypeError) as exc:
        raise target.error(
            f"cannot load {what} ({type(exc).__name__}): wrong passphrase, or not an "
            "OpenSSH/PEM private key (ed25519, ecdsa or rsa; DSA is no longer supported)"
        ) from None


def known_hosts_name(host: str, port: int) -> str:
    """The name OpenSSH writes in known_hosts: `host`, or `[host]:port` when port != 22."""
    return host if port == 22 else f"[{host}]:{port}"


def known_host_keys(target: Target) -> dict[str, paramiko.PKey] | None:
    """The bastion's keys recorded in known_hosts, by key type; None when there are none."""
    path = target.known_hosts
    if not path.is_file():
        return None
    host_keys = paramiko.HostKeys()
    try:
        host_keys.load(str(path))
    except (OSError, paramiko.SSHException, ValueError):
        return None
    found = host_keys.lookup(known_hosts_name(target.spec.host, target.spec.port))
    return dict(found) if found else None


def prefer_known_key_types(transport: paramiko.Transport, known: dict[str, paramiko.PKey]) -> None:
    """Ask the server for a host-key type known_hosts holds, as OpenSSH does."""
    options = transport.get_security_options()
    supported = list(options.key_types)
    wanted = [t for t in _key_types_for(list(known)) if t in supported]
    options.key_types = tuple(wanted + [t for t in supported if t not in wanted])


def _key_types_for(names: list[str]) -> list[str]:
    """Transport host-key algorithms for known_hosts key types (ssh-rsa -> rsa-sha2-*)."""
    out: list[str] = []
    for name in names:
        out += ["rsa-sha2-512", "rsa-sha2-256"] if name == "ssh-rsa" else [name]
    return out


def host_key_problem(
    target: Target, server_key: paramiko.PKey, known: dict[str, paramiko.PKey] | None
) -> str | None:
    """Why the key the bastion presented must not be trusted (with the fix), or None."""
    spec = target.spec
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
