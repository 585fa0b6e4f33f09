"""What the runner asks of an engine, whichever runs the steps: DuckDB on one host, Spark past it.

One step, one SQL source (``pipelines/steps/*.sql``, DuckDB's dialect; ``pipelines.dialect``
writes it for Spark), and the catalog record must not depend on the engine: both engines name
column types as DuckDB does, fingerprint as ``pipelines.fingerprint`` defines, profile with the
same aggregates, and validate with Great Expectations (its SQL engine inside DuckDB, its Spark
engine on Spark). Only where the data lives (the ``dataSource`` facet) and the run's
``processing_engine`` facet say which engine ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pipelines.steps import Step

ENGINES = ("duckdb", "spark")
# Events before 2000-01-01 are out of range; the upper bound is one day after the run starts.
MIN_TS = 946_684_800


class PipelineFailed(Exception):
    """A step failed or a critical expectation did not hold; the message says which and why."""


class EngineUnavailable(PipelineFailed):
    """The engine could not start (a Spark master that does not answer); nothing was built."""


def source_paths(workdir: Path) -> dict[str, Path]:
    """Landed source files by the view name steps read them as."""
    raw = Path(workdir) / "raw"
    return {"raw_events": raw / "events.parquet", "raw_items": raw / "items.parquet"}


def variables() -> dict[str, int]:
    """The values steps read with ``getvariable(name)``: the accepted range of event times."""
    return {"min_ts": MIN_TS, "max_ts": int(datetime.now(UTC).timestamp()) + 86_400}


@dataclass
class SparkOptions:
    """Where and how a Spark run runs: ``master`` (``local[N]``, ``spark://HOST:PORT``), extra
    settings, or a session to use as it is (tests share one); it is never stopped by a run."""

    master: str = "local[*]"
    conf: dict[str, str] = field(default_factory=dict)
    session: Any = None


class Engine(Protocol):
    """The operations the runner and the reporter use; one object per thread (:meth:`cursor`)."""

    name: str  # "duckdb" or "spark": the processing_engine facet
    version: str
    workdir: Path
    location: Path  # where outputs live: features.duckdb, or the Spark warehouse folder

    def cursor(self) -> Engine:
        """A handle on the same tables for another thread."""

    def close(self) -> None:
        """Release what this handle holds."""

    def columns(self, table: str) -> list[tuple[str, str]]:
        """``(name, type)`` in order, types as DuckDB names them; LookupError if missing."""

    def count(self, table: str) -> int:
        """Rows of a table."""

    def exists(self, table: str) -> bool:
        """Whether an output was built (and committed) in this work folder."""

    def build(self, step: Step) -> None:
        """Build the step's output, uncommitted: :meth:`commit` or :meth:`discard` follows.
        Raises PipelineFailed naming the step when the engine refuses or fails it."""

    def commit(self) -> None:
        """Make the pending build the output's current content."""

    def discard(self) -> None:
        """Drop the pending build; the previous content stays."""

    def fingerprint(self, table: str) -> tuple[str, int]:
        """Content fingerprint and row count."""

    def fingerprint_and_profile(self, table: str) -> tuple[str, int, dict]:
        """Fingerprint, row count and profile from one scan."""

    def previous(self, output: str) -> tuple[str, str] | None:
        """``(state_key, fingerprint)`` the output was last built with, if any."""

    def remember(self, output: str, state_key: str, fingerprint: str) -> None:
        """Record what the output was built from (the no-op check of the next run)."""

    def forget(self, output: str) -> None:
        """Drop the record, so that the next run rebuilds and validates the output."""

    def validate(self, table: str, suite: dict) -> Any:
        """Run an expectation suite on a table; a ``pipelines.quality.SuiteResult``."""

    def dataset_uri(self, table: str) -> str:
        """Where a table lives: the dataSource facet."""


def raw_uri(workdir: Path, table: str) -> str | None:
    """The landed file a source table reads, as a URI; None for other tables."""
    path = source_paths(workdir).get(table)
    return f"file://{path}" if path is not None else None


def open_engine(workdir: Path, engine: str = "duckdb", spark: SparkOptions | None = None
                ) -> Engine:
    """The engine a run of ``workdir`` uses, its sources exposed as tables."""
    if engine == "duckdb":
        from pipelines.duckdb_engine import DuckDBEngine

        return DuckDBEngine.open(workdir)
    if engine == "spark":
        from pipelines.spark_engine import SparkEngine

        return SparkEngine.open(workdir, spark or SparkOptions())
    raise ValueError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
