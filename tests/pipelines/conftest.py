"""Fixtures shared by the pipeline tests."""

from __future__ import annotations

import pytest

from pipelines.quality import duckdb_adapter


@pytest.fixture
def sql_log(monkeypatch) -> list[str]:
    """Every statement GE's DuckDB cursors execute during the test, whitespace collapsed."""
    log: list[str] = []
    execute = duckdb_adapter.BufferedCursor.execute

    def logged(self, statement, *args):
        log.append(" ".join(statement.split()))
        return execute(self, statement, *args)

    monkeypatch.setattr(duckdb_adapter.BufferedCursor, "execute", logged)
    return log
