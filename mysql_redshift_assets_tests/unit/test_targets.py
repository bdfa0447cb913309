"""Dialects are data (issue 23, item 2): one `TargetDialect` record per target kind, and nothing
outside `load/` and `targets.py` decides by a kind's name.

The records are checked for completeness against every kind a connections file accepts and
every warehouse class; the source tree is read as syntax for the switches they replace: a
comparison with a target kind's name (`dialect == "redshift"`, `kind in ("redshift",
"postgres")`, `case "duckdb":`), a dict keyed by kind names, a planned column's per-dialect type
picked by its field name, and the import circle inside `load/`.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import get_args

import pyarrow as pa
import pytest

import mysql_redshift_assets
from mysql_redshift_assets.config.connections import TargetSpec
from mysql_redshift_assets.load.duckdb import DuckDBWarehouse
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.load.redshift import RedshiftWarehouse
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.targets import DIALECTS, TargetDialect, TargetKind, dialect_of

PACKAGE = Path(mysql_redshift_assets.__file__).parent
KINDS = frozenset(get_args(TargetKind))
TYPE_FIELDS = frozenset({"redshift_type", "duckdb_type", "postgres_type"})
# Where a planned column's three types are made and recorded: read by field name only there.
TYPE_FIELD_OWNERS = {"targets.py", "extract/schema_types.py", "store/parquet.py"}


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


# -- the records ------------------------------------------------------------------------------
def test_every_target_kind_has_one_complete_record() -> None:
    accepted = set()
    for spec in get_args(get_args(TargetSpec)[0]):
        accepted |= set(get_args(spec.model_fields["kind"].annotation))
    assert set(DIALECTS) == KINDS == accepted
    column = FileColumn("c", "c", "int", "R-TYPE", "D-TYPE", "P-TYPE")
    own = {"redshift": "R-TYPE", "duckdb": "D-TYPE", "postgres": "P-TYPE"}
    for kind, dialect in DIALECTS.items():
        assert isinstance(dialect, TargetDialect) and dialect.kind == kind
        assert dialect_of(kind) is dialect
        assert dialect.title and dialect.identifier_limit > 0
        pa.Codec(dialect.parquet_codec)  # a codec pyarrow writes
        assert dialect.column_type(column) == own[kind]
        assert "{}" in dialect.hex_sql and "{}" in dialect.hex_piece_sql
        assert dialect.date_text in ("strftime", "to_char")
        assert (dialect.isolation_sql is None) == dialect.embedded
        for f in dataclasses.fields(dialect):
            assert f.name in _DOCUMENTED, f"TargetDialect.{f.name} is not documented"


_DOCUMENTED = TargetDialect.__doc__ or ""


def test_the_records_state_what_each_warehouse_does() -> None:
    redshift, postgres, duckdb = (dialect_of(k) for k in ("redshift", "postgres", "duckdb"))
    assert [d.identifier_limit for d in (redshift, postgres, duckdb)] == [127, 63, 127]
    assert [d.parquet_codec for d in (redshift, postgres, duckdb)] == ["snappy", "snappy", "zstd"]
    # Redshift widens only VARCHAR in place; the others change any type in a transaction.
    assert redshift.changes_type_in_place("varchar")
    assert not redshift.changes_type_in_place("decimal")
    assert postgres.changes_type_in_place("decimal") and duckdb.changes_type_in_place("integer")
    # The stand-in refuses what Redshift refuses.
    assert postgres.text_limit_bytes == redshift.text_limit_bytes == 65_535
    assert postgres.binary_limit_bytes == redshift.binary_limit_bytes == 16_777_216
    assert duckdb.text_limit_bytes is None and duckdb.binary_limit_bytes is None


def test_each_warehouse_class_carries_its_kinds_record() -> None:
    for cls, kind in [
        (RedshiftWarehouse, "redshift"),
        (PostgresWarehouse, "postgres"),
        (DuckDBWarehouse, "duckdb"),
    ]:
        assert cls.target_dialect is DIALECTS[kind]


def test_an_unknown_kind_fails_naming_the_kinds() -> None:
    with pytest.raises(ValueError, match=r"'snowflake'.*duckdb, postgres, redshift"):
        dialect_of("snowflake")


# -- no switch by name ------------------------------------------------------------------------
def _is_kind(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in KINDS
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_kind(e) for e in node.elts)
    return False


def _kind_switches(tree: ast.Module) -> list[int]:
    """Lines comparing something with a kind's name, matching on one, or keyed by them. A kind
    name on the left of `in` (`"redshift" in layers`) tests a collection, not a kind."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for left, op, right in zip(operands, node.ops, operands[1:], strict=False):
                if isinstance(op, ast.Eq | ast.NotEq) and (_is_kind(left) or _is_kind(right)):
                    lines.append(node.lineno)
                elif isinstance(op, ast.In | ast.NotIn) and _is_kind(right):
                    lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and _is_kind(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(k is not None and _is_kind(k) for k in node.keys):
            lines.append(node.lineno)
    return lines


def test_nothing_outside_load_decides_by_a_target_kinds_name() -> None:
    found = [
        f"{name}:{line}"
        for name, tree in _modules()
        if not name.startswith("load/") and name != "targets.py"
        for line in _kind_switches(tree)
    ]
    assert found == [], "read the kind's TargetDialect (targets.py) instead: " + ", ".join(found)


def test_the_check_sees_each_form_of_switch() -> None:
    tree = ast.parse(
        'a == "redshift"\n"postgres" != b\nc in ("postgres", "redshift")\n'
        'd = {"duckdb": 1}\nmatch e:\n    case "duckdb":\n        pass\n'
        '"redshift" in layers\nf == "mysql"\n'
    )
    assert _kind_switches(tree) == [1, 2, 3, 4, 6]


def test_a_planned_columns_type_is_asked_of_its_dialect() -> None:
    found = [
        f"{name}:{node.lineno} .{node.attr}"
        for name, tree in _modules()
        if name not in TYPE_FIELD_OWNERS
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in TYPE_FIELDS
    ]
    assert found == [], "use dialect.column_type(col) / warehouse.column_type(col): " + ", ".join(
        found
    )


# -- the load/ package: no import circle, none hidden ------------------------------------------
def _load_imports() -> dict[str, set[str]]:
    """load/ module -> the load/ modules it imports (anywhere in it, TYPE_CHECKING included)."""
    graph: dict[str, set[str]] = {}
    for name, tree in _modules():
        if not name.startswith("load/"):
            continue
        here = name.removeprefix("load/").removesuffix(".py")
        graph[here] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("mysql_redshift_assets.load."):
                    graph[here].add(node.module.split(".")[2])
                elif node.module == "mysql_redshift_assets.load":
                    graph[here] |= {a.name for a in node.names}
    return graph


def test_load_has_no_import_circle() -> None:
    graph = _load_imports()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            raise AssertionError("import circle in load/: " + " -> ".join([*path, module]))
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
