"""One error type for everything a user fixes in YAML or the environment."""

from __future__ import annotations


class ConfigError(ValueError):
    """Bad configuration. The message names the file, the table (where there is one) and the key."""
