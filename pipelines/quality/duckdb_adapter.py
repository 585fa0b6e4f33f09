"""The DBAPI layer under GE's SQL engine on DuckDB: cursors that keep their results.

duckdb-engine's cursor shares the DuckDB connection's single pending result, which SQLAlchemy's
ROLLBACK at connection close replaces before GE fetches it (GE issues 10738, 11579); the cursors
here read the whole result when they execute. Also: a connection tuned for GE's uniqueness
queries, and the regex dialect fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb


class BufferedCursor:
    """DBAPI cursor that reads its whole result at execute time.

    duckdb-engine's cursor shares the connection's single pending result; reading it at once
    keeps it safe from the BEGIN/ROLLBACK/queries SQLAlchemy issues before GE fetches.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._rows: list = []
        self._pos = 0
        self.description = None
        self.rowcount = -1
        self.arraysize = 1

    def execute(self, statement: str, parameters: Any = None, *args: Any) -> None:
        """Run ``statement`` and read all its rows (if any) before returning."""
        self._inner.execute(statement, parameters, *args)
        self.description = self._inner.description
        self.rowcount = self._inner.rowcount
        self._rows = self._inner.fetchall() if self.description else []
        self._pos = 0

    def executemany(self, statement: str, parameters: Any = None, *args: Any) -> None:
        """Run ``statement`` once per parameter set; it returns no rows."""
        self._inner.executemany(statement, parameters, *args)
        self.description, self._rows, self._pos = None, [], 0

    def fetchone(self) -> Any:
        """Next buffered row, or None."""
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int | None = None) -> list:
        """Up to ``size`` (default ``arraysize``) buffered rows."""
        end = self._pos + (size or self.arraysize)
        rows, self._pos = self._rows[self._pos : end], min(end, len(self._rows))
        return rows

    def fetchall(self) -> list:
        """The remaining buffered rows."""
        rows, self._pos = self._rows[self._pos :], len(self._rows)
        return rows

    def close(self) -> None:
        """Drop the buffer (duckdb-engine's cursors have nothing to close)."""
        self._rows, self._pos = [], 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class BufferedConnection:
    """duckdb-engine connection whose cursors are :class:`BufferedCursor`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def cursor(self) -> BufferedCursor:
        """A cursor that buffers its result."""
        return BufferedCursor(self._inner.cursor())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def open_for(open_duckdb: Callable[[], duckdb.DuckDBPyConnection],
              table: str) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for validating ``table``, tuned for GE's uniqueness queries.

    GE groups whole columns to find duplicates. DuckDB groups small-range integer keys with
    a plain array instead of a hash table ("perfect hashing") when the key range fits in
    ``perfect_ht_threshold`` bits, by default 12. Raising it to the bits of twice the table's
    row count lets a dense id column (an event id, a row number) use the array, 3-4x faster;
    the array is then at most ~4 entries per row, about what the hash table would have used.
    Only the plan changes, never a result. The setting is per connection: the pipeline's own
    connection keeps DuckDB's defaults.
    """
    con = open_duckdb()
    row = con.execute("select estimated_size from duckdb_tables() "
                      "where table_name = ? and schema_name = current_schema()", [table]
                      ).fetchone()
    if row and row[0]:
        bits = min(max(12, (2 * int(row[0])).bit_length()), _MAX_PERFECT_HASH_BITS)
        con.execute(f"set perfect_ht_threshold = {int(bits)}")
    return con


# 2^28 array entries per thread (~2.4 GB each) is the most a validation may ask DuckDB for.
_MAX_PERFECT_HASH_BITS = 28


def engine_kwargs(open_duckdb: Callable[[], duckdb.DuckDBPyConnection]) -> dict:
    """``create_engine`` kwargs: duckdb-engine connections with buffering cursors."""
    from duckdb_engine import ConnectionWrapper
    from sqlalchemy.pool import StaticPool

    return {
        "creator": lambda: BufferedConnection(ConnectionWrapper(open_duckdb())),
        # One DuckDB connection per validation: one view of the data, one handle to release.
        "poolclass": StaticPool,
    }


def enable_regex(execution_engine: Any) -> None:
    """Let GE compile regex expectations for DuckDB with its PostgreSQL operators.

    GE picks regex SQL by ``dialect_module``, which it leaves None for dialects it does not
    know, and then refuses. duckdb-engine's dialect is a PostgreSQL dialect, and DuckDB's ``~``
    and ``!~`` are regexp_matches (a search, like pandas' ``str.contains``), so GE's PostgreSQL
    branch is right for DuckDB; patterns must be valid RE2.
    """
    from sqlalchemy.dialects import postgresql

    if execution_engine.dialect_name == "duckdb" and execution_engine.dialect_module is None:
        execution_engine.dialect_module = postgresql


