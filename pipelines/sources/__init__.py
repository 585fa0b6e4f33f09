"""Sources of raw data: a seeded synthetic shop and readers for the real data sets.

Every source writes the same two landing files, so the SQL steps never care where data came from:

- ``raw/events.parquet``: ``source_row BIGINT, user_id, item_id, category_id, behavior, ts`` — all
  VARCHAR as landed, because real feeds carry malformed values that cleaning must see;
- ``raw/items.parquet``: ``source_row BIGINT, item_id BIGINT, category_id BIGINT, brand_id BIGINT,
  price DOUBLE, stock BIGINT, attributes BIGINT[]`` — nulls where a source has no such attribute.

``source_row`` numbers each file's rows from 0 in landing order: the steps break ties by it (the
first landed copy of a duplicate is kept), and SQL engines do not agree on the order of a scan.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

EVENTS_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("category_id", pa.string()),
        ("behavior", pa.string()),
        ("ts", pa.string()),
    ]
)

ITEMS_SCHEMA = pa.schema(
    [
        ("source_row", pa.int64()),
        ("item_id", pa.int64()),
        ("category_id", pa.int64()),
        ("brand_id", pa.int64()),
        ("price", pa.float64()),
        ("stock", pa.int64()),
        ("attributes", pa.list_(pa.int64())),
    ]
)


class SourceError(Exception):
    """A source file is missing or not in the expected format; the message says which and why."""


@contextlib.contextmanager
def landing(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces it when the block succeeds.

    A landing killed half-way (``kill -9``, a full disk) leaves the previous file, never a
    truncated one that a later ``--skip-landing`` run would take for the source.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
