"""`${ENV_VAR}` interpolation, done when a connection is opened, never at import."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, SecretStr

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


def resolve_env(model: M, *, where: str, environ: Mapping[str, str] | None = None) -> M:
    """A copy of `model` with every `${VAR}` in its string fields replaced.

    `where` names the connection (e.g. `pipelines/connections.yml: targets.dw`); each error adds
    the key, so a user reads which variable to set for which connection.
    """
    updates: dict[str, object] = {}
    for key, value in model:
        here = f"{where}.{key}"
        if isinstance(value, SecretStr):
            updates[key] = SecretStr(
                interpolate(value.get_secret_value(), where=here, environ=environ)
            )
        elif isinstance(value, str):
            updates[key] = interpolate(value, where=here, environ=environ)
    return model.model_copy(update=updates)
