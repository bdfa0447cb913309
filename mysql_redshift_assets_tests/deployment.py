"""A real Dagster deployment on this machine, for the deployment test: an instance on a fresh
PostgreSQL database, a code server (`dagster api grpc`) and the daemon (`dagster-daemon run`) as
background processes, runs submitted through the queue with `dagster job launch`.

    with Deployment.start(tmp_path, env, instance_overrides) as dep:
        dep.launch("sync_testpipe")           # -> QUEUED; the daemon dequeues and launches it
        dep.kill_code_server()                # SIGKILL its whole process group (runs included)

Every process is started with `env --default-signal=INT,TERM` in a session of its own and is
stopped by its pid (then its group) at the end, also when the test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import yaml

from mysql_redshift_assets_tests.conftest import PG_HOST, PG_PORT, PG_USER, free_port

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
LOCATION = "mysql_redshift_assets"
T = TypeVar("T")


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    every: float = 0.2,
    state: Callable[[], str] = str,
) -> T:
    """Poll `probe` until it returns something truthy; AssertionError naming `what` (and
    `state()`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} {state()}")
        time.sleep(every)


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one Dagster instance; dropped at the end."""
    name = f"mra_test_dagster_{uuid.uuid4().hex[:10]}"
    admin = {"host": PG_HOST, "port": PG_PORT, "user": PG_USER, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def instance_yaml(base: Path, database: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` (a shipped dagster.yaml) on PostgreSQL storage, with `overrides` merged one level
    down (e.g. {"run_monitoring": {"poll_interval_seconds": 1}})."""
    config = yaml.safe_load(base.read_text())
    config["storage"] = {
        "postgres": {
            "postgres_db": {
                "hostname": PG_HOST, "port": PG_PORT, "username": PG_USER,
                "password": "", "db_name": database,
                "scheme": "postgresql+psycopg2",
            }
        }
    }  # fmt: skip
    for section, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(section), dict):
            config[section] = config[section] | value
        else:
            config[section] = value
    return config


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    port: int
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    @contextmanager
    def start(
        cls, root: Path, env: dict[str, str], instance: dict[str, Any]
    ) -> Iterator[Deployment]:
        home, logs = root / "dagster_home", root / "logs"
        home.mkdir()
        logs.mkdir()
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
        port = free_port()
        workspace = {"load_from": [{"grpc_server": {"host": "localhost", "port": port, "location_name": LOCATION}}]}  # fmt: skip
        (root / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        env = {**env, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
        dep = cls(home, env, port, logs)
        try:
            dep.start_code_server()
            dep._spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(root / "workspace.yaml")])  # fmt: skip
            yield dep
        finally:
            dep.stop()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        out = open(self.logs / f"{name}.log", "ab")  # the child keeps its own copy
        with out:
            proc = subprocess.Popen(
                ["env", "--default-signal=INT,TERM", *argv], env=self.env, cwd=REPO,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.procs[name] = proc
        return proc

    def start_code_server(self) -> None:
        """`dagster api grpc` on the workspace's port; returns once it answers a ping."""
        from dagster._grpc.client import DagsterGrpcClient

        argv = [str(BIN / "dagster"), "api", "grpc", "-m", "mysql_redshift_assets.definitions"]
        proc = self._spawn("code_server", [*argv, "-h", "localhost", "-p", str(self.port)])
        client = DagsterGrpcClient(port=self.port, host="localhost")

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"the code server exited: {self.log('code_server')}")
            with suppress(Exception):
                return client.ping("up") is not None
            return False

        wait_for("the code server", up, timeout=90, every=0.5)

    def kill_code_server(self) -> None:
        """SIGKILL the code server's process group: the server and every run it started (what
        a restart of the code-location service that kills its cgroup, or the OOM killer taking
        the process tree, does)."""
        proc = self.procs.pop("code_server")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def launch(self, job: str) -> None:
        """Submit a run of `job` through the instance's run coordinator (the queue)."""
        argv = [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", job]
        done = subprocess.run(
            argv, env=self.env, cwd=self.home.parent, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM each process by its pid, then SIGKILL its group if it did not exit."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        self.procs.clear()


class SlowLink:
    """A TCP relay to a server at `rate` bytes per second downstream (a slow network between the
    run and MySQL), so a table takes seconds to extract; `rate = None` lifts the limit."""

    def __init__(self, host: str, port: int, rate: float | None) -> None:
        self.target, self.rate = (host, port), rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, slow: bool) -> None:
        try:
            while data := src.recv(16384):
                dst.sendall(data)
                if slow and self.rate:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
