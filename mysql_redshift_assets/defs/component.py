"""`MysqlRedshiftComponent`: these definitions from a pipelines folder, as a Dagster Component.

For a Dagster project of your own (`dg`), like the sling and dlt integrations:

    dg scaffold defs mysql_redshift_assets.defs.component.MysqlRedshiftComponent mysql_to_redshift

then, in `defs/mysql_to_redshift/defs.yaml`:

    type: mysql_redshift_assets.defs.component.MysqlRedshiftComponent
    attributes:
      pipelines_dir: pipelines          # connections.yml + one YAML a pipeline, beside defs.yaml
      key_prefix: [mysql]               # optional, before every asset key
      translation:                      # optional, every table's two asset specs
        owners: [team:data]
        tags: {layer: "{{ layer }}"}    # templated: table (its TableConfig), layer, spec
      pool: mysql-shared                # optional: the ops' pool (default mysql-<source>)
      op:
        tags: {team: data}              # the ops' tags (and `pool`, like `pool` above)
      pipelines:                        # optional, per pipeline (after the ones above)
        settlement:
          key_prefix: [finance]
          translation:
            group_name: finance
            automation_condition: "{{ dg.AutomationCondition.on_cron('0 * * * *') }}"
          op: {name: settlement_sync, tags: {tier: "1"}, pool: mysql-finance}

`translation` takes what Dagster's components take (`group_name`, `owners`, `tags`, `kinds`,
`automation_condition`, `description`, `metadata`, `code_version`, `freshness_policy`), as
sling's component does; not what the op relies on (`key`, `key_prefix`, `deps`,
`partitions_def`, `skippable`): keys come from `key_prefix`. Tags and metadata are merged,
the rest replaced. A subclass may override `execute` (below) to wrap what each op does.

This repository's own code location is such a component (`mysql_redshift_assets/project_defs/`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any

import dagster as dg
from dagster.components.resolved.context import ResolutionContext
from dagster.components.resolved.core_models import AssetAttributesModel, OpSpec
from dagster.components.utils import TranslatorResolvingInfo
from pydantic import BaseModel, Field

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.assets import Recorded, TablesOpRun
from mysql_redshift_assets.defs.build import OpOptions, build_definitions
from mysql_redshift_assets.defs.translator import MysqlRedshiftTranslator
from mysql_redshift_assets.naming import Layer
from mysql_redshift_assets.project import load_project

# A spec, the table and layer it is of -> the spec as the YAML's `translation` says.
Translate = Callable[[dg.AssetSpec, TableConfig, Layer], dg.AssetSpec]
# What the op relies on: its keys (and the translator's `get_asset_key`), the Parquet asset
# before the warehouse one, the partitions its windows come from, a table left out of a run.
FIXED = ("key", "key_prefix", "deps", "partitions_def", "skippable")
OP_FIELDS = ("name", "tags", "pool")


def _resolve_translation(context: ResolutionContext, model: Any) -> Translate | None:
    """Dagster's own translation (`TranslatorResolvingInfo`, as sling's component resolves
    it), refused where it would change what the op relies on."""
    if model is None:
        return None
    if isinstance(model, BaseModel):
        for name in FIXED:
            if name in model.model_dump(exclude_unset=True):
                raise ConfigError(
                    f"{'.'.join(map(str, context.path))}.{name}: not settable by a translation "
                    f"(the ops rely on it); settable: group_name, owners, tags, kinds, "
                    "automation_condition, description, metadata (keys: key_prefix)"
                )
    info = TranslatorResolvingInfo(model, context, "translation")

    def translate(spec: dg.AssetSpec, table: TableConfig, layer: Layer) -> dg.AssetSpec:
        return info.get_asset_spec(spec, {"table": table, "layer": layer, "spec": spec})

    return translate


Translation = Annotated[
    Translate | None,
    dg.Resolver(
        _resolve_translation,
        model_field_type=str | AssetAttributesModel | None,
        description="Asset attributes of every table's two specs (templated: table, layer).",
    ),
]


@dataclass(frozen=True)
class TranslatingTranslator(MysqlRedshiftTranslator):
    """The default specs, then the component's translations (all pipelines', the pipeline's)."""

    translations: tuple[Translate, ...] = ()

    def get_asset_spec(self, project: Project, table: TableConfig, layer: Layer) -> dg.AssetSpec:
        base = super().get_asset_spec(project, table, layer)
        spec = base
        for translate in self.translations:
            spec = translate(spec, table, layer)
        for name in FIXED[:1] + FIXED[2:]:  # a templated translation returning a whole spec
            if getattr(spec, name) != getattr(base, name):
                raise ConfigError(
                    f"translation of {table.pipeline} {table.qualified} ({layer}): changes "
                    f"`{name}`, which the ops rely on (keys: key_prefix)"
                )
        return spec


class PipelineAttributes(dg.Model, dg.Resolvable):
    """One pipeline's own attributes: applied after the component's."""

    key_prefix: list[str] | None = None
    translation: Translation = None
    pool: str | None = None
    op: OpSpec | None = None


class MysqlRedshiftComponent(dg.Component, dg.Model, dg.Resolvable):
    """MySQL -> Parquet -> Redshift (or DuckDB / PostgreSQL) assets, jobs, schedules and
    sensors from a folder of YAML pipelines. Loading reads YAML only: nothing connects."""

    pipelines_dir: str | None = Field(
        None,
        description="The pipelines folder, relative to this defs.yaml; default: "
        "$MYSQL_REDSHIFT_PIPELINES_DIR, else the package's own `pipelines/`.",
    )
    key_prefix: list[str] = Field(
        default_factory=list, description="Put before every asset key of every pipeline."
    )
    pipeline_key_prefixes: dict[str, list[str]] = Field(
        default_factory=dict, description="Pipeline name -> the key prefix of its assets."
    )
    translation: Translation = None
    pool: str | None = Field(
        None, description="The pool of every op (default: `mysql-<source>`, one a source)."
    )
    op: OpSpec | None = Field(None, description="The ops' tags and pool (name: per pipeline).")
    pipelines: dict[str, PipelineAttributes] = Field(
        default_factory=dict,
        description="Pipeline name -> its own key_prefix, translation, pool and op.",
    )

    def execute(self, context: dg.AssetExecutionContext, run: TablesOpRun) -> Iterator[Recorded]:
        """What each op does in a run; override it to wrap or alter that.

        Receives the op's context (`context.selected_asset_keys`, `context.log`, the run) and
        `run`: its tables (`run.tables`, each a TableAssets: `.table` the TableConfig, `.parquet`
        / `.warehouse` the keys), its config (`run.config`), connections (`run.connections`),
        pool (`run.pool`), and `run.sync()`, the op's own work. Must yield every event
        `run.sync()` yields (materializations, check results), in its order, and let its
        exception through: a failed table raises `dg.Failure` (naming it) after the others'
        events. Work before or after it runs in the op's thread."""
        yield from run.sync()

    def _options(self, pipeline: str) -> OpOptions:
        own = self.pipelines.get(pipeline)
        ops = [o for o in (self.op, own.op if own else None) if o is not None]
        for spec in ops:
            extra = [f for f in spec.model_dump(exclude_unset=True) if f not in OP_FIELDS]
            if extra:
                raise ConfigError(f"op.{extra[0]}: not supported (op takes name, tags, pool)")
        if self.op is not None and self.op.name:
            raise ConfigError(
                "op.name: give it per pipeline (pipelines.<name>.op.name): op names are unique"
            )
        pools = [own.pool if own else None, *(o.pool for o in reversed(ops)), self.pool]
        tags: dict[str, str] = {}
        for spec in ops:
            tags |= {k: str(v) for k, v in (spec.tags or {}).items()}
        return OpOptions(
            pool=next((p for p in pools if p), None),
            tags=tags,
            name=own.op.name if own and own.op else None,
            execute=self.execute,
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = (context.path / self.pipelines_dir).resolve() if self.pipelines_dir else None
        project = load_project(root, keep_going=True)
        unknown = sorted(set(self.pipelines) - set(project.pipelines) - set(project.broken))
        if unknown:
            names = ", ".join(sorted(project.pipelines)) or "none"
            raise ConfigError(f"pipelines.{unknown[0]}: no such pipeline (pipelines: {names})")
        default = TranslatingTranslator(
            tuple(self.key_prefix), tuple(t for t in [self.translation] if t)
        )
        translators: dict[str, MysqlRedshiftTranslator] = {}
        for name in project.pipelines:
            own = self.pipelines.get(name)
            prefix = own.key_prefix if own and own.key_prefix is not None else None
            prefix = prefix if prefix is not None else self.pipeline_key_prefixes.get(name)
            translators[name] = replace(
                default,
                key_prefix=tuple(prefix) if prefix is not None else default.key_prefix,
                translations=default.translations
                + tuple(t for t in [own.translation if own else None] if t),
            )
        options: Mapping[str, OpOptions] = {n: self._options(n) for n in project.pipelines}
        return build_definitions(
            project, translators=translators, default_translator=default, op_options=options
        )
