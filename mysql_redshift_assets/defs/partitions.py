"""Partitions definitions from YAML, and the window each partition key stands for."""

from datetime import UTC, datetime

import dagster as dg

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.naming import dynamic_partitions_name
from mysql_redshift_assets.partitions import Window, id_window, time_window

_TIME = {
    "hourly": dg.HourlyPartitionsDefinition,
    "daily": dg.DailyPartitionsDefinition,
    "monthly": dg.MonthlyPartitionsDefinition,
}


def partitions_def(table: TableConfig) -> dg.PartitionsDefinition | None:
    if table.mode == "id_range":
        return dg.DynamicPartitionsDefinition(name=dynamic_partitions_name(table))
    if table.mode != "time" or table.partitions is None:
        return None
    spec = table.partitions
    try:
        start = datetime.fromisoformat(spec.start)
    except ValueError:
        raise ConfigError(
            table.error("partitions.start", f"{spec.start!r} is not a date, e.g. '2024-01-01'")
        ) from None
    if (start.replace(tzinfo=UTC) if start.tzinfo is None else start) > datetime.now(UTC):
        raise ConfigError(table.error("partitions.start", f"{spec.start!r} is in the future"))
    try:
        return _TIME[spec.granularity](start_date=start, timezone=spec.timezone)
    except Exception as exc:  # e.g. an unknown timezone name
        raise ConfigError(table.error("partitions", str(exc))) from None


def window_for(table: TableConfig, pdef: dg.PartitionsDefinition, key: str) -> Window:
    if table.mode == "id_range":
        return id_window(key)
    assert isinstance(pdef, dg.TimeWindowPartitionsDefinition)
    span = pdef.time_window_for_partition_key(key)
    return time_window(key, span.start, span.end)
