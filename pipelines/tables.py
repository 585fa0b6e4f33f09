"""Facts about DuckDB tables computed inside DuckDB: schema, content fingerprint, profile.

The fingerprint's definition, shared with the Spark engine, is ``pipelines.fingerprint``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | Path) -> str:
    """A DuckDB string literal holding ``value`` exactly: the one way a path or text reaches SQL
    where a prepared parameter cannot (a view's definition).

    DuckDB's standard strings know one escape, a doubled quote; backslashes and newlines stand
    for themselves. A NUL cannot be held by a path and is refused.
    """
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL string literal cannot hold the NUL character")
    return "'" + text.replace("'", "''") + "'"


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """``(name, type)`` of a table or view, in order."""
    # pragma_table_info answers from the catalog entry; information_schema.columns builds
    # the view over every column of every table first (5x slower, and asked ~5 times a step).
    try:
        rows = con.execute("select name, type from pragma_table_info(?)", [quote(table)]).fetchall()
    except (duckdb.CatalogException, duckdb.ParserException):
        rows = []
    if not rows:
        raise LookupError(f"table {table!r} does not exist")
    return [(r[0], r[1]) for r in rows]


# Up to this many rows a profile counts distinct values exactly; above it, with DuckDB's
# approx_count_distinct (HyperLogLog: one pass, little memory, a few per cent off). Exact counts
# hash every value of every column into a set; on the pipeline's 10M-row tables that took longer
# than building them.
EXACT_DISTINCT_MAX_ROWS = 1_000_000


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, int]:
    """Content fingerprint and row count, as ``pipelines.fingerprint`` defines them.

    Row order does not matter (tables are sets); duplicate rows do (a sum, not an xor).
    """
    digest, rows, _ = _scan(con, table, with_profile=False)
    return digest, rows


def file_fingerprint(path: str | Path) -> str:
    """Content fingerprint of a landed file: sha256 over its bytes.

    Sources are files, and equal bytes mean equal rows, so hashing the bytes (0.2 s for 10M
    events, with the GIL released) replaces a scan that decodes every row (0.5 s, both cores).
    Landing writes a source deterministically (same input and seed, same bytes), so an unchanged
    source keeps its fingerprint and the steps over it stay no-ops.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 23):
            digest.update(chunk)
    return digest.hexdigest()


def profile(con: duckdb.DuckDBPyConnection, table: str, *,
            exact_distinct_max_rows: int | None = None) -> dict:
    """Row count and per-column nulls, distinct counts and numeric min/max, in one scan.

    ``distinctCountMethod`` says how distinct values were counted: ``exact`` up to
    ``exact_distinct_max_rows`` rows (default :data:`EXACT_DISTINCT_MAX_ROWS`),
    ``approx_count_distinct`` above. Null counts and min/max are always exact.
    """
    return _scan(con, table, with_fingerprint=False,
                 exact_distinct_max_rows=exact_distinct_max_rows)[2]


def fingerprint_and_profile(
    con: duckdb.DuckDBPyConnection, table: str, *, exact_distinct_max_rows: int | None = None,
) -> tuple[str, int, dict]:
    """:func:`fingerprint` and :func:`profile` of a table from one scan of it."""
    return _scan(con, table, exact_distinct_max_rows=exact_distinct_max_rows)


def _scan(con, table: str, *, with_fingerprint: bool = True, with_profile: bool = True,
          exact_distinct_max_rows: int | None = None):
    """One aggregate query computing whichever of fingerprint and profile is asked for."""
    from pipelines.fingerprint import DUCKDB, read_scan, scan_query

    cols = columns(con, table)
    exact = True
    if with_profile:
        if exact_distinct_max_rows is None:
            exact_distinct_max_rows = EXACT_DISTINCT_MAX_ROWS
        # DuckDB answers a bare count(*) of a table from its metadata, without a scan.
        (n,) = con.execute(f"select count(*) from {quote(table)}").fetchone()
        exact = n <= exact_distinct_max_rows
    query = scan_query(table, cols, DUCKDB, with_fingerprint=with_fingerprint,
                       with_profile=with_profile, exact=exact)
    values = con.execute(query).fetchone()
    return read_scan(list(values), cols, with_fingerprint=with_fingerprint,
                     with_profile=with_profile, exact=exact)
