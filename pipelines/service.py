"""Land a source and run the pipeline: what the CLI and the catalog's background worker call."""

from __future__ import annotations

from pathlib import Path

from pipelines import report
from pipelines.duckdb_engine import DuckDBEngine
from pipelines.engine import SparkOptions, source_paths
from pipelines.runner import PipelineResult, run_pipeline
from pipelines.steps import SOURCES as SOURCE_TABLES
from pipelines.tables import file_fingerprint


def land_source(workdir: Path, source: str, *, input_path=None, attributes=None,
                events=200_000, seed=7) -> dict:
    """Write the source's raw Parquet files into ``workdir/raw``; return counts."""
    from pipelines.sources.real import read_amazon, read_taobao
    from pipelines.sources.synthetic import SyntheticConfig, generate

    if source == "synthetic":
        return generate(workdir, SyntheticConfig(events=events, seed=seed))
    if source == "taobao":
        return read_taobao(input_path, workdir)
    if source == "amazon":
        return read_amazon(input_path, attributes, workdir)
    raise ValueError(f"unknown source {source!r}")


def land_and_run(workdir: Path, source: str, *, reporter=None, input_path=None, attributes=None,
                 events=200_000, seed=7, progress=None, run_id: str | None = None,
                 land: bool = True, engine: str = "duckdb",
                 spark: SparkOptions | None = None) -> PipelineResult:
    """Land ``source``, then run every step over it, all under one pipeline run (id ``run_id``).

    Landing is a child run of the pipeline run; a landing failure fails the pipeline run.
    Landing writes Parquet files whichever ``engine`` (``duckdb``, ``spark``) runs the steps.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    inputs = [str(Path(p).resolve()) for p in (input_path, attributes) if p is not None]
    source_fps = None
    with report.pipeline_run(reporter, run_id, engine=_engine_facet(engine)) as parent:
        if land:
            if progress:
                progress(f"land_{source}", "running")
            with report.landing_run(reporter, source, inputs, parent) as declare:
                land_source(workdir, source, input_path=input_path, attributes=attributes,
                            events=events, seed=seed)
                # The landed files described as DuckDB reads them (Spark reads the same types).
                described = DuckDBEngine.open(workdir, sources_only=True)
                try:
                    paths = source_paths(workdir)
                    source_fps = {t: file_fingerprint(paths[t]) for t in SOURCE_TABLES}
                    declare(described, source_fps)
                finally:
                    described.close()
            if progress:
                progress(f"land_{source}", "done")
        result = run_pipeline(workdir, reporter=reporter, progress=progress, parent=parent,
                              source_fps=source_fps, engine=engine, spark=spark)
        result.run_id = parent.run_id if parent else None
        return result


def _engine_facet(engine: str) -> tuple[str, str]:
    """(name, version) of the engine for the pipeline run's processing_engine facet."""
    if engine == "spark":
        from pipelines.spark_session import spark_version

        return "spark", spark_version()
    import duckdb

    return "duckdb", duckdb.__version__
