"""Redshift's widths, checked before any write: a value longer than its column is refused.

Redshift's VARCHAR(n) and VARBYTE(n) count bytes, UTF-8 for text
(https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html), and a COPY of a longer
value fails ("String length exceeds DDL length"). Redshift and its PostgreSQL stand-in both
refuse such files by the Redshift types the planner recorded (`DbApiWarehouse.check_text_fits`),
so that a load that passes on the stand-in passes on Redshift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from mysql_redshift_assets.load.request import LoadError, LoadRequest
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.parquet import FileColumn, Footer
from mysql_redshift_assets.targets import REDSHIFT, REDSHIFT_MAX_VARBYTE

_WIDTH = re.compile(r"^(VARCHAR|VARBYTE)\((\d+)\)$")


def refuse_oversize_text(
    request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
) -> None:
    """Redshift's VARCHAR stops at 65,535 bytes: a COPY of a longer value would fail."""
    for f, footer in zip(files, footers, strict=True):
        if footer.oversize:
            detail = ", ".join(f"{c}: {n} value(s)" for c, n in footer.oversize.items())
            raise LoadError(
                f"{f.key} holds text longer than Redshift's 65,535-byte VARCHAR ({detail}); "
                f"a COPY would fail. Set `text_overflow: truncate` for table "
                f"{request.table.qualified} in {request.table.config_file} to cut such "
                "values at extraction (counted in metadata), or leave the column out with "
                f"`exclude_columns: [{', '.join(footer.oversize)}]`; then re-extract"
            )


def declared_width(sql_type: str) -> int | None:
    """n of `VARCHAR(n)` / `VARBYTE(n)`: bytes (UTF-8 for VARCHAR) the column takes."""
    match = _WIDTH.match(sql_type)
    return int(match.group(2)) if match else None


def refuse_values_over_width(
    request: LoadRequest,
    files: Sequence[FileRecord],
    footers: Sequence[Footer],
    target_widths: Mapping[str, int] | None = None,
) -> None:
    """Refuse, before any write, a value longer than its Redshift column: COPY would fail on it,
    or the merge into a narrower existing target column. The files' footers carry each
    column's longest value; `target_widths` are the target's VARCHAR widths."""
    refuse_oversize_text(request, files, footers)
    for f, footer in zip(files, footers, strict=True):
        for col in footer.columns:
            longest = (footer.max_bytes or {}).get(col.name)
            if longest is None:
                continue
            redshift_type = REDSHIFT.column_type(col)
            width = declared_width(redshift_type)
            if width is not None and longest > width:
                raise LoadError(
                    f"{f.key}: column {col.name!r} ({col.source_name!r} in "
                    f"{request.table.qualified}) holds a value of {longest} bytes, longer than "
                    f"its Redshift type {redshift_type}; a COPY would fail. "
                    + _width_fix(col, request)
                )
            existing = (target_widths or {}).get(col.name)
            if existing is not None and longest > existing:
                raise LoadError(_narrow_target(request, f.key, col, longest, existing))
    refuse_rows_over_limit(request, files, footers)  # after each value's own limit: less exact


def refuse_rows_over_limit(
    request: LoadRequest,
    files: Sequence[FileRecord],
    footers: Sequence[Footer],
    limit: int | None = REDSHIFT.row_limit_bytes,
) -> None:
    """COPY takes rows of at most 4 MB (`targets.py` `REDSHIFT_MAX_COPY_ROW`), whatever each
    column's own limit: refuse, before any write, a file whose largest row (its footer's, exact
    per row) is larger. A file written before that figure was kept is refused only when one
    value alone is larger (a sum of per-column maxima would refuse rows that fit)."""
    if limit is None:
        return
    for f, footer in zip(files, footers, strict=True):
        widest = sorted((footer.max_bytes or {}).items(), key=lambda kv: -kv[1])
        if footer.max_row_bytes is not None:
            size, where = footer.max_row_bytes, f"row {footer.max_row_index} (0-based)"
        else:
            size, where = (widest[0][1] if widest else 0), "a row"
        if size > limit:
            columns = ", ".join(f"{c} (longest value {n:,} bytes)" for c, n in widest[:3])
            raise LoadError(
                f"{f.key}: {where} of {request.table.qualified} is {size:,} bytes, over the "
                f"{limit:,}-byte row limit of Redshift's COPY "
                "(https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-source.html);"
                f" nothing was loaded. Its widest columns: {columns}. Shrink or move such values "
                "in MySQL, or leave columns out with the table's `exclude_columns: [...]` in "
                f"{request.table.config_file}; then run `{_resync(request)}` to re-extract the "
                "table"
            )


def _resync(request: LoadRequest) -> str:
    return f"mysql-redshift resync -p {request.table.pipeline} -t {request.table.qualified}"


def _narrow_target(
    request: LoadRequest, key: str, col: FileColumn, longest: int, existing: int
) -> str:
    return (
        f"{key}: column {col.name!r} of the target {request.target_schema}."
        f"{request.target_table} is VARCHAR({existing}) (created by an older plan) but a value "
        f"is {longest} bytes; nothing was loaded. Widen it: ALTER TABLE "
        f"{request.target_schema}.{request.target_table} ALTER COLUMN {col.name} TYPE "
        f"{REDSHIFT.column_type(col)} (`mysql-redshift ddl -t {request.table.qualified}` "
        "prints it)"
    )


def _width_fix(col: FileColumn, request: LoadRequest) -> str:
    if REDSHIFT.column_type(col).startswith("VARBYTE"):
        return (
            f"Redshift's VARBYTE stops at {REDSHIFT_MAX_VARBYTE:,} bytes: shrink or move such "
            f"values in MySQL, or leave the column out with `exclude_columns: [{col.source_name}]` "
            f"for table {request.table.qualified} in {request.table.config_file}; then run "
            f"`{_resync(request)}` to re-extract the table"
        )
    if col.capped:
        return (
            f"Set `text_overflow: truncate` for table {request.table.qualified} in "
            f"{request.table.config_file} to cut such values at extraction, or leave the column "
            f"out with `exclude_columns: [{col.source_name}]`; then re-extract"
        )
    return (
        "The column was sized for an older plan: re-extract so the planner sizes it again, or "
        "widen it (ALTER TABLE ... ALTER COLUMN ... TYPE VARCHAR(n))"
    )
