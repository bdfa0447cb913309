"""`json: super`: every JSON document checked against what Redshift's SUPER takes, as it is
written to a file, so that a document over a limit stops the extraction naming its row's key
before anything is stored or loaded (the stand-ins refuse what Redshift would).

The limits (https://docs.aws.amazon.com/redshift/latest/dg/limitations-super.html):

- "An individual SUPER object can hold up to 16 MB of data": but the document reaches
  JSON_PARSE as the text staged for it, and JSON_PARSE takes a VARCHAR (or VARBYTE,
  https://docs.aws.amazon.com/redshift/latest/dg/JSON_PARSE.html): a VARCHAR holds at most
  65,535 bytes (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html), so
  `MAX_DOCUMENT_BYTES` is that, the lower of the two. A COPY row is also at most 4 MB
  (`load/widths.py` `refuse_rows_over_limit` checks it).
- "The maximum nesting depth for arrays and structures of the SUPER data type is 1,000":
  `MAX_DEPTH` (`[[1]]` is depth 2, a scalar 0).
- Duplicate keys: JSON_PARSE refuses an object whose attribute name repeats ("Parsing options
  for SUPER", https://docs.aws.amazon.com/redshift/latest/dg/super-configurations.html), jsonb
  keeps the last (https://www.postgresql.org/docs/15/datatype-json.html), MySQL 8 keeps the last
  (https://dev.mysql.com/doc/refman/8.0/en/json.html#json-normalization) and stores no
  duplicate, and MariaDB stores the text as it is and its JSON_EXTRACT reads the first: no one
  meaning, so a document with a duplicate key is refused. Only MariaDB's JSON (a LONGTEXT) can
  hold one: MySQL's binary JSON is not checked for them.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

MAX_DOCUMENT_BYTES = 65_535
MAX_DEPTH = 1_000
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_RECURSION = threading.Lock()


class JsonRefused(ValueError):
    """A JSON document SUPER would not take; the message names the row's key."""


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (0: a scalar)."""
    deepest = level = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        level += 1 if match.group() in "[{" else -1
        deepest = max(deepest, level)
    return deepest


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for k, _ in pairs:
        if k in seen:
            raise JsonRefused(f"the key {k!r} appears twice in one object")
        seen.add(k)
    return dict(pairs)


def _parse_unique(text: str, levels: int) -> None:
    """Parse `text`, refusing a repeated key; deep documents get the recursion they need."""
    if levels < 200:
        json.loads(text, object_pairs_hook=_unique)
        return
    with _RECURSION:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 4 * levels + 1_000))
        try:
            json.loads(text, object_pairs_hook=_unique)
        finally:
            sys.setrecursionlimit(limit)


def refusal(text: str, *, duplicates: bool = True) -> str | None:
    """Why SUPER would not take the JSON document `text`, or None."""
    size = len(text.encode())
    if size > MAX_DOCUMENT_BYTES:
        return f"{size:,} bytes, over the {MAX_DOCUMENT_BYTES:,} JSON_PARSE takes"
    # Fewer opening brackets than the limit (a C-speed count; those in strings only add): no
    # need to find the exact depth.
    opened = text.count("[") + text.count("{")
    levels = depth(text) if opened > MAX_DEPTH else opened
    if levels > MAX_DEPTH:
        return f"nested {levels} deep, over SUPER's {MAX_DEPTH:,}"
    if duplicates:
        try:
            _parse_unique(text, levels)
        except JsonRefused as exc:
            return str(exc)
        except ValueError as exc:
            return f"not valid JSON ({exc})"
    return None


def check_batch(
    batch: pa.RecordBatch, columns: Mapping[str, bool], key: Sequence[str], where: str
) -> None:
    """Raise JsonRefused for the first document of `batch` SUPER would not take. `columns`:
    the JSON columns, each with whether to look for duplicate keys; `key`: the columns that
    name a row (its primary key) in the message."""
    for name, duplicates in columns.items():
        values = batch.column(name)
        over = pc.greater(pc.binary_length(values), MAX_DOCUMENT_BYTES)
        if not (pc.any(over).as_py() or duplicates or _deep_possible(values)):
            continue
        for i, text in enumerate(values.to_pylist()):
            why = None if text is None else refusal(text, duplicates=duplicates)
            if why is not None:
                raise JsonRefused(_message(batch, i, name, key, where, why))


def _deep_possible(values: pa.Array) -> bool:
    """A document can nest over MAX_DEPTH only with more than MAX_DEPTH bytes."""
    longest = pc.max(pc.binary_length(values)).as_py()
    return longest is not None and longest > 2 * MAX_DEPTH


def _message(
    batch: pa.RecordBatch, row: int, name: str, key: Sequence[str], where: str, why: str
) -> str:
    known = [k for k in key if k in batch.schema.names]
    if known:
        ident = ", ".join(f"{k}={batch.column(k)[row].as_py()!r}" for k in known)
        who = f"the row with key {ident}"
    else:
        who = f"a row without a primary key (row {row} of a batch)"
    return (
        f"{where}: column {name!r} of {who} holds a JSON document that Redshift's SUPER would "
        f"not take: {why} (https://docs.aws.amazon.com/redshift/latest/dg/limitations-super.html)."
        " The extraction stopped before that row reached a file. Fix the document in MySQL (the next run reads it "
        "again; with `capture: binlog`, then run `resync`), or set `json: varchar` for the table"
    )
