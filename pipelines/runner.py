"""Run the feature pipeline: each SQL step on an engine, checked, fingerprinted and reported.

The engine is DuckDB (``features.duckdb``) or Spark (Parquet in a warehouse folder): the same
SQL steps, the same catalog record (``pipelines.engine``). For every step, in dependency order,
this thread:
1. skips it as a recorded no-op when its SQL and its inputs' fingerprints are unchanged since the
   step last built its output (the catalog still gets a run, pointing at the same version);
2. otherwise builds the output uncommitted (a DuckDB transaction, a Spark staging folder) and
   commits it only once the step's inputs have passed their checks (discarded, and the run
   ended ABORT, if one failed);

and a second thread, in the same order and while the next steps build (:class:`_Governance`):
3. fingerprints and profiles the output inside the engine, in one scan;
4. reports the step as a run (inputs and outputs with schema, column lineage, metrics, version);
5. validates the output with its Great Expectations suite as a separate run, whose input carries
   the assertions; a failed critical expectation fails that run and the pipeline, and no step
   downstream of it is committed or started.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from catalog.client import RunAborted
from pipelines import quality, report
from pipelines.duckdb_engine import STATE_TABLE, connect  # noqa: F401  (the runner's API)
from pipelines.engine import (  # noqa: F401  (MIN_TS, source_paths: the runner's API)
    MIN_TS,
    Engine,
    PipelineFailed,
    SparkOptions,
    open_engine,
    source_paths,
)
from pipelines.steps import SOURCES, Step, load_steps
from pipelines.tables import file_fingerprint


class ChecksFailed(PipelineFailed):
    """A critical expectation did not hold; ``result`` is what the run did up to there."""

    def __init__(self, message: str, result: PipelineResult):
        super().__init__(message)
        self.result = result


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
    database: Path  # features.duckdb, or the Spark warehouse folder
    steps: list[StepResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None
    seconds: float = 0.0
    engine: str = "duckdb"

    def summary(self) -> dict:
        """The one-line JSON summary printed by ``catalog pipeline run --json``."""
        return {
            "status": "FAIL" if self.failed else "COMPLETE",
            "run_id": self.run_id,
            "engine": self.engine,
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


def _state_key(step: Step, input_fps: dict[str, str]) -> str:
    # The suite is part of the step: a changed suite must validate again, not no-op.
    suite = step.suite_path.read_text() if step.suite_path else ""
    canon = json.dumps([step.sql_hash, hashlib.sha256(suite.encode()).hexdigest(),
                        sorted(input_fps.items())])
    return hashlib.sha256(canon.encode()).hexdigest()


def _build(engine: Engine, step: Step) -> None:
    """Build the output uncommitted: :func:`_commit` or :func:`_discard` follows.

    Readers never see a half-built table, and a build whose inputs then fail their checks is
    discarded, leaving the previous version of the table as it was.
    """
    engine.build(step)


def _commit(engine: Engine) -> None:
    engine.commit()


def _discard(engine: Engine) -> None:
    engine.discard()


class InputRejected(RunAborted):
    """A step's input failed its critical expectations while the step was building (ABORT)."""


@dataclass
class _Built:
    """What the building thread hands to the governance thread for one step."""

    step: Step
    stack: contextlib.ExitStack  # holds the step's catalog run open (START sent)
    step_report: report.StepReport | None
    started: float
    noop: bool = False
    fp: str | None = None
    rows: int = 0


class _Governance:
    """Fingerprints, profiles, reports and validates built steps: one thread, in build order.

    It works on its own engine handle while the building thread goes on with the next steps, so
    the checks of step N run while the engine builds step N+1 (Python, GE's included, on one
    core while the builds use the others, and the check queries between them). The order of
    its work is the order of the builds, so each step's inputs are governed before it is.
    """

    def __init__(self, engine: Engine, reporter, parent, validate: bool, fps: dict[str, str],
                 progress):
        self.engine = engine.cursor()
        self.reporter, self.parent, self.validate, self.progress = (
            reporter, parent, validate, progress)
        self.fps = dict(fps)
        self.futures: dict[str, Future] = {}
        self._failed: BaseException | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-checks")

    def submit(self, built: _Built) -> None:
        self.futures[built.step.output] = self._pool.submit(self._govern, built)

    def result(self, output: str) -> StepResult | None:
        """The governed result of ``output`` built in this run (waits for it); None otherwise.

        Raises what governing it raised (a catalog error, GE unable to evaluate a suite).
        """
        future = self.futures.get(output)
        return None if future is None else future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.engine.close()

    def _govern(self, built: _Built) -> StepResult:
        step, engine = built.step, self.engine
        with built.stack:
            if self._failed is not None:
                raise PipelineFailed(f"not completed: {self._failed}")
            try:
                input_fps = {i: self.fps[i] for i in step.inputs}
                stats = None
                fp, rows = built.fp, built.rows
                if not built.noop:
                    fp, rows, stats = engine.fingerprint_and_profile(step.output)
                if built.step_report is not None:
                    built.step_report.finish(engine, fp, rows, stats, built.noop, input_fps)
            except BaseException as exc:
                self._failed = self._failed or exc
                raise
        try:
            engine.remember(step.output, _state_key(step, input_fps), fp)
            self.fps[step.output] = fp
            checks = None
            if self.validate and step.suite_path is not None and not built.noop:
                checks = report.validate_step(self.reporter, self.parent, step, engine, fp)
                if not checks["success"]:
                    # Forget the build so an unchanged re-run validates again, not a no-op.
                    engine.forget(step.output)
        except BaseException as exc:
            self._failed = self._failed or exc
            raise
        if self.progress:
            self.progress(step.name, "noop" if built.noop else "done")
        return StepResult(step.output, rows, fp, built.noop, time.perf_counter() - built.started,
                          checks, built.step_report.run_id if built.step_report else None)


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
    engine: str = "duckdb",
    spark: SparkOptions | None = None,
) -> PipelineResult:
    """Run every step over ``workdir``; report to the catalog when ``reporter`` is given.

    Steps report as children of ``parent`` (an open pipeline run) or, without one, of a new
    pipeline run (with id ``run_id`` if given). ``source_fps`` are the sources' fingerprints
    when the caller has just computed them. ``engine`` is ``duckdb`` or ``spark`` (then
    ``spark`` says where).

    This thread builds the steps in order; a second one checks them (:class:`_Governance`).
    A step whose output is rebuilt anyway (no state from an earlier run, or no table) builds
    while its inputs are still being checked, and commits only once they passed: if one
    failed, the build is rolled back and its run ends ABORT, naming the input. A step that
    may be a no-op waits for its inputs' fingerprints first.
    """
    started = time.perf_counter()
    workdir = Path(workdir).resolve()
    steps = steps if steps is not None else load_steps()
    if validate and any(s.suite_path for s in steps):
        quality.warm_up()  # GE's import (seconds of Python) runs while the first steps build
    handle = open_engine(workdir, engine, spark)
    result = PipelineResult(None, workdir, handle.location, engine=handle.name)
    try:
        paths = source_paths(workdir)
        fps: dict[str, str] = {}
        for source in SOURCES:
            # Landing just fingerprinted the sources; hashing them again would be wasted work.
            known = (source_fps or {}).get(source)
            fps[source] = known if known is not None else file_fingerprint(paths[source])
        with _parent(reporter, parent, run_id, handle) as parent:
            result.run_id = parent.run_id if parent else None
            governance = _Governance(handle, reporter, parent, validate, fps, progress)
            try:
                _build_all(handle, steps, fps, governance, reporter, parent, progress, result)
            finally:
                governance.close()
            if result.failed:
                raise ChecksFailed(result.failed, result)  # the CLI prints what ran
    finally:
        handle.close()
        result.seconds = time.perf_counter() - started
    return result


def _build_all(engine: Engine, steps, fps, governance, reporter, parent, progress, result) -> None:
    blocked: set[str] = set()
    built: list[str] = []

    def verdict(output: str) -> bool:
        """Whether ``output`` may be built on (waits for its checks)."""
        if output in blocked:
            return False
        done = governance.result(output)
        if done is not None and done.checks and not done.checks["success"]:
            blocked.add(output)
            result.failed = (f"{output}: critical expectations failed: "
                             + ", ".join(done.checks["critical_failed"]))
            return False
        return True

    def skip(step: Step) -> None:
        result.skipped.append(step.output)
        blocked.add(step.output)
        if progress:
            progress(step.name, "skipped")

    for step in steps:
        for i in step.inputs:  # verdicts already in: a failed input skips the step unbuilt
            future = governance.futures.get(i)
            if future is not None and future.done():
                verdict(i)
        if blocked & set(step.inputs):
            skip(step)
            continue
        t0 = time.perf_counter()
        previous = engine.previous(step.output)
        exists = engine.exists(step.output)
        noop = False
        fp = rows = None
        if previous and exists:
            # It may be a no-op: that needs the inputs' fingerprints, i.e. their checks first.
            if not all([verdict(i) for i in step.inputs]):
                skip(step)
                continue
            input_fps = {i: _fp_of(i, fps, governance) for i in step.inputs}
            if previous[0] == _state_key(step, input_fps):
                fp, rows = engine.fingerprint(step.output)
                noop = fp == previous[1]
        if progress:
            progress(step.name, "running")
        known = {i: f for i in step.inputs if (f := _fp_known(i, fps, governance)) is not None}
        stack = contextlib.ExitStack()
        step_report = stack.enter_context(report.step_run(reporter, parent, step, engine, known))
        in_transaction = False
        try:
            if not noop:
                _build(engine, step)
                in_transaction = True
                rejected = [i for i in step.inputs if not verdict(i)]
                in_transaction = False
                if rejected:
                    _discard(engine)
                    raise InputRejected(
                        f"not completed: input {', '.join(rejected)} failed its critical "
                        "expectations; the output built on it was discarded")
                _commit(engine)
        except InputRejected as exc:
            with contextlib.suppress(InputRejected):
                stack.__exit__(InputRejected, exc, exc.__traceback__)  # ABORT
            skip(step)
            continue
        except BaseException as exc:
            # The step's run ends FAIL (ABORT if interrupted); the checks of the steps before
            # it still finish and report (run_pipeline waits for them) before the pipeline fails.
            if in_transaction:
                with contextlib.suppress(Exception):
                    _discard(engine)
            stack.__exit__(type(exc), exc, exc.__traceback__)
            raise
        item = _Built(step, stack, step_report, t0, noop, fp, rows or 0)
        governance.submit(item)
        built.append(step.output)
    for output in built:
        verdict(output)  # waits for every check; raises what governing raised
    result.steps = [governance.result(o) for o in built]


def _fp_known(table: str, fps: dict[str, str], governance: _Governance) -> str | None:
    """``table``'s fingerprint if known now (a source, or a step already governed)."""
    if table in fps:
        return fps[table]
    future = governance.futures.get(table)
    if future is not None and future.done() and future.exception() is None:
        return future.result().fingerprint
    return None


def _fp_of(table: str, fps: dict[str, str], governance: _Governance) -> str:
    done = governance.result(table)
    if done is not None:
        return done.fingerprint
    if table in fps:
        return fps[table]
    raise PipelineFailed(f"input {table} has not been built in this workdir")


@contextlib.contextmanager
def _parent(reporter, parent, run_id, engine: Engine):
    if parent is not None:
        yield parent
    else:
        with report.pipeline_run(reporter, run_id, engine=(engine.name, engine.version)
                                 ) as opened:
            yield opened
