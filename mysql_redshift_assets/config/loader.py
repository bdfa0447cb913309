"""Read the pipelines folder into typed specs; every error names the file, the table and the key."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mysql_redshift_assets.config.connections import ConnectionsFile
from mysql_redshift_assets.config.env import has_reference
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.pipelines import PipelineFile, TableSpec

PIPELINES_DIR_ENV = "MYSQL_REDSHIFT_PIPELINES_DIR"
CONNECTIONS_FILE = "connections.yml"

M = TypeVar("M", bound=BaseModel)


def default_pipelines_dir(environ: dict[str, str] | None = None, cwd: Path | None = None) -> Path:
    """`$MYSQL_REDSHIFT_PIPELINES_DIR`, else `./pipelines` in the working directory.

    One rule for every entry point (the CLI, `dagster dev`, `dagster asset materialize`, the
    demo): run them from the project folder (workspace.yaml's `working_directory: .` does), or
    set the variable. Never the installed package's folder: an installed package has none.
    """
    env = os.environ if environ is None else environ
    if env.get(PIPELINES_DIR_ENV):
        return Path(env[PIPELINES_DIR_ENV]).expanduser().resolve()
    return ((cwd or Path.cwd()) / "pipelines").resolve()


def default_dagster_home(project_root: Path, environ: dict[str, str] | None = None) -> Path:
    """`$DAGSTER_HOME`, else `.local/dagster_home` beside the pipelines folder: where `make dev`
    and `make demo` keep the instance, so runs started anywhere show up in the UI."""
    env = os.environ if environ is None else environ
    if env.get("DAGSTER_HOME"):
        return Path(env["DAGSTER_HOME"]).expanduser().resolve()
    return (project_root.parent / ".local" / "dagster_home").resolve()


def _format_location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "tables":
        rest = ".".join(p for p in parts[2:] if not p.startswith("function-"))
        return f"table {parts[1]}, key {rest}" if rest else f"table {parts[1]}"
    return "key " + ".".join(p for p in parts if not p.startswith("function-"))


def _without_union_tag(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop the discriminator tag pydantic inserts in the location (`sources.db.mysql.host`).

    The tag is the `kind` of the mapping it follows, not one of that mapping's keys.
    """
    kept, node = [], data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("kind") == part:
            continue
        kept.append(part)
        node = node.get(part) if isinstance(node, dict) else None
    return tuple(kept)


def _validation_message(path: Path, err: ValidationError, data: Any = None) -> str:
    lines = []
    for e in err.errors():
        loc = _without_union_tag(e["loc"], data)
        what = "unknown key (not allowed here)" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{path}: {_format_location(loc)}: {what}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{at}: {problem}") from None


def parse_file(path: Path, model: type[M]) -> M:
    return _parse(path, model, _read_mapping(path))


def _read_mapping(path: Path) -> dict[str, Any]:
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _parse(path: Path, model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, exc, data)) from None


# A number or flag written as `${VAR}` (`port: ${MYSQL_PORT:-3306}`) is checked when the
# connection is opened, as strings are; until then it holds a value its field accepts.
_STAND_INS: dict[str, object] = {"int_parsing": 1, "float_parsing": 1.0, "bool_parsing": True}
Deferred = dict[tuple[str, str], dict[str, str]]


def defer_references(data: dict[str, Any], model: type[M]) -> tuple[dict[str, Any], Deferred]:
    """`data` with each `${...}` in a number or flag of a connection replaced by a stand-in,
    and those references by (group, name) -> {key: reference}."""
    data = copy.deepcopy(data)
    deferred: Deferred = {}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = _without_union_tag(error["loc"], data)
            value = error.get("input")
            if error["type"] in _STAND_INS and len(loc) == 3 and has_reference(value):
                group, name, key = (str(part) for part in loc)
                data[group][name][key] = _STAND_INS[error["type"]]
                deferred.setdefault((group, name), {})[key] = str(value)
    return data, deferred


def parse_connections(path: Path) -> tuple[ConnectionsFile, Deferred]:
    data, deferred = defer_references(_read_mapping(path), ConnectionsFile)
    return _parse(path, ConnectionsFile, data), deferred


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: Path
    spec: PipelineFile
    # The kind of the warehouse the pipeline loads into (redshift, postgres, duckdb): its
    # identifier limit decides the names tables and columns get there.
    target_kind: str = "redshift"
    target_json: str = "varchar"  # the target's `json:` (a table's own wins)

    def table(self, qualified: str) -> TableSpec:
        try:
            return self.spec.tables[qualified]
        except KeyError:
            known = ", ".join(sorted(self.spec.tables))
            raise ConfigError(
                f"{self.path}: no table {qualified!r} in pipeline {self.name!r} (tables: {known})"
            ) from None


@dataclass(frozen=True)
class Project:
    """Everything in one pipelines folder."""

    root: Path
    connections: ConnectionsFile
    pipelines: dict[str, Pipeline]
    # Pipeline files that did not load (name -> every error of that file, one a line). The
    # other pipelines load and run; `validate-config`, `status` and the Dagster UI show these.
    broken: dict[str, str] = field(default_factory=dict)
    # Numbers and flags of connections.yml written as `${VAR}`: resolved at use (`deferred`).
    deferred: Deferred = field(default_factory=dict)

    def references(self, group: str, name: str) -> dict[str, str]:
        """The `${VAR}` numbers / flags of one connection (`resolve_env(deferred=...)`)."""
        return self.deferred.get((group, name), {})

    @property
    def connections_path(self) -> Path:
        return self.root / CONNECTIONS_FILE

    def pipeline(self, name: str) -> Pipeline:
        if name in self.broken:
            raise ConfigError(f"pipeline {name!r} has errors:\n{self.broken[name]}")
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise ConfigError(
                f"{self.root}: no pipeline {name!r} (a file {name}.yml; pipelines: {known})"
            ) from None

    def resolve_path(self, value: str) -> Path:
        """Relative paths in YAML are relative to the pipelines folder, never the cwd."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.root / path).resolve()


def _check_references(pipeline: Pipeline, connections: ConnectionsFile, where: Path) -> None:
    spec, errors = pipeline.spec, []
    for key, group in (("source", "sources"), ("store", "stores"), ("target", "targets")):
        name = getattr(spec, key)
        entries = getattr(connections, group)
        if name not in entries:
            known = ", ".join(sorted(entries)) or "none"
            errors.append(
                f"{pipeline.path}: key {key}: no {group[:-1]} {name!r} in {where} ({group}: {known})"
            )
    if errors:
        raise ConfigError("\n".join(errors))


def pipeline_files(root: Path) -> list[Path]:
    """Every pipeline file of a folder (all but connections.yml), in name order."""
    paths = sorted(root.glob("*.yml")) + sorted(root.glob("*.yaml"))
    return [p for p in paths if p.name not in (CONNECTIONS_FILE, "connections.yaml")]


def project_root(root: Path | str | None) -> Path:
    """The pipelines folder `root` names (default: `default_pipelines_dir()`); an error if none."""
    path = (Path(root) if root else default_pipelines_dir()).resolve()
    if not path.is_dir():
        raise ConfigError(
            f"{path}: pipelines folder not found (run from the project folder, which holds "
            f"pipelines/, or set {PIPELINES_DIR_ENV} or --pipelines-dir)"
        )
    return path


def load_pipeline(path: Path, connections: ConnectionsFile, root: Path) -> Pipeline:
    """One pipeline file, its source, store and target checked against connections.yml.
    `project.load_project` then resolves its tables (`config/resolve.py`)."""
    spec = parse_file(path, PipelineFile)
    pipeline = Pipeline(name=path.stem, path=path, spec=spec)
    _check_references(pipeline, connections, root / CONNECTIONS_FILE)
    target = connections.targets[spec.target]
    return Pipeline(path.stem, path, spec, target_kind=target.kind, target_json=target.json_mode)
