"""Which partitions `sync` runs for a partitioned table, and as which Dagster runs.

One Dagster run has one partitions definition, so each partitioned table gets runs of its own:
a time-partitioned table one single-run backfill over its windows (`--partition-range`), an
id-range table one run per range (its partitions live in the instance, in the order they were
added, so a range of them is not a range of ids). Without a flag: the latest complete window
of a time-partitioned table, the range holding the newest id of an id-range table, and before
it every window whose newest generation is provisional (read while rows could still commit
into it: `Generation.provisional`), one run each: a row committed into a window after its read
is read by the table's next sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.defs.partitions import partitions_def
from mysql_redshift_assets.naming import dynamic_partitions_name
from mysql_redshift_assets.partitions import id_range_key, id_window
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.probe import max_primary_key

RANGE_SEPARATOR = "..."


@dataclass(frozen=True)
class PartitionedRun:
    """One Dagster run of one partitioned table over `keys` (consecutive windows)."""

    table: TableConfig
    keys: list[str]

    @property
    def tags(self) -> dict[str, str]:
        if len(self.keys) == 1:
            return {"dagster/partition": self.keys[0]}
        return {
            "dagster/asset_partition_range_start": self.keys[0],
            "dagster/asset_partition_range_end": self.keys[-1],
        }


def parse_range(text: str) -> tuple[str, str]:
    """`A...B` -> (A, B)."""
    first, sep, last = text.partition(RANGE_SEPARATOR)
    if not sep or not first.strip() or not last.strip():
        raise ConfigError(f"--partition-range {text!r}: write it as <first>...<last>")
    return first.strip(), last.strip()


def partitioned_runs(
    project: Project, table: TableConfig, partition: str | None, partition_range: str | None
) -> list[PartitionedRun]:
    """The runs `sync` makes for `table`: the flags' windows, or the default ones (none: [])."""
    if table.mode == "time":
        keys = _time_keys(table, partition, partition_range)
        runs = [PartitionedRun(table, keys)] if keys else []
    else:
        keys = _id_keys(project, table, partition, partition_range)
        runs = [PartitionedRun(table, [k]) for k in keys]
    if partition is not None or partition_range is not None:
        return runs
    again = [k for k in provisional_windows(project, table) if k not in keys]
    return [PartitionedRun(table, [k]) for k in again] + runs


def provisional_windows(project: Project, table: TableConfig) -> list[str]:
    """The windows whose newest generation is provisional, in the order first extracted."""
    watermark = WatermarkStore(open_store(project, table.store)).load(table)
    if watermark is None:
        return []
    keys = [g.partition for g in watermark.provisional_partitions() if g.partition]
    if table.mode == "time":
        pdef = partitions_def(table)
        assert isinstance(pdef, dg.TimeWindowPartitionsDefinition)
        keys = [k for k in keys if pdef.has_partition_key(k)]  # today's: not a partition yet
    return keys


def _time_keys(table: TableConfig, partition: str | None, partition_range: str | None) -> list[str]:
    pdef = partitions_def(table)
    assert isinstance(pdef, dg.TimeWindowPartitionsDefinition)
    if partition is None and partition_range is None:
        last = pdef.get_last_partition_key()  # the latest *complete* window
        return [last] if last else []
    first, last = (partition, partition) if partition else parse_range(partition_range or "")
    for key in (first, last):
        if not pdef.has_partition_key(key):
            raise ConfigError(
                table.error(
                    "partitions",
                    f"{key!r} is not one of its {table.partitions.granularity if table.partitions else ''} "
                    f"partitions (format {pdef.fmt!r}, from {pdef.start:%Y-%m-%d} to the last "
                    "complete window)",
                )
            )
    keys = list(pdef.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))
    if not keys:
        raise ConfigError(f"--partition-range {first}...{last}: the first comes after the last")
    return keys


def _id_keys(
    project: Project, table: TableConfig, partition: str | None, partition_range: str | None
) -> list[str]:
    assert table.id_range is not None
    size = table.id_range.size
    if partition is None and partition_range is None:
        source = open_source(project, table.source)
        try:
            top = max_primary_key(source, table)
        finally:
            source.close()
        return [] if top is None else [id_range_key((top // size) * size, size)]
    first, last = (partition, partition) if partition else parse_range(partition_range or "")
    lows = [_id_range_low(table, key) for key in (first, last)]
    if lows[0] > lows[1]:
        raise ConfigError(f"--partition-range {first}...{last}: the first comes after the last")
    return [id_range_key(lo, size) for lo in range(lows[0], lows[1] + 1, size)]


def _id_range_low(table: TableConfig, key: str) -> int:
    assert table.id_range is not None
    size = table.id_range.size
    try:
        window = id_window(key)
    except ValueError as exc:
        raise ConfigError(table.error("id_range", str(exc))) from None
    lo, hi = int(window.lo), int(window.hi)
    if lo % size or hi - lo != size:
        raise ConfigError(
            table.error(
                "id_range",
                f"{key!r} is not one of its ranges of {size:,} ids (e.g. {id_range_key(0, size)})",
            )
        )
    return lo


def add_id_ranges(instance: dg.DagsterInstance, runs: list[PartitionedRun]) -> None:
    """Add the id ranges the runs need that the sensor has not added yet."""
    for run in runs:
        if run.table.mode != "id_range":
            continue
        name = dynamic_partitions_name(run.table)
        missing = [k for k in run.keys if not instance.has_dynamic_partition(name, k)]
        if missing:
            instance.add_dynamic_partitions(name, missing)
