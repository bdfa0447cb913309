"""What `mysql-redshift` prints, snapshot-style, on the demo pipeline (no server needed).

Paths, clocks, run ids and byte sizes are replaced by placeholders; everything else is the
text a user reads (issue 18: readable status, watermark list with a header, current counts and
the position, one word for superseded files, s3clean totals, flags anywhere, distinct help).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mysql_redshift_assets.cli import main

REPO_PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run once, then the products table (mode full) extracted twice more and loaded:
    its first extra generation is then superseded, never loaded."""
    base = tmp_path_factory.mktemp("cli_text")
    shutil.copytree(REPO_PIPELINES, base / "pipelines")
    env = {**os.environ, "MYSQL_REDSHIFT_PIPELINES_DIR": str(base / "pipelines"),
           "DAGSTER_HOME": str(base / "home")}  # fmt: skip
    (base / "home").mkdir()
    for args in (
        ["-m", "mysql_redshift_assets.demo"],
        ["-m", "mysql_redshift_assets", "sync", "-t", "shop.products", "--extract-only"],
        ["-m", "mysql_redshift_assets", "sync", "-t", "shop.products", "--extract-only"],
        ["-m", "mysql_redshift_assets", "sync", "-t", "shop.products", "--redshift-only"],
    ):
        done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return base


def _cli(capsys: pytest.CaptureFixture[str], base: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--pipelines-dir", str(base / "pipelines")])  # flags after the verb
    out, err = capsys.readouterr()
    return code, _normal(out, base), _normal(err, base)


def _normal(text: str, base: Path) -> str:
    text = text.replace(str(base), "<base>")
    text = re.sub(r"'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}'", "'<ts>'", text)
    text = re.sub(
        r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<run>", text
    )
    text = re.sub(r"\d+\.\d\ds ", "<s> ", text)
    text = re.sub(r"[\d,]+ bytes", "<n> bytes", text)
    return re.sub(r"\d[\d,]*(\.\d)? (B|KB|MB)\b", "<size>", text)


def test_status_is_readable_text(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, demo, "status", "-p", "demo")
    assert code == 0
    assert out == (
        "pipeline demo:\n"
        "  ok   source  demo               <s>  connected: DemoSource 'demo'\n"
        "  ok   store   local              <s>  reachable: file://<base>/.local/demo/store\n"
        "  ok   target  local_duckdb       <s>  connected: DuckDBWarehouse('local_duckdb', "
        "path='<base>/.local/demo/warehouse.duckdb')\n"
    )
    assert " object at 0x" not in out


def test_watermark_list_has_a_header_current_counts_and_the_position(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, demo, "watermark", "list", "-p", "demo")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["PIPELINE", "TABLE", "MODE", "STATUS", "ROWS", "FILES", "RESUMES",
                                "AT"]  # fmt: skip
    assert set(lines[1]) <= {"-", " "}
    assert lines[2:5] == [
        "demo      shop.customers  incremental  success    200      1  cursor > '<ts>'; "
        "primary key > 200 at that cursor",
        "demo      shop.orders     incremental  success  2,000      3  cursor > '<ts>'; "
        "primary key > 2000 at that cursor",
        # Three generations extracted (150 rows in all): the current one has 50 rows, 1 file.
        "demo      shop.products   full         success     50      1  -",
    ]
    assert re.fullmatch(r"demo +shop\.events +time +success +[\d,]+ +\d+  -", lines[5])
    rows = json.loads(_cli(capsys, demo, "watermark", "list", "-p", "demo", "--json")[1])
    products = next(r for r in rows if r["table"] == "shop.products")
    assert (products["rows"], products["files"], products["cumulative_rows"]) == (50, 1, 150)
    orders = next(r for r in rows if r["table"] == "shop.orders")
    assert orders["position"]["pk"] == ["2000"]
    # --json before the verb says the same.
    code = main(["--json", "--pipelines-dir", str(demo / "pipelines"), "watermark", "list"])
    assert code == 0 and json.loads(capsys.readouterr().out)[:4] == rows


def test_watermark_get_and_s3clean_list_agree_on_superseded(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, demo, "watermark", "get", "-t", "shop.products")
    assert code == 0
    assert out == (
        "table:        shop.products (full)\n"
        "status:       success\n"
        "resumes at:   - (mode full: each run reads the whole table or window)\n"
        "last session: success, 50 rows, 1 files, run <run>\n"
        "current:      50 rows in 1 files\n"
        "cumulative:   150 rows, 3 files, <n> bytes (every session, superseded generations "
        "included)\n"
        "files:        3 in store, 2 loaded, 0 pending, 1 superseded\n"
    )
    code, out, _ = _cli(capsys, demo, "s3clean", "list", "-t", "shop.products")
    lines = out.splitlines()
    assert lines[0] == (
        "shop.products: 3 file(s), <size>; loaded: 2 (<size>); not loaded: 1 (<size>; superseded: 1)"
    )
    assert sorted(line.split()[0] for line in lines[1:]) == ["loaded", "loaded", "superseded"]
    report = json.loads(_cli(capsys, demo, "s3clean", "list", "-t", "shop.products", "--json")[1])
    totals = report[0]["totals"]
    assert (totals["all"]["files"], totals["loaded"]["files"], totals["superseded"]["files"]) == (
        3, 2, 1,
    )  # fmt: skip


def test_s3clean_list_of_a_pipeline_ends_with_a_total(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, demo, "s3clean", "list", "-p", "demo")
    assert code == 0
    summary = [line for line in out.splitlines() if not line.startswith("  ")]
    assert [line.split(":")[0] for line in summary] == [
        "shop.customers", "shop.orders", "shop.products", "shop.events", "total",
    ]  # fmt: skip
    assert re.fullmatch(r"total: \d+ file\(s\), <size>; loaded: \d+ \(<size>\); not loaded: 1 "
                        r"\(<size>; superseded: 1\)", summary[-1])  # fmt: skip


def test_clean_and_clean_all_have_their_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    helps = {}
    for verb in ("clean", "clean-all"):
        with pytest.raises(SystemExit):
            main(["s3clean", verb, "--help"])
        helps[verb] = " ".join(capsys.readouterr().out.split())
    assert "of ONE table (-t)" in helps["clean"] and "EVERY table" not in helps["clean"]
    assert "of EVERY table of a pipeline (-p)" in helps["clean-all"]


def test_sync_without_a_terminal_prints_plain_progress_lines(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _cli(capsys, demo, "sync", "-t", "shop.products", "--extract-only")
    assert code == 0, err
    assert "shop.products: 50 rows in 1 file(s) so far (" in err  # fed by sync.extract's record
    assert "demo/shop/products: 50 rows extracted, 1 file(s)" in out


def test_after_the_demo_a_postgres_target_answers_status(demo: Path, pg_server: None) -> None:
    """`kind: postgres` works with the main dependencies (psycopg is one, not a dev extra)."""
    from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER

    root = demo / "pipelines_pg"
    shutil.copytree(demo / "pipelines", root)
    connections = yaml.safe_load((root / "connections.yml").read_text())
    connections["targets"]["pg"] = {"kind": "postgres", "host": PG_HOST, "port": "${MRA_PG_PORT:-"
                                    f"{PG_PORT}}}", "database": PG_DB, "user": PG_USER}  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = yaml.safe_load((root / "demo.yml").read_text()) | {"target": "pg"}
    (root / "demo.yml").write_text(yaml.safe_dump(pipeline))
    env = {**os.environ, "MYSQL_REDSHIFT_PIPELINES_DIR": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "mysql_redshift_assets", "status", "-p", "demo"],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(
        r"ok   target  pg +\d+\.\d\ds  connected: PostgresWarehouse\('pg'\)", done.stdout
    )
