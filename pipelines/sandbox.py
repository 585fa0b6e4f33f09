"""Confinement of a run's DuckDB connections to the folders it may touch.

A run started through the catalog's API (``pipelines.worker``) calls :func:`confine` once with its
work folder and the data root; from then on every connection this package opens with
:func:`connect` may read and write only under those folders: DuckDB's ``allowed_directories``
with ``enable_external_access = false``, which no later statement can turn back on. Runs started
from the command line by whoever owns the files are not confined.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

# Folders (resolved, with a trailing slash) this process's connections are confined to; None
# while unconfined. One run per worker process, so a process-wide setting is the run's.
_ALLOWED: tuple[str, ...] | None = None


def confine(*folders: Path) -> None:
    """Confine every later :func:`connect` of this process to ``folders`` (and below)."""
    global _ALLOWED
    _ALLOWED = tuple(str(Path(f).resolve()).rstrip("/") + "/" for f in folders if f is not None)


def allowed() -> tuple[str, ...] | None:
    """The folders connections are confined to, or None."""
    return _ALLOWED


@contextlib.contextmanager
def confined(*folders: Path) -> Iterator[None]:
    """:func:`confine` for the duration of a block (tests)."""
    global _ALLOWED
    saved = _ALLOWED
    confine(*folders)
    try:
        yield
    finally:
        _ALLOWED = saved


def connect(database: str | Path = ":memory:", *, read_only: bool = False
            ) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, confined to the allowed folders when the process is confined.

    Spill files go to the first allowed folder (the work area); DuckDB's default, a ``.tmp``
    beside the current directory, would be outside it.
    """
    con = duckdb.connect(str(database), read_only=read_only)
    if _ALLOWED is not None:
        try:
            if str(database) == ":memory:":
                con.execute("set temp_directory = ?", [_ALLOWED[0] + ".duckdb_tmp"])
            con.execute("set allowed_directories = ?", [list(_ALLOWED)])
            con.execute("set enable_external_access = false")
        except duckdb.InvalidInputException:
            # A second connection to a database already confined by the first: its settings
            # are the database's, and cannot be changed any more.
            if con.execute("select current_setting('enable_external_access')").fetchone()[0]:
                con.close()
                raise
    return con
