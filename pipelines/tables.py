"""Facts about DuckDB tables computed inside DuckDB: schema, content fingerprint, profile."""

from __future__ import annotations

import hashlib
import json

import duckdb

NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
           "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "REAL")


def quote(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    """``(name, type)`` of a table or view, in order."""
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = ? order by ordinal_position",
        [table],
    ).fetchall()
    if not rows:
        raise LookupError(f"table {table!r} does not exist")
    return [(r[0], r[1]) for r in rows]


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> tuple[str, int]:
    """Content fingerprint and row count: sha256 over the schema and the sum of row hashes.

    Row order does not matter (tables are sets); duplicate rows do (a sum, not an xor).
    """
    cols = columns(con, table)
    row_hash = "hash(" + ", ".join(quote(c) for c, _ in cols) + ")"
    rows, total = con.execute(
        f"select count(*), coalesce(sum({row_hash}::HUGEINT), 0) from {quote(table)}"
    ).fetchone()
    digest = hashlib.sha256(json.dumps([cols, rows, str(total)]).encode()).hexdigest()
    return digest, int(rows)


def profile(con: duckdb.DuckDBPyConnection, table: str) -> dict:
    """Row count and per-column nulls, distinct counts and numeric min/max, in one scan."""
    cols = columns(con, table)
    parts = ["count(*)"]
    for name, typ in cols:
        q = quote(name)
        parts += [f"count({q})", f"count(distinct {q})"]
        if typ.upper() in NUMERIC or typ.upper().startswith("DECIMAL"):
            parts += [f"min({q})::DOUBLE", f"max({q})::DOUBLE"]
    values = list(con.execute(f"select {', '.join(parts)} from {quote(table)}").fetchone())
    rows = int(values.pop(0))
    metrics = {}
    for name, typ in cols:
        non_null, distinct = values.pop(0), values.pop(0)
        m = {"nullCount": rows - int(non_null), "distinctCount": int(distinct), "count": rows}
        if typ.upper() in NUMERIC or typ.upper().startswith("DECIMAL"):
            lo, hi = values.pop(0), values.pop(0)
            if lo is not None:
                m["min"], m["max"] = float(lo), float(hi)
        metrics[name] = m
    return {"rowCount": rows, "columnMetrics": metrics}
