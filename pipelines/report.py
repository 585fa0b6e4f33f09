"""Reporting pipeline runs to the catalog through ``catalog.client`` (as any outside pipeline)."""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future
from dataclasses import dataclass, field

import duckdb

from catalog import client as cc
from catalog import facets as cf
from pipelines.emitter import Emitter, background
from pipelines.steps import Step

log = logging.getLogger(__name__)
PIPELINE_JOB = "feature_pipeline"
# Kind of each output in the catalog; the rest are plain tables.
KINDS = {"user_features": "feature_table", "item_features": "feature_table",
         "interactions_split": "feature_table", "feature_selection": "feature_table"}
REPO_URL = "https://github.com/recocatalog/recocatalog/blob/main/pipelines/steps/"


# Schema of the custom job facets below: what a catalog needs to list a pipeline and its steps.
DEFINITION_SCHEMA = REPO_URL + "../README.md#pipeline-definitions"


def definition(reporter: Reporter, steps: list[Step]) -> list[tuple]:
    """The pipeline and each step as job definitions: SQL, declared inputs and output, grain,
    purpose and suite, in the order the runner builds them."""
    pipeline_facets = {
        "jobType": cf.job_type("BATCH", "DUCKDB", "PIPELINE"),
        "documentation": cf.job_documentation(
            "Cleans behaviour events, integrates item attributes and builds the user and item "
            "feature tables and splits the ranker trains on."),
        "pipelineDefinition": cf.custom_facet(
            DEFINITION_SCHEMA, steps=[s.name for s in steps], datasetNamespace=reporter.namespace),
    }
    jobs = [(reporter.job_namespace, reporter.pipeline, pipeline_facets, [], [])]
    for position, s in enumerate(steps):
        facets = {
            "sql": cf.sql(s.sql, "duckdb"),
            "jobType": cf.job_type("BATCH", "DUCKDB", "QUERY"),
            "documentation": cf.job_documentation(f"{s.purpose} Grain: {s.grain}."),
            "sourceCodeLocation": cf.source_code_location(REPO_URL + s.path.name),
            "pipelineStep": cf.custom_facet(
                DEFINITION_SCHEMA, pipeline=reporter.pipeline, position=position,
                inputs=list(s.inputs), output=s.output, grain=s.grain, purpose=s.purpose,
                suite=s.suite_path.name if s.suite_path else None),
        }
        jobs.append((reporter.job_namespace, f"{reporter.pipeline}.{s.name}", facets,
                     [(reporter.namespace, i) for i in s.inputs],
                     [(reporter.namespace, s.output)]))
    return jobs


def register(reporter: Reporter, steps: list[Step] | None = None) -> int:
    """Register the pipeline's definition in the catalog (idempotent); the number of jobs.

    The catalog lists pipelines and starts runs of them only from what was registered here: it
    never reads this package.
    """
    from pipelines.steps import load_steps

    jobs = definition(reporter, steps if steps is not None else load_steps())
    reporter.client.define_jobs(jobs)
    return len(jobs)


class QualityGateFailed(Exception):
    """A critical expectation failed on a step's output."""


@dataclass
class Reporter:
    """Where and under which names a pipeline reports itself."""

    client: cc.CatalogClient
    namespace: str = "recsys"  # namespace of the datasets
    job_namespace: str = "recsys-pipelines"  # namespace of the jobs
    pipeline: str = PIPELINE_JOB
    source: str = "synthetic"
    # Set while a pipeline run is open: its events go out from a worker thread (emitter.py).
    emitter: Emitter | None = field(default=None, init=False, repr=False, compare=False)

    def run(self, job_name: str, **kwargs) -> cc.RunReporter:
        """A run of ``job_name`` in the job namespace, sent through the emitter if there is one."""
        return cc.RunReporter(self.emitter or self.client, self.job_namespace, job_name, **kwargs)


def _dataset_source(engine, table: str) -> dict:
    """dataSource facet: where the engine holds ``table`` (a landed file, features.duckdb, a
    Spark warehouse folder): the one thing of a dataset's record that names the engine."""
    uri = engine.dataset_uri(table)
    return {"dataSource": cf.datasource(uri, uri)}


def _schema_facets(engine, table: str) -> dict:
    return {"schema": cf.schema(engine.columns(table))}


@contextlib.contextmanager
def pipeline_run(reporter: Reporter | None, run_id: str | None = None,
                 engine: tuple[str, str] = ("duckdb", duckdb.__version__)):
    """The parent run of the landing and every step (or nothing without a reporter).

    Its children carry the lineage; the parent's state is the pipeline's: FAIL when any step or
    critical check failed, or when the catalog did not store one of the run's events. Events go
    out from a worker thread while the pipeline goes on (see ``pipelines.emitter``); the parent
    waits for all of them before its own end, which it sends last. ``engine`` (name, version)
    is the run's processing_engine facet.
    """
    if reporter is None:
        yield None
        return
    if reporter.emitter is not None:  # nested in another pipeline run: its emitter serves both
        with _parent_run(reporter, run_id, engine) as parent:
            yield parent
        return
    with background(reporter.client) as reporter.emitter:
        try:
            with _parent_run(reporter, run_id, engine) as parent:
                # One round trip before any work: a catalog that is down or refuses the run
                # fails it now, as when every event was sent in line, not after the last step.
                reporter.emitter.check()
                yield parent
                reporter.emitter.check()  # a refused event fails the pipeline run
        finally:
            reporter.emitter = None


@contextlib.contextmanager
def _parent_run(reporter: Reporter, run_id: str | None, engine: tuple[str, str]):
    # The job's facets are the same whichever engine runs it (its definition is the SQL in
    # DuckDB's dialect); the run's processing_engine says which one did.
    job_facets = {
        "jobType": cf.job_type("BATCH", "DUCKDB", "PIPELINE"),
        "documentation": cf.job_documentation(
            "Cleans behaviour events, integrates item attributes and builds the user and item "
            f"feature tables and splits the ranker trains on (source: {reporter.source})."),
    }
    run_facets = {"processing_engine": cf.processing_engine(engine[0], engine[1])}
    with reporter.run(reporter.pipeline, job_facets=job_facets, run_facets=run_facets,
                      run_id=run_id) as parent:
        yield parent


class StepReport:
    """The catalog run of one step; :meth:`finish` adds the output before COMPLETE is sent."""

    def __init__(self, reporter: Reporter, run: cc.RunReporter, step: Step, lineage: Future):
        self.reporter, self.run, self.step = reporter, run, step
        self.run_id = run.run_id
        self.lineage = lineage  # the columnLineage facet (or None), derived while the step builds

    def finish(self, engine, fp: str, rows: int, stats: dict | None, noop: bool,
               input_fps: dict[str, str] | None = None) -> None:
        """Declare the output with schema, version, lineage and metrics.

        ``input_fps`` are the versions of every input; those the START did not name (their
        fingerprints were not known when the step began) are declared now, with COMPLETE.
        """
        r, step = self.reporter, self.step
        for t, in_fp in sorted((input_fps or {}).items()):
            if (r.namespace, t) not in self.run.inputs:
                self.run.add_input(r.namespace, t, facets=_input_facets(engine, t, in_fp))
        facets = {
            **_schema_facets(engine, step.output),
            **_dataset_source(engine, step.output),
            "version": cf.dataset_version(fp),
            "datasetType": cf.dataset_type(KINDS.get(step.output, "table")),
            "documentation": cf.dataset_documentation(f"{step.purpose} Grain: {step.grain}."),
            "outputStatistics": cf.output_statistics(rows),
        }
        lineage = self.lineage.result()
        if lineage:
            facets["columnLineage"] = lineage
        if stats is not None:
            metrics = cf.data_quality_metrics(stats["rowCount"], stats["columnMetrics"])
            if "distinctCountMethod" in stats:
                # Beyond the facet's spec: whether distinctCount is exact or an estimate.
                metrics = metrics.with_additional_properties(
                    distinctCountMethod=stats["distinctCountMethod"])
            facets["dataQualityMetrics"] = metrics
        if noop:
            self.run.add_run_facets(pipelineStep=cf.custom_facet(
                noop=True, reason="SQL and input fingerprints unchanged; output not rebuilt"))
        self.run.add_output(r.namespace, step.output, facets=facets)


def _column_lineage(step: Step, schemas: dict[str, list[str]], namespace: str):
    """columnLineage facet derived from the step's SQL, or None if it cannot be derived."""
    from pipelines.column_lineage import column_lineage, to_openlineage_facet_fields

    try:
        lineage = column_lineage(step.sql, schemas)
    except ValueError as exc:
        # SQL the lineage walker cannot trace still runs; the run notes why lineage is missing.
        log.warning("no column lineage for %s: %s", step.name, exc)
        return None
    fields = to_openlineage_facet_fields(lineage, namespace, {t: t for t in step.inputs})
    return cf.column_lineage_from_fields(fields) if fields else None


@contextlib.contextmanager
def step_run(reporter: Reporter | None, parent, step: Step, engine,
             input_fps: dict[str, str]):
    """The catalog run of one step (or nothing without a reporter)."""
    if reporter is None:
        yield None
        return
    # Inputs whose versions are not known yet (still being fingerprinted) are declared with
    # COMPLETE (StepReport.finish): a START naming them would bind the run to their old version.
    inputs = [cc.InputDataset(reporter.namespace, t, facets=_input_facets(engine, t, fp))
              for t, fp in sorted(input_fps.items())]
    job_facets = {
        "sql": cf.sql(step.sql, "duckdb"),
        "jobType": cf.job_type("BATCH", "DUCKDB", "QUERY"),
        "documentation": cf.job_documentation(f"{step.purpose} Grain: {step.grain}."),
        "sourceCodeLocation": cf.source_code_location(REPO_URL + step.path.name),
    }
    # Column lineage needs only the SQL and the inputs' columns: parsed on the emitter's thread
    # while DuckDB builds the output (at once when there is no emitter).
    schemas = {t: [c for c, _ in engine.columns(t)] for t in step.inputs}
    if reporter.emitter is not None:
        lineage = reporter.emitter.submit(_column_lineage, step, schemas, reporter.namespace)
    else:
        lineage = Future()
        lineage.set_result(_column_lineage(step, schemas, reporter.namespace))
    with reporter.run(f"{reporter.pipeline}.{step.name}", inputs=inputs, job_facets=job_facets,
                      parent=parent) as run:
        yield StepReport(reporter, run, step, lineage)


def _input_facets(engine, table: str, fp: str) -> dict:
    return {**_schema_facets(engine, table), "version": cf.dataset_version(fp),
            **_dataset_source(engine, table)}


def validate_step(reporter: Reporter | None, parent, step: Step, engine, fp: str) -> dict:
    """Run the step's expectation suite inside the engine; report it as its own run."""
    from pipelines.quality import load_suite, to_openlineage_assertions

    suite = load_suite(step.suite_path)
    result = engine.validate(step.output, suite)
    checks = {
        "success": not result.critical_failures,
        "evaluated": len(result.outcomes),
        "failed": sorted(o.expectation_type + (f"({o.column})" if o.column else "")
                         for o in result.outcomes if not o.success),
        "critical_failed": sorted(o.expectation_type + (f"({o.column})" if o.column else "")
                                  for o in result.critical_failures),
    }
    if reporter is None:
        return checks
    assertions = cf.data_quality_assertions(to_openlineage_assertions(result))
    job_facets = {"jobType": cf.job_type("BATCH", "GREAT_EXPECTATIONS", "VALIDATION"),
                  "documentation": cf.job_documentation(
                      f"Expectation suite {suite.get('name', step.output)} on {step.output}.")}
    with contextlib.suppress(QualityGateFailed):  # reported as FAIL; the runner stops downstream
        with reporter.run(f"{reporter.pipeline}.{step.name}.validate", job_facets=job_facets,
                          parent=parent) as run:
            run.add_input(reporter.namespace, step.output,
                          facets={"version": cf.dataset_version(fp)},
                          input_facets={"dataQualityAssertions": assertions})
            if not checks["success"]:
                raise QualityGateFailed(
                    f"{step.output}: critical expectations failed: "
                    + ", ".join(checks["critical_failed"]))
    return checks



@contextlib.contextmanager
def landing_run(reporter: Reporter | None, source: str, inputs: list[str], parent=None):
    """The run that lands a source as raw Parquet; yields a callback declaring its outputs."""
    if reporter is None:
        yield lambda engine, fps: None
        return
    job_facets = {
        "jobType": cf.job_type("BATCH", "PYTHON", "INGEST"),
        "documentation": cf.job_documentation(
            f"Lands the {source} source as raw Parquet files (events and items)."),
    }
    ins = [cc.InputDataset("file", path) for path in inputs]
    with reporter.run(f"land_{source}", inputs=ins, job_facets=job_facets,
                      parent=parent) as run:

        def declare(engine, fps: dict[str, str]) -> None:
            for table, fp in sorted(fps.items()):
                n = engine.count(table)
                run.add_output(reporter.namespace, table, facets={
                    **_schema_facets(engine, table), **_dataset_source(engine, table),
                    "version": cf.dataset_version(fp), "outputStatistics": cf.output_statistics(n),
                    "datasetType": cf.dataset_type("file"),
                })

        yield declare
