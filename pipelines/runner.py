"""Run the feature pipeline: each SQL step in DuckDB, checked, fingerprinted and reported.

For every step, in dependency order:
1. skip it as a recorded no-op when its SQL and its inputs' fingerprints are unchanged since the
   step last built its output (the catalog still gets a run, pointing at the same version);
2. otherwise build the output table in one DuckDB transaction;
3. fingerprint and profile the output inside DuckDB, in one scan;
4. report the step as a run (inputs and outputs with schema, column lineage, metrics, version);
5. validate the output with its Great Expectations suite as a separate run, whose input carries
   the assertions; a failed critical expectation fails that run and the pipeline, and no step
   downstream of it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines import quality, report
from pipelines.steps import SOURCES, Step, load_steps
from pipelines.tables import (
    columns,
    file_fingerprint,
    fingerprint,
    fingerprint_and_profile,
    quote,
)

# Events before 2000-01-01 are out of range; the upper bound is one day after the run starts.
MIN_TS = 946_684_800
STATE_TABLE = "_pipeline_state"


class PipelineFailed(Exception):
    """A step failed or a critical expectation did not hold; the message says which and why."""


@dataclass
class StepResult:
    """What one step did."""

    output: str
    rows: int
    fingerprint: str
    noop: bool
    seconds: float
    checks: dict | None = None  # {"success": bool, "failed": [...], "evaluated": n}
    run_id: str | None = None


@dataclass
class PipelineResult:
    """What a pipeline run did, step by step."""

    run_id: str | None
    workdir: Path
    database: Path
    steps: list[StepResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict:
        """The one-line JSON summary printed by ``catalog pipeline run --json``."""
        return {
            "status": "FAIL" if self.failed else "COMPLETE",
            "run_id": self.run_id,
            "database": str(self.database),
            "outputs": {
                s.output: {"rows": s.rows, "fingerprint": s.fingerprint, "noop": s.noop,
                           "checks": s.checks}
                for s in self.steps
            },
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
        }


def connect(workdir: Path) -> duckdb.DuckDBPyConnection:
    """Open the feature database and expose the landed Parquet files as source views."""
    workdir = Path(workdir)
    con = duckdb.connect(str(workdir / "features.duckdb"))
    for source, path in source_paths(workdir).items():
        if not path.is_file():
            con.close()
            raise PipelineFailed(f"source file missing: {path}")
        con.execute(
            f"create or replace view {source} as select * from read_parquet('{path}')"
        )
    con.execute(f"set variable min_ts = {MIN_TS}")
    con.execute(f"set variable max_ts = {int(datetime.now(UTC).timestamp()) + 86_400}")
    con.execute(
        f"create table if not exists {STATE_TABLE} (output varchar primary key, "
        "state_key varchar, fingerprint varchar, updated_at timestamp)"
    )
    return con


def source_paths(workdir: Path) -> dict[str, Path]:
    """Landed source files by the view name steps read them as."""
    raw = Path(workdir) / "raw"
    return {"raw_events": raw / "events.parquet", "raw_items": raw / "items.parquet"}


def _state_key(step: Step, input_fps: dict[str, str]) -> str:
    # The suite is part of the step: a changed suite must validate again, not no-op.
    suite = step.suite_path.read_text() if step.suite_path else ""
    canon = json.dumps([step.sql_hash, hashlib.sha256(suite.encode()).hexdigest(),
                        sorted(input_fps.items())])
    return hashlib.sha256(canon.encode()).hexdigest()


def _previous(con, output: str) -> tuple[str, str] | None:
    row = con.execute(
        f"select state_key, fingerprint from {STATE_TABLE} where output = ?", [output]
    ).fetchone()
    return (row[0], row[1]) if row else None


def _build(con, step: Step) -> None:
    """Replace the output table in one transaction: readers never see a half-built table."""
    con.execute("begin transaction")
    try:
        con.execute(f"create or replace table {quote(step.output)} as {step.sql}")
        con.execute("commit")
    except duckdb.Error as exc:
        con.execute("rollback")
        raise PipelineFailed(f"step {step.name} failed in DuckDB: {exc}") from None


def run_pipeline(
    workdir: Path,
    *,
    reporter: report.Reporter | None = None,
    steps: list[Step] | None = None,
    validate: bool = True,
    progress: Callable[[str, str], None] | None = None,
    parent=None,
    run_id: str | None = None,
    source_fps: dict[str, str] | None = None,
) -> PipelineResult:
    """Run every step over ``workdir``; report to the catalog when ``reporter`` is given.

    Steps report as children of ``parent`` (an open pipeline run) or, without one, of a new
    pipeline run (with id ``run_id`` if given). ``source_fps`` are the sources' fingerprints
    when the caller has just computed them.
    """
    started = time.perf_counter()
    workdir = Path(workdir).resolve()
    steps = steps if steps is not None else load_steps()
    con = connect(workdir)
    if validate and any(s.suite_path for s in steps):
        quality.warm_up()  # GE's import (seconds of Python) runs while the first steps build
    result = PipelineResult(None, workdir, workdir / "features.duckdb")
    fps: dict[str, str] = {}
    blocked: set[str] = set()
    try:
        paths = source_paths(workdir)
        for source in SOURCES:
            # Landing just fingerprinted the sources; hashing them again would be wasted work.
            known = (source_fps or {}).get(source)
            fps[source] = known if known is not None else file_fingerprint(paths[source])
        with _parent(reporter, parent, run_id) as parent:
            result.run_id = parent.run_id if parent else None
            for step in steps:
                if blocked & set(step.inputs):
                    result.skipped.append(step.output)
                    blocked.add(step.output)
                    continue
                if progress:
                    progress(step.name, "running")
                outcome = _run_step(con, step, fps, reporter, parent, validate)
                result.steps.append(outcome)
                fps[step.output] = outcome.fingerprint
                if outcome.checks and not outcome.checks["success"]:
                    blocked.add(step.output)
                    result.failed = (
                        f"{step.output}: critical expectations failed: "
                        + ", ".join(outcome.checks["critical_failed"])
                    )
                if progress:
                    progress(step.name, "noop" if outcome.noop else "done")
            if result.failed:
                error = PipelineFailed(result.failed)
                error.result = result  # the CLI still prints the summary of what ran
                raise error
    finally:
        con.close()
        result.seconds = time.perf_counter() - started
    return result


@contextlib.contextmanager
def _parent(reporter, parent, run_id):
    if parent is not None:
        yield parent
    else:
        with report.pipeline_run(reporter, run_id) as opened:
            yield opened


def _run_step(con, step, fps, reporter, parent, validate) -> StepResult:
    t0 = time.perf_counter()
    input_fps = {i: fps[i] for i in step.inputs}
    key = _state_key(step, input_fps)
    previous = _previous(con, step.output)
    exists = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [step.output]
    ).fetchone()[0]
    noop = False
    if previous and previous[0] == key and exists:
        fp, rows = fingerprint(con, step.output)
        noop = fp == previous[1]
    with report.step_run(reporter, parent, step, con, input_fps) as step_report:
        stats = None
        if not noop:
            _build(con, step)
            fp, rows, stats = fingerprint_and_profile(con, step.output)
        if step_report is not None:
            step_report.finish(con, fp, rows, stats, noop)
    con.execute(
        f"insert or replace into {STATE_TABLE} values (?, ?, ?, now())", [step.output, key, fp]
    )
    checks = None
    if validate and step.suite_path is not None and not noop:
        checks = report.validate_step(reporter, parent, step, con, fp)
        if not checks["success"]:
            # Forget the build so an unchanged re-run validates again instead of a no-op.
            con.execute(f"delete from {STATE_TABLE} where output = ?", [step.output])
    return StepResult(step.output, rows, fp, noop, time.perf_counter() - t0, checks,
                      step_report.run_id if step_report else None)


def table_columns(con, table: str) -> list[str]:
    """Column names of a table (used to expand ``select *`` in column lineage)."""
    return [c for c, _ in columns(con, table)]
