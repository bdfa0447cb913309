"""A failed load on the CLI (issue 22, defect 9): one line a failed table,
`error: <pipeline> <table>: <cause>`, exit 1, no traceback; `-v` / `--verbose` adds it.

Real failures, no fakes: a value the Redshift rules refuse (text over 65,535 bytes, on the
PostgreSQL stand-in), a schema change the loader refuses (`--redshift-only` after an extraction
of the new shape), the same change stopped by the blocking drift check, and a resync that fails
on the refused value. `sync` runs a Dagster job in this process: its log is captured at the
file-descriptor level (`capfd`), where Dagster's console logger writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mysql_redshift_assets.cli import main
from mysql_redshift_assets_tests.exactness import Sync

pytestmark = [pytest.mark.mariadb]
TRACEBACKS = ("Traceback (most recent call last)", "Stack Trace:", " - ERROR - ")


@pytest.fixture(autouse=True)
def _dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sync` sets $DAGSTER_HOME for its run: a folder of this test's, unset afterwards."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))


def _cli(capfd: pytest.CaptureFixture[str], sync: Sync, *args: str) -> tuple[int, str, str]:
    capfd.readouterr()
    code = main(["--pipelines-dir", str(sync.project.root), *args])
    out, err = capfd.readouterr()
    return code, out, err


def _one_error_line(err: str, sync: Sync) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    prefix = f"error: testpipe {sync.table.qualified}: "
    assert lines[0].startswith(prefix), err
    for marker in TRACEBACKS:
        assert marker not in err, err
    return lines[0].removeprefix(prefix)


@pytest.fixture
def oversize(mysql, mysql_db, make_project, pg_schema) -> Sync:
    """A table whose one value is longer than Redshift's VARCHAR, loaded into the stand-in."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE notes (id INT PRIMARY KEY, body MEDIUMTEXT)")
        cur.execute("INSERT INTO notes VALUES (1, 'short'), (2, REPEAT('x', 70000))")
    return Sync.of(
        make_project,
        mysql_db,
        "notes",
        {"mode": "full"},
        target="postgres",
        target_schema=pg_schema,
    )


def test_a_value_the_target_refuses_is_one_line_naming_table_and_column(capfd, oversize) -> None:
    table = oversize.table.qualified
    code, out, err = _cli(capfd, oversize, "sync", "-t", table)

    assert code == 1
    cause = _one_error_line(err, oversize)
    assert "longer than Redshift's 65,535-byte VARCHAR (body: 1 value(s))" in cause, cause
    assert "Set `text_overflow: truncate`" in cause  # the fix
    assert "FAILED" in out

    code, _, err = _cli(capfd, oversize, "sync", "-t", table, "-v")
    assert code == 1
    assert "Traceback (most recent call last)" in err and "LoadError" in err


def test_a_failed_resync_is_one_line_and_v_shows_the_traceback(capfd, oversize) -> None:
    table = oversize.table.qualified
    code, _, err = _cli(capfd, oversize, "resync", "-t", table)

    assert code == 1
    assert "(body: 1 value(s))" in _one_error_line(err, oversize)

    code, _, err = _cli(capfd, oversize, "--verbose", "resync", "-t", table)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith(f"error: testpipe {table}: ")


@pytest.fixture
def reshaped(mysql, mysql_db, make_project) -> Sync:
    """A loaded table whose column then changed kind (INT -> VARCHAR): refused by the loader."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, n INT, at DATETIME(6) NOT NULL)")
        cur.execute("INSERT INTO orders VALUES (1, 1, '2024-01-01'), (2, 2, '2024-01-02')")
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "at"}, target="duckdb")
    sync.run("first")
    with mysql.cursor() as cur:
        cur.execute("ALTER TABLE orders MODIFY n VARCHAR(20)")
        cur.execute("UPDATE orders SET n = 'x', at = '2024-02-01' WHERE id = 1")
    return sync


def test_a_schema_change_the_load_refuses_is_one_line(capfd, reshaped) -> None:
    reshaped.extract("second")  # files of the new shape, as a run before the change had made
    table = reshaped.table.qualified

    code, _, err = _cli(capfd, reshaped, "sync", "-t", table, "--redshift-only")

    assert code == 1
    cause = _one_error_line(err, reshaped)
    assert "column 'n'" in cause and f"mysql-redshift resync -p testpipe -t {table}" in cause


def test_a_table_stopped_by_its_blocking_check_is_one_line(capfd, reshaped) -> None:
    code, out, err = _cli(capfd, reshaped, "sync", "-t", reshaped.table.qualified)

    assert code == 1
    cause = _one_error_line(err, reshaped)
    assert cause.startswith("blocking check schema_drift failed: ") and "column 'n'" in cause
    # The table's failed check is that one line, not another.
    assert not [line for line in err.splitlines() if line.startswith("check ")], err
    assert "FAILED" in out
