"""Validate deploy/k8s/values.yaml against the Dagster Helm chart's values.schema.json.

    python deploy/k8s/check_values.py --schema <chart>/values.schema.json \
        [--chart-values <chart>/values.yaml] [values.yaml]

The schema and the chart's own values.yaml come from the chart you install (`helm pull
dagster/dagster --untar`, or helm/dagster/ in github.com/dagster-io/dagster at the release's
tag); they are not kept in this repository.

- With --chart-values, this file is merged over the chart's defaults as Helm merges `-f`
  files (maps merged key by key, lists and scalars replaced, null removes a key) and the
  result is validated in full, as `helm install` does.
- Without it, the schema's `required` lists are dropped (the chart's defaults supply those
  keys) and this file alone is checked: every key it sets must exist where it is set, with the
  right type, enum value and shape.
- References to Kubernetes' own schemas (https://kubernetesjsonschema.dev/...) are not
  fetched: Kubernetes objects (resources, envFrom, volumes) are accepted as any object.

Exit 0 and `OK` when valid; else each error with its path, exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent


def offline(schema: Any) -> Any:
    """`schema` with remote `$ref`s removed (their sibling keywords, if any, still apply)."""
    if isinstance(schema, dict):
        return {
            k: offline(v)
            for k, v in schema.items()
            if not (k == "$ref" and isinstance(v, str) and not v.startswith("#"))
        }
    if isinstance(schema, list):
        return [offline(v) for v in schema]
    return schema


def without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [without_required(v) for v in schema]
    return schema


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of a values file over the chart's defaults."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(base.get(key), value) if key in base else value
    return merged


def errors(schema: dict, values: dict, *, partial: bool) -> list[str]:
    schema = offline(schema)
    if partial:
        schema = without_required(schema)
    validator = jsonschema.Draft7Validator(schema)
    found = sorted(validator.iter_errors(values), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in found]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("values", nargs="?", default=str(HERE / "values.yaml"))
    parser.add_argument("--schema", required=True, help="the chart's values.schema.json")
    parser.add_argument("--chart-values", help="the chart's values.yaml (full validation)")
    args = parser.parse_args(argv)
    schema = json.loads(Path(args.schema).read_text())
    values = yaml.safe_load(Path(args.values).read_text())
    partial = args.chart_values is None
    if not partial:
        values = helm_merge(yaml.safe_load(Path(args.chart_values).read_text()), values)
    problems = errors(schema, values, partial=partial)
    for line in problems:
        print(line)
    if problems:
        return 1
    print(f"OK: {args.values} ({'merged over the chart defaults' if not partial else 'alone'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
