"""PostgreSQL, standing in for Redshift where Redshift cannot run (tests, local work).

The same algorithm and the same SQL as Redshift, but in PostgreSQL's own words: its column types,
`LOCK TABLE ... IN EXCLUSIVE MODE`, no DISTKEY/SORTKEY, and the files moved into staging by a
client-side `COPY FROM STDIN` instead of Redshift's COPY from S3. It refuses values that Redshift
would refuse (longer than their VARCHAR/VARBYTE width, in bytes), so that a load that passes here passes there.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow.parquet as pq

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.dbapi import DbApiWarehouse
from mysql_redshift_assets.load.redshift import refuse_values_over_width
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, Footer


class PostgresWarehouse(DbApiWarehouse):
    dialect = "postgres"

    def column_type(self, col: FileColumn) -> str:
        return col.postgres_type

    def lock(self, table: str) -> None:
        self.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    def check_text_fits(
        self, request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
    ) -> None:
        refuse_values_over_width(request, files, footers, self.varchar_widths(request))

    def copy_into_staging(
        self,
        staging: str,
        columns: list[FileColumn],
        files: list[FileRecord],
        store: ObjectStore,
        request: LoadRequest,
        group: int,
    ) -> int:
        names = ", ".join(quote_ident(c.name) for c in columns)
        total = 0
        with self.conn.cursor() as cur:
            for f in files:
                fs, path = store.arrow_location(f.key)
                with fs.open_input_file(path) as handle:
                    parquet = pq.ParquetFile(handle)
                    with cur.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
                        for batch in parquet.iter_batches(batch_size=65_536):
                            for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                                copy.write_row(row)
                total += cur.rowcount
        return total
