"""A change of a loaded table's `exclude_columns:`, `hash_columns:` or `hash_key:` is refused
before an increment is read: the rows already in the warehouse keep what was loaded (raw values
where hashes now go, hashes of another key, a column now excluded), and an increment re-reads
only the rows that changed. A resync re-extracts the whole table and swaps it in (it does not
pass here), as a refused schema change does (`load/alter.py`)."""

from __future__ import annotations

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.shaping import HASHED_TYPE, hash_key, key_id
from mysql_redshift_assets.load.alter import resolve_fix
from mysql_redshift_assets.state.watermark import Watermark
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import read_footer


def _hashing(column_type: str) -> str:
    """`hmac sha256 key <id>` of a hashed column's type, '' of any other."""
    return column_type.split(" of ", 1)[0] if column_type.startswith(HASHED_TYPE) else ""


def refuse_changed_shaping(
    store: ObjectStore, table: TableConfig, watermark: Watermark | None
) -> None:
    """Compare the config with the newest file's columns (incremental tables; no MySQL read)."""
    if table.mode != "incremental" or watermark is None or not watermark.files:
        return
    fs, path = store.arrow_location(watermark.files[-1].key)
    try:
        columns = read_footer(path, fs).columns
    except OSError:  # the file is gone (s3clean): the drift check and the load still guard
        return
    before = {c.source_name: _hashing(c.column_type) for c in columns}
    key = hash_key(table)
    now = f"{HASHED_TYPE} key {key_id(key)}" if key is not None else ""
    changed = [
        f"{name} ({was or 'not hashed'} -> {is_now or 'not hashed'})"
        for name, was in before.items()
        for is_now in [now if name in table.hash_columns else ""]
        if name not in table.exclude_columns and was != is_now
    ]
    excluded = [c for c in table.exclude_columns if c in before]
    if not (changed or excluded):
        return
    what = [f"hashing changed for {', '.join(changed)}"] if changed else []
    what += [f"{', '.join(excluded)} now excluded"] if excluded else []
    raise ConfigError(
        table.error(
            "hash_columns" if changed else "exclude_columns",
            f"{'; '.join(what)} since the files already extracted; the warehouse's rows keep "
            "what was loaded until each is read again. " + resolve_fix(table),
        )
    )
