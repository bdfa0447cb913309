"""The files a load takes, as their Parquet footers describe them."""

from __future__ import annotations

from collections.abc import Sequence

from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, Footer, read_footer


def schema_groups(files: Sequence[FileRecord]) -> list[list[FileRecord]]:
    """Consecutive files with one schema fingerprint: a schema change starts a new COPY."""
    groups: list[list[FileRecord]] = []
    for f in files:
        if groups and groups[-1][0].fingerprint == f.fingerprint:
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


def read_footers(store: ObjectStore, files: Sequence[FileRecord]) -> list[Footer]:
    return [read_footer(path, fs) for fs, path in (store.arrow_location(f.key) for f in files)]


def group_columns(store: ObjectStore, files: Sequence[FileRecord]) -> list[list[FileColumn]]:
    """Each schema group's columns, from its first file's footer: read before anything changes,
    so that an unreadable file fails the load naming it, with nothing loaded."""
    columns = []
    for group in schema_groups(files):
        fs, path = store.arrow_location(group[0].key)
        try:
            columns.append(read_footer(path, fs).columns)
        except Exception as exc:
            raise LoadError(
                f"cannot read {store.uri(group[0].key)} ({type(exc).__name__}: {exc}); "
                "nothing was loaded"
            ) from exc
    return columns
