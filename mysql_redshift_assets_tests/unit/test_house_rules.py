"""The house rules, checked: a module stays <= 400 lines, a function <= 80; the imports keep the
layers, no Dagster below `defs/` and no circles (`[tool.importlinter]` in pyproject.toml, run by
`lint-imports`). `make lint` runs both; the tests below also show that each rule catches a
deliberate violation, so a rule that stopped checking would fail here."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import mysql_redshift_assets

PACKAGE = Path(mysql_redshift_assets.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
# Where Dagster may be imported (directly or through another module): the Dagster layer.
DAGSTER_LAYER = {
    "__main__",
    "cli",
    "cli.failures",
    "cli.submit",
    "cli.sync_summary",
    "cli.sync_cmd",
    "cli.sync_partitions",
    "definitions",
    "defs",
    "demo",
    "project_defs",
}


def oversized(root: Path) -> list[str]:
    """Every module of `root` (a folder of Python files) over 400 lines and every function or
    method over 80 (from its `def` to its last line), as `path:line name: N lines (max M)`."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(root)
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{where}: {lines} lines (max {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(
                        f"{where}:{node.lineno} {node.name}: {length} lines "
                        f"(max {MAX_FUNCTION_LINES})"
                    )
    return found


def test_every_module_and_function_fits() -> None:
    assert oversized(PACKAGE) == []


def test_the_size_rule_reports_a_long_function_and_a_long_module(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(88))
    (tmp_path / "long_function.py").write_text(f"def ninety():\n{body}    return x0\n")
    (tmp_path / "long_module.py").write_text("".join(f"X{i} = {i}\n" for i in range(401)))
    (tmp_path / "fits.py").write_text(
        "def eighty():\n" + "".join(f"    y{i} = {i}\n" for i in range(79)) + "\n" * 319
    )
    assert oversized(tmp_path) == [
        "long_function.py:1 ninety: 90 lines (max 80)",
        "long_module.py: 401 lines (max 400)",
    ]


def _contracts() -> list[dict[str, Any]]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def _modules(root: Path) -> set[str]:
    """Every module and package of the package, dotted below it (`load.base`, `cli`)."""
    names = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            names.add(".".join(parts))
    return names


def test_the_dagster_rule_covers_every_module_outside_the_dagster_layer() -> None:
    """A module added anywhere but the Dagster layer must be in the forbidden contract's
    sources: otherwise it could import Dagster unnoticed."""
    (forbidden,) = [c for c in _contracts() if c["type"] == "forbidden"]
    prefix = "mysql_redshift_assets."
    sources = {s.removeprefix(prefix) for s in forbidden["source_modules"]}

    def covered(name: str) -> bool:
        return any(name == s or name.startswith(s + ".") for s in sources)

    def dagster_layer(name: str) -> bool:
        return name in DAGSTER_LAYER or name.split(".")[0] in {"defs", "project_defs"}

    assert sorted(m for m in _modules(PACKAGE) if not covered(m) and not dagster_layer(m)) == []
    assert sorted(m for m in _modules(PACKAGE) if covered(m) and dagster_layer(m)) == []


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with this repository's contracts over the package copied to `root`."""
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(root)}
    lint = Path(sys.executable).parent / "lint-imports"
    return subprocess.run(
        [str(lint), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_report_deliberate_violations(tmp_path: Path) -> None:
    copy = tmp_path / "mysql_redshift_assets"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))

    def append(module: str, code: str) -> None:
        path = copy / module
        path.write_text(path.read_text(encoding="utf-8") + textwrap.dedent(code))

    # Dagster in the warehouse package; a lower layer importing a higher one (state -> sync);
    # a circle inside a package that has none (extract: batch -> position -> batch).
    append("load/ledger.py", "\nimport dagster  # noqa\n")
    append("state/lease.py", "\nimport mysql_redshift_assets.sync.files  # noqa\n")
    append("extract/position.py", "\nimport mysql_redshift_assets.extract.batch  # noqa\n")
    assert "mysql_redshift_assets.extract.position" in (copy / "extract/batch.py").read_text()

    result = _lint_imports(tmp_path)
    out = " ".join(result.stdout.split())  # the report wraps long lines
    assert result.returncode == 1, out
    assert "no Dagster import below defs/ BROKEN" in out
    assert "mysql_redshift_assets.load.ledger -> dagster" in out
    assert "each layer imports only the layers below it BROKEN" in out
    assert "mysql_redshift_assets.state.lease -> mysql_redshift_assets.sync.files" in out
    assert "No cycles are allowed in mysql_redshift_assets.extract." in out
