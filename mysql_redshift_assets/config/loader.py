"""Read the pipelines folder into typed specs; every error names the file, the table and the key."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.models import ConnectionsFile, PipelineFile, TableSpec

PIPELINES_DIR_ENV = "MYSQL_REDSHIFT_PIPELINES_DIR"
CONNECTIONS_FILE = "connections.yml"

M = TypeVar("M", bound=BaseModel)


def default_pipelines_dir(environ: dict[str, str] | None = None) -> Path:
    """`$MYSQL_REDSHIFT_PIPELINES_DIR`, else the repository's `pipelines/` folder.

    Resolved against this file, not the working directory, so `dagster dev` and the CLI agree.
    """
    env = os.environ if environ is None else environ
    if env.get(PIPELINES_DIR_ENV):
        return Path(env[PIPELINES_DIR_ENV]).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "pipelines"


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
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_message(path, exc, data)) from None


@dataclass(frozen=True)
class Pipeline:
    name: str
    path: Path
    spec: PipelineFile
    # The kind of the warehouse the pipeline loads into (redshift, postgres, duckdb): its
    # identifier limit decides the names tables and columns get there.
    target_kind: str = "redshift"

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


def _load_pipeline(path: Path, connections: ConnectionsFile, root: Path) -> Pipeline:
    spec = parse_file(path, PipelineFile)
    pipeline = Pipeline(name=path.stem, path=path, spec=spec)
    _check_references(pipeline, connections, root / CONNECTIONS_FILE)
    kind = connections.targets[spec.target].kind
    pipeline = Pipeline(path.stem, path, spec, target_kind=kind)
    # Each table's effective settings (partitions, names): an error there is this file's too.
    from mysql_redshift_assets.config.resolve import table_configs

    table_configs(pipeline)
    return pipeline


def load_project(root: Path | str | None = None, *, keep_going: bool = False) -> Project:
    """Read a pipelines folder.

    A pipeline file with errors raises ConfigError naming every broken file and all of its
    errors; with `keep_going` (the CLI, the Dagster code location) the healthy pipelines load
    and the broken files are listed in `Project.broken`. connections.yml broken is always an
    error: no pipeline can run without it.
    """
    root = (Path(root) if root else default_pipelines_dir()).resolve()
    if not root.is_dir():
        raise ConfigError(f"{root}: pipelines folder not found (set {PIPELINES_DIR_ENV})")
    connections = parse_file(root / CONNECTIONS_FILE, ConnectionsFile)
    pipelines: dict[str, Pipeline] = {}
    broken: dict[str, str] = {}
    for path in pipeline_files(root):
        try:
            pipelines[path.stem] = _load_pipeline(path, connections, root)
        except ConfigError as exc:
            broken[path.stem] = str(exc)
    if broken and not keep_going:
        raise ConfigError("\n".join(broken.values()))
    project = Project(root=root, connections=connections, pipelines=pipelines, broken=broken)
    # Here, not in a validator: names are derived by `naming`, which needs the loaded types.
    from mysql_redshift_assets.config.collisions import check_unique_names

    check_unique_names(project)
    return project
