"""SSH keys from a secret's content (`private_key_data: ${ENV_VAR}`), through a REAL sshd.

ECS hands secrets to a task as env vars only, and a Kubernetes secret volume needs the right
`defaultMode` before OpenSSH's owner-only rule accepts it; so a bastion may take its key's
content from a variable. It is written to an owner-only file (0600 in a 0700 folder) only while
the key is loaded, then removed; it never appears in a message or a log.
"""

from __future__ import annotations

import logging
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from mysql_redshift_assets.config.connections import SshSpec
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.connect import open_source
from mysql_redshift_assets.ssh import TunnelError, TunnelPool
from mysql_redshift_assets_tests.integration.test_ssh_tunnel import DB_BASTION, with_ssh
from mysql_redshift_assets_tests.sshd import SshServer, keygen

VAR = "MRA_TEST_SSH_KEY_DATA"


@pytest.fixture
def bastion(tmp_path: Path) -> Iterator[SshServer]:
    server = SshServer.start(tmp_path / "sshd_db")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def key_tmp(tmp_path: Path, monkeypatch) -> Path:
    """$TMPDIR for this test, so every temporary key folder is seen (and must be gone)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def loads(monkeypatch) -> list[dict[str, object]]:
    """Each key file paramiko loads: its path, its mode and its folder's mode at that moment."""
    seen: list[dict[str, object]] = []
    real = paramiko.PKey.from_path

    def spy(path, passphrase=None):
        p = Path(path)
        seen.append(
            {
                "path": p,
                "mode": stat.S_IMODE(p.stat().st_mode),
                "folder_mode": stat.S_IMODE(p.parent.stat().st_mode),
            }
        )
        return real(path, passphrase)

    monkeypatch.setattr(paramiko.PKey, "from_path", spy)
    return seen


def _entry(bastion: SshServer, **overrides: object) -> dict[str, object]:
    entry = bastion.ssh_entry(**overrides)
    entry.pop("private_key", None)
    return {**entry, "private_key_data": f"${{{VAR}}}"}


@pytest.mark.mariadb
@pytest.mark.parametrize("form", ["pem", "one_line_escaped"])
def test_a_tunnel_opens_with_the_key_from_an_env_var_and_the_key_file_is_gone(
    form, mysql, make_project, bastion, key_tmp, loads, monkeypatch, caplog
):
    text = bastion.user_key.read_text()
    # Some secret stores hand a multi-line value over as one line with literal "\n".
    monkeypatch.setenv(VAR, text if form == "pem" else text.strip().replace("\n", "\\n"))
    base = make_project({"shop.orders": {"append_only": True}}, store="local")
    project = with_ssh(base, {DB_BASTION: _entry(bastion)}, sources__mysql=DB_BASTION)
    assert project.connections.ssh[DB_BASTION].private_key is None
    with TunnelPool() as pool, caplog.at_level(logging.DEBUG):
        source = open_source(project, "mysql", tunnels=pool)
        assert source.query_one("SELECT 1 + 1")[0] in (b"2", "2", 2)  # through the tunnel
        source.close()
        assert bastion.accepted_logins() == 1
        assert "target 127.0.0.1 port 3306" in bastion.log_text()
    # The key was loaded from an owner-only file in an owner-only folder under $TMPDIR ...
    assert len(loads) == 1
    assert loads[0]["mode"] == 0o600 and loads[0]["folder_mode"] == 0o700
    assert Path(str(loads[0]["path"])).parent.parent == key_tmp
    # ... which is gone now, and the key's content was never logged.
    assert not Path(str(loads[0]["path"])).exists() and list(key_tmp.iterdir()) == []
    body = text.splitlines()[1]
    assert not [r for r in caplog.records if body in r.getMessage()]


def test_private_key_and_private_key_data_together_are_refused_at_load(make_project, bastion):
    base = make_project({"shop.orders": {"append_only": True}}, store="local")
    entry = {**bastion.ssh_entry(), "private_key_data": f"${{{VAR}}}"}
    with pytest.raises(ConfigError) as err:
        with_ssh(base, {DB_BASTION: entry}, sources__mysql=DB_BASTION)
    message = str(err.value)
    assert f"ssh.{DB_BASTION}: " in message
    assert "private_key and private_key_data are both set" in message
    assert "Fix: keep `private_key: <path>` for a key file, or `private_key_data:" in message


def test_an_unset_key_variable_names_the_bastion_and_the_variable(
    make_project, bastion, monkeypatch
):
    monkeypatch.delenv(VAR, raising=False)
    base = make_project({"shop.orders": {"append_only": True}}, store="local")
    project = with_ssh(base, {DB_BASTION: _entry(bastion)}, sources__mysql=DB_BASTION)
    with pytest.raises(ConfigError) as err:
        open_source(project, "mysql")
    assert str(err.value) == (
        f"{project.connections_path}: ssh.{DB_BASTION} (used by sources.mysql).private_key_data: "
        f"environment variable {VAR} is not set"
    )


@pytest.mark.parametrize("case", ["empty", "not_a_key", "stranger_key", "encrypted"])
def test_each_key_data_problem_is_one_clear_error_without_the_key(case, bastion, key_tmp, tmp_path):
    if case == "empty":
        data, expected = "  \n", "ssh.b.private_key_data is empty (the variable it names is set"
    elif case == "not_a_key":
        data = (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----"
        )
        expected = "cannot load the private key in ssh.b.private_key_data ("
    elif case == "stranger_key":
        data = keygen(tmp_path / "stranger").read_text()
        expected = "the bastion rejected the key in ssh.b.private_key_data for user"
    else:
        data = keygen(tmp_path / "locked", passphrase="correct horse battery").read_text()
        expected = "the private key in ssh.b.private_key_data is encrypted and no passphrase"
    entry = {**_entry(bastion), "private_key_data": data}
    spec = SshSpec(**entry)
    with pytest.raises(TunnelError) as err:
        TunnelPool().local_endpoint("b", spec, "127.0.0.1", 22, connection="test")
    message = str(err.value)
    assert expected in message, message
    for line in data.strip().splitlines()[1:-1]:
        assert line not in message
    assert err.value.__cause__ is None
    assert list(key_tmp.iterdir()) == []  # no key file left behind, whatever failed
