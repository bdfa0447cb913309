"""`${ENV_VAR}` interpolation, done when a connection is opened, never at import."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from mysql_redshift_assets.config.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

M = TypeVar("M", bound=BaseModel)


def interpolate(text: str, *, where: str, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if default is not None:  # `${VAR:-x}`: x when VAR is unset or empty, as in the shell
            return env.get(name) or default
        if name in env:
            return env[name]
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _VAR.sub(replace, text)


def has_reference(value: object) -> bool:
    """A string holding a `${VAR}` reference."""
    return isinstance(value, str) and _VAR.search(value) is not None


def resolve_env(
    model: M,
    *,
    where: str,
    environ: Mapping[str, str] | None = None,
    deferred: Mapping[str, str] | None = None,
) -> M:
    """A copy of `model` with every `${VAR}` in its string fields replaced.

    `where` names the connection (e.g. `pipelines/connections.yml: targets.dw`); each error adds
    the key, so a user reads which variable to set for which connection. `deferred`: the
    non-string keys whose YAML value was a reference (`port: ${MYSQL_PORT:-3306}`, see
    `loader.defer_references`), resolved here and then validated as the number they must be.
    """
    updates: dict[str, object] = {}
    if deferred:
        updates = _resolve_deferred(model, deferred, where=where, environ=environ)
    for key, value in model:
        here = f"{where}.{key}"
        if key in updates:
            continue
        if isinstance(value, SecretStr):
            updates[key] = SecretStr(
                interpolate(value.get_secret_value(), where=here, environ=environ)
            )
        elif isinstance(value, str):
            updates[key] = interpolate(value, where=here, environ=environ)
    return model.model_copy(update=updates)


def _resolve_deferred(
    model: BaseModel,
    deferred: Mapping[str, str],
    *,
    where: str,
    environ: Mapping[str, str] | None,
) -> dict[str, object]:
    """Each deferred key's reference resolved and validated as the field's type."""
    texts = {
        key: interpolate(template, where=f"{where}.{key}", environ=environ)
        for key, template in deferred.items()
    }
    try:
        checked = type(model).model_validate(dict(model) | texts)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigError(
            f"{where}.{key}: {first['msg']} (the value of {deferred.get(key, '?')} is "
            f"{texts.get(key, '?')!r})"
        ) from None
    return {key: getattr(checked, key) for key in texts}
