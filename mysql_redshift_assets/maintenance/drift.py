"""Schema drift: what changed in MySQL since the newest file was written.

An added column is handled by the loader (ALTER TABLE ADD COLUMN) and only reported; a removed
column or a changed type can break or silently change a load, so it is an error to look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mysql_redshift_assets.store.parquet import FileColumn


@dataclass
class Drift:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return bool(self.removed or self.changed)

    def describe(self) -> str:
        parts = [f"{label}: {', '.join(items)}" for label, items in (
            ("added", self.added), ("removed", self.removed), ("changed", self.changed)) if items]  # fmt: skip
        return "; ".join(parts) or "no change"


def schema_drift(before: list[FileColumn], now: list[FileColumn]) -> Drift:
    old = {c.source_name: c for c in before}
    new = {c.source_name: c for c in now}
    drift = Drift()
    drift.added = [n for n in new if n not in old]
    drift.removed = [n for n in old if n not in new]
    for name in new.keys() & old.keys():
        a, b = old[name], new[name]
        if (a.column_type, a.redshift_type) != (b.column_type, b.redshift_type):
            drift.changed.append(f"{name} {a.column_type} -> {b.column_type}")
    drift.changed.sort()
    return drift
