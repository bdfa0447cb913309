"""PostgreSQL, standing in for Redshift where Redshift cannot run (tests, local work).

The same algorithm and the same SQL as Redshift, but in PostgreSQL's own words: its column types,
`LOCK TABLE ... IN EXCLUSIVE MODE`, no DISTKEY/SORTKEY, and the files moved into staging by a
client-side `COPY FROM STDIN` instead of Redshift's COPY from S3. It refuses values that Redshift
would refuse (longer than their VARCHAR/VARBYTE width, in bytes), so that a load that passes here passes there.

Dates and timestamps travel as Python objects, except in a column holding a value Python's
`date` cannot (year 0 from MySQL, which PostgreSQL holds as 1 BC; a DATETIME past 9999 once read
in its zone): that column travels as PostgreSQL's own text (`0001-01-01 BC`). PostgreSQL holds
DATE from 4713 BC to 5874897 AD and TIMESTAMP(TZ) from 4713 BC to 294276 AD, counting the
proleptic Gregorian calendar with 1 BC for year 0
(https://www.postgresql.org/docs/15/datatype-datetime.html, "ISO 8601 specifies the use of the
proleptic Gregorian calendar" https://www.postgresql.org/docs/15/datetime-units-history.html):
every MySQL DATE / DATETIME (years 0 to 9999) fits, so nothing is refused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import CopyBatch
from mysql_redshift_assets.load.dbapi import DbApiWarehouse
from mysql_redshift_assets.load.keep import Kept, read_postgres
from mysql_redshift_assets.targets import POSTGRES


class PostgresWarehouse(DbApiWarehouse):
    target_dialect = POSTGRES

    def lock(self, table: str) -> None:
        self.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    def kept_objects(self, schema: str, table: str) -> Kept:
        return read_postgres(self, schema, table)

    def session_fileno(self) -> int | None:
        return None if self._conn is None else int(self._conn.pgconn.socket)

    def copy_into_staging(self, batch: CopyBatch) -> int:
        names = ", ".join(quote_ident(c.name) for c in batch.columns)
        total = 0
        with self.conn.cursor() as cur:
            for f in batch.files:
                fs, path = batch.store.arrow_location(f.key)
                step = f"COPY {batch.staging} FROM STDIN ({f.key})"
                with fs.open_input_file(path) as handle, self.bounded(step):
                    parquet = pq.ParquetFile(handle)
                    with cur.copy(f"COPY {batch.staging} ({names}) FROM STDIN") as copy:
                        for rows in parquet.iter_batches(batch_size=65_536):
                            values = (copy_values(c) for c in rows.columns)
                            for row in zip(*values, strict=True):
                                copy.write_row(row)
                total += cur.rowcount
        return total


_EPOCH = date(1970, 1, 1).toordinal()  # day 0 of date32 / timestamps, as a proleptic ordinal
_CYCLE_DAYS = 146_097  # 400 Gregorian years: the calendar repeats, leap days and all
_DAY_US = 86_400_000_000
# The days (since 1970-01-01) Python's `date` holds: 0001-01-01 .. 9999-12-31.
_PY_DAYS = (date.min.toordinal() - _EPOCH, date.max.toordinal() - _EPOCH)


def copy_values(array: pa.Array) -> list[Any]:
    """A column's values for `COPY ... FROM STDIN`: Python objects, or PostgreSQL's text for a
    date / timestamp column that holds a value Python cannot (`to_pylist` would raise
    OverflowError: "date value out of range")."""
    t = array.type
    if not (pa.types.is_date32(t) or pa.types.is_timestamp(t)) or not len(array):
        return array.to_pylist()
    if pa.types.is_date32(t):
        values, per_day = array.view(pa.int32()), 1
    else:
        values, per_day = array.cast(pa.timestamp("us", t.tz)).view(pa.int64()), _DAY_US
    lo, hi = (v.as_py() for v in pc.min_max(values).values())
    if lo is None or (_PY_DAYS[0] * per_day <= lo and hi < (_PY_DAYS[1] + 1) * per_day):
        return array.to_pylist()
    if per_day == 1:
        return [None if v is None else _date_text(v) for v in values.to_pylist()]
    zone = "+00" if t.tz else ""
    return [None if v is None else _timestamp_text(v, zone) for v in values.to_pylist()]


def _civil(days: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 -> (astronomical year, month, day) in the proleptic Gregorian
    calendar, for any year: shifted by whole 400-year cycles into Python's range and back."""
    ordinal, cycles = days + _EPOCH, 0
    if ordinal < 1:
        cycles = -((_CYCLE_DAYS - ordinal) // _CYCLE_DAYS)
    elif ordinal > date.max.toordinal():
        cycles = (ordinal - date.max.toordinal() + _CYCLE_DAYS - 1) // _CYCLE_DAYS
    d = date.fromordinal(ordinal - cycles * _CYCLE_DAYS)
    return d.year + 400 * cycles, d.month, d.day


def _date_text(days: int, clock: str = "") -> str:
    """PostgreSQL's spelling: astronomical year 0 is `0001 ... BC`, -1 is `0002 ... BC`."""
    year, month, day = _civil(days)
    if year > 0:
        return f"{year:04d}-{month:02d}-{day:02d}{clock}"
    return f"{1 - year:04d}-{month:02d}-{day:02d}{clock} BC"


def _timestamp_text(micros: int, zone: str) -> str:
    days, us = divmod(micros, _DAY_US)
    seconds, us = divmod(us, 1_000_000)
    clock = f" {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{us:06d}{zone}"
    return _date_text(days, clock)
