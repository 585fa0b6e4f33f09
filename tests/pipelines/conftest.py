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


# One Spark session for the whole test session (a JVM takes ~10 s to start): two local
# threads, two shuffle partitions, no UI; every test's tables are temporary views of it.
SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark():
    """A local SparkSession with the settings the pipeline requires."""
    from pipelines.spark_session import session

    s, _ = session("local[2]", SPARK_TEST_CONF, app_name="recocatalog-tests")
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()
