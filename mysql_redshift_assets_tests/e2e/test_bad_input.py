"""The bad-input corpus through the CLI: one clear error naming what to fix, a non-zero exit,
and every stored thing (object store, warehouse) exactly as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]


def _snapshot(tmp_path: Path) -> dict[str, str]:
    """Hash of every file the tool stores: the local object store and the DuckDB warehouse."""
    found = {}
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and ("store" in path.parts or path.suffix == ".duckdb"):
            found[str(path.relative_to(tmp_path))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def world(mysql, mysql_db, make_project, tmp_path):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, updated_at DATETIME NOT NULL)")
        cur.execute("CREATE TABLE no_key (a INT, b INT)")
        cur.executemany(
            "INSERT INTO orders VALUES (%s, '2024-01-01')", [(i,) for i in range(1, 51)]
        )
    project = make_project({f"{mysql_db}.orders": {"cursor": "updated_at"}}, store="local")
    env = {
        **os.environ,
        "MYSQL_REDSHIFT_PIPELINES_DIR": str(project.root),
        "DAGSTER_HOME": str(tmp_path / "home"),
    }
    (tmp_path / "home").mkdir()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mysql_redshift_assets", *args],
            env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    done = cli("sync", "-t", f"{mysql_db}.orders")
    assert done.returncode == 0, done.stderr[-2000:]
    return project.root, cli, mysql_db


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


CASES = {
    "malformed YAML": (lambda root, db: (root / "testpipe.yml").write_text("source: [mysql\n"), ["testpipe.yml", "line"]),
    "unknown key": (
        lambda root, db: _edit(root / "testpipe.yml", lambda d: d["tables"][f"{db}.orders"].update(chunk_size=5)),
        ["testpipe.yml", "orders", "chunk_size", "unknown key"],
    ),
    "wrong type": (lambda root, db: _edit(root / "testpipe.yml", lambda d: d.update(chunk_rows="lots")), ["chunk_rows"]),
    "absurd chunk_rows": (lambda root, db: _edit(root / "testpipe.yml", lambda d: d.update(file_rows=0)), ["file_rows"]),
    "missing env var": (
        lambda root, db: _edit(root / "connections.yml", lambda d: d["sources"]["mysql"].update(password="${MRA_NOT_SET_ANYWHERE}")),
        ["sources.mysql", "MRA_NOT_SET_ANYWHERE"],
    ),
    "unknown table in MySQL": (
        lambda root, db: _edit(root / "testpipe.yml", lambda d: d["tables"].update({f"{db}.nope": {"append_only": True}})),
        ["nope", "not found"],
    ),
    "unknown cursor column": (
        lambda root, db: _edit(root / "testpipe.yml", lambda d: d["tables"][f"{db}.orders"].update(cursor="nope")),
        ["orders", "cursor", "nope"],
    ),
    "no primary key in merge mode": (
        lambda root, db: _edit(root / "testpipe.yml", lambda d: d["tables"].update({f"{db}.no_key": {"append_only": True}})),
        ["no_key", "primary_key"],
    ),
    "partition start in the future": (
        lambda root, db: _edit(root / "testpipe.yml", lambda d: d["tables"].update(
            {f"{db}.orders": {"mode": "time", "cursor": "updated_at", "partitions": {"start": "2999-01-01"}}})),
        ["orders", "partitions.start", "future"],
    ),
    "unreachable host": (
        lambda root, db: _edit(root / "connections.yml", lambda d: d["sources"]["mysql"].update(port=1)),
        ["mysql", "127.0.0.1:1"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_error_and_changes_nothing(world, tmp_path, case):
    root, cli, db = world
    before = _snapshot(tmp_path)
    breaks, words = CASES[case]
    breaks(root, db)
    done = cli("sync", "-p", "testpipe")
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    for word in words:
        assert word in output, f"{case}: {word!r} not in {output!r}"
    assert "mra-test-only" not in output  # never the password
    assert _snapshot(tmp_path) == before


def test_a_watermark_corrupted_by_hand(world, tmp_path):
    root, cli, db = world
    watermark = next((tmp_path / "store").rglob("watermark.json"))
    watermark.write_text(f'{{"table": "{db}.orders", "position": 7')
    before = _snapshot(tmp_path)
    done = cli("sync", "-p", "testpipe")
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "not valid JSON" in output and "watermark reset" in output
    assert _snapshot(tmp_path) == before
