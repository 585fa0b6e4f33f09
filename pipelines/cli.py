"""``catalog pipeline``: land a source and build the feature tables, reporting every step."""

from __future__ import annotations

import re
from pathlib import Path

import click

from catalog.client_options import (
    CATALOG_URL_OPTION,
    JSON_OPTION,
    PROGRESS_OPTION,
    TOKEN_OPTION,
    CommandFailed,
    ExitCode,
    echo_json,
    progress,
)

SOURCES = ("synthetic", "taobao", "amazon")
ENGINES = ("duckdb", "spark")  # pipelines.engine.ENGINES, without importing the engines here
# local, local[N], local[*], local[N,F] (F: task retries) or a standalone master spark://HOST:PORT.
_SPARK_MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)(,[0-9]+)?\])?|spark://[^\s/:]+:[0-9]{1,5}")


@click.group("pipeline")
def pipeline() -> None:
    """Build feature tables with DuckDB or Spark and report them to the catalog."""


def _client(url: str, token: str | None):
    from catalog.client import CatalogClient

    client = CatalogClient(url, token=token, retries=2, timeout=30)
    if not client.health():
        raise CommandFailed(f"catalog at {url} is unreachable (start it with `catalog serve`)",
                            ExitCode.UNAVAILABLE)
    return client


def _check_inputs(source, input_path, attributes, workdir, skip_landing) -> None:
    if skip_landing:
        if input_path or attributes:
            raise click.UsageError("--skip-landing uses the landed files; drop "
                                   "--input/--attributes")
        if not (workdir / "raw" / "events.parquet").is_file():
            raise CommandFailed(f"--skip-landing: no landed raw events in {workdir}/raw",
                                ExitCode.BAD_INPUT)
    elif source != "synthetic" and input_path is None:
        raise click.UsageError(f"--input is required for --source {source}")
    if source == "synthetic" and (input_path or attributes):
        raise click.UsageError("--input and --attributes apply to taobao and amazon only")
    for p in (input_path, attributes):
        if p is not None and not p.is_file():
            raise CommandFailed(f"no such file: {p}", ExitCode.BAD_INPUT)


@pipeline.command("run")
@click.option("--source", type=click.Choice(SOURCES), default="synthetic", show_default=True,
              help="Where raw events come from.")
@click.option("--input", "input_path", type=click.Path(path_type=Path),
              help="Taobao UserBehavior CSV or Amazon sequence file (taobao, amazon).")
@click.option("--attributes", type=click.Path(path_type=Path),
              help="Amazon item -> attribute ids JSON (amazon).")
@click.option("--events", type=click.IntRange(min=100), default=200_000, show_default=True,
              help="Approximate number of synthetic events.")
@click.option("--seed", type=int, default=7, show_default=True, help="Synthetic generator seed.")
@click.option("--workdir", type=click.Path(path_type=Path), default=Path("work"),
              show_default=True, help="Folder for raw Parquet files and features.duckdb.")
@CATALOG_URL_OPTION
@TOKEN_OPTION
@click.option("--namespace", default="recsys", show_default=True,
              help="Catalog namespace of the datasets.")
@click.option("--skip-landing", is_flag=True,
              help="Use the raw files already in --workdir (e.g. with feedback appended) "
              "instead of landing the source again.")
@click.option("--engine", type=click.Choice(ENGINES), default="duckdb", show_default=True,
              envvar="CATALOG_PIPELINE_ENGINE",
              help="What runs the SQL steps: duckdb (one host, --workdir/features.duckdb) or "
              "spark (Parquet in --workdir/warehouse). The catalog records the same either way.")
@click.option("--spark-master", envvar="CATALOG_SPARK_MASTER",
              help="With --engine spark: local[N] (N threads in this process; default "
              "local[*]) or spark://HOST:PORT (a standalone cluster that sees --workdir).")
@JSON_OPTION
@PROGRESS_OPTION
def run(source, input_path, attributes, events, seed, workdir, catalog_url, token, namespace,
        skip_landing, engine, spark_master, as_json, show_progress):
    """Land the source, run every SQL step in DuckDB or Spark, validate, and report.

    Exits 6 when a critical expectation fails (with --json, after the summary of what ran).
    """
    from pipelines.engine import EngineUnavailable
    from pipelines.report import Reporter, register
    from pipelines.runner import ChecksFailed, PipelineFailed
    from pipelines.service import land_and_run
    from pipelines.sources import SourceError
    from pipelines.steps import StepError, load_steps

    _check_inputs(source, input_path, attributes, workdir, skip_landing)
    spark = _spark_options(engine, spark_master)
    reporter = Reporter(_client(catalog_url, token), namespace=namespace, source=source)
    try:
        total = len(load_steps()) + (0 if skip_landing else 1)  # each step, and the landing
        with progress("pipeline", total, unit="steps", show=show_progress) as shown:

            def step_progress(step: str, state: str) -> None:
                if state == "running":
                    shown.update(shown.completed, note=f"{step} running")
                else:
                    shown.advance(note=f"{step} {state}")

            register(reporter)  # the catalog knows the pipeline as this code defines it
            result = land_and_run(
                workdir, source, reporter=reporter, input_path=input_path,
                attributes=attributes, events=events, seed=seed, progress=step_progress,
                land=not skip_landing, engine=engine, spark=spark,
            )
    # Raised after the progress display is gone, so the error is the last line on stderr.
    except ChecksFailed as exc:
        if as_json:
            echo_json(exc.result.summary())
        raise CommandFailed(str(exc), ExitCode.CHECKS_FAILED) from None
    except SourceError as exc:
        raise CommandFailed(str(exc), ExitCode.BAD_INPUT) from None
    except EngineUnavailable as exc:  # the Spark session could not start
        raise CommandFailed(str(exc), ExitCode.UNAVAILABLE) from None
    except (PipelineFailed, StepError) as exc:  # a step failed in its engine; a broken step file
        raise CommandFailed(str(exc), ExitCode.UNEXPECTED) from None
    if as_json:
        echo_json(result.summary())
    else:
        click.echo(f"pipeline {result.run_id}: {len(result.steps)} steps in "
                   f"{result.seconds:.1f}s, feature tables in {result.database}")


def _spark_options(engine: str, master: str | None):
    """SparkOptions for ``--engine spark`` (None for duckdb), the master checked first."""
    if engine != "spark":
        if master:
            raise click.UsageError("--spark-master applies to --engine spark only")
        return None
    master = master or "local[*]"
    if not _SPARK_MASTER.fullmatch(master):
        raise click.UsageError(f"--spark-master {master!r}: expected local[N] or "
                               "spark://HOST:PORT")
    from pipelines.engine import SparkOptions
    from pipelines.spark_session import spark_version

    try:
        spark_version()
    except ImportError as exc:
        raise CommandFailed(str(exc), ExitCode.UNAVAILABLE) from None
    return SparkOptions(master=master)


@pipeline.command("register")
@CATALOG_URL_OPTION
@TOKEN_OPTION
@click.option("--namespace", default="recsys", show_default=True,
              help="Catalog namespace of the datasets.")
@JSON_OPTION
def register_command(catalog_url, token, namespace, as_json):
    """Register the pipeline's definition (its steps as jobs with SQL and I/O) in the catalog.

    The catalog lists the pipeline and starts runs of it only once it is registered; every
    `catalog pipeline run` registers it too. Registering an unchanged definition is a no-op.
    """
    from catalog.client import CatalogClient
    from pipelines.report import Reporter, register
    from pipelines.steps import StepError

    client = CatalogClient(catalog_url, token=token, retries=2, timeout=30)
    try:
        n = register(Reporter(client, namespace=namespace))
    except StepError as exc:
        raise CommandFailed(str(exc), ExitCode.UNEXPECTED) from None
    if as_json:
        echo_json({"pipeline": Reporter.pipeline, "jobs": n, "catalog_url": catalog_url})
    else:
        click.echo(f"registered {n} jobs of {Reporter.pipeline} at {catalog_url}")
