"""``catalog pipeline``: land a source and build the feature tables, reporting every step."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from catalog.client_options import CATALOG_URL_OPTION, JSON_OPTION

SOURCES = ("synthetic", "taobao", "amazon")


@click.group("pipeline")
def pipeline() -> None:
    """Build feature tables with DuckDB and report them to the catalog."""


def _fail(message: str, as_json: bool, summary: dict | None = None) -> None:
    if as_json and summary is not None:
        click.echo(json.dumps(summary))
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


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
@click.option("--namespace", default="recsys", show_default=True,
              help="Catalog namespace of the datasets.")
@click.option("--skip-landing", is_flag=True,
              help="Use the raw files already in --workdir (e.g. with feedback appended) "
              "instead of landing the source again.")
@JSON_OPTION
def run(source, input_path, attributes, events, seed, workdir, catalog_url, namespace,
        skip_landing, as_json):
    """Land the source, run every SQL step in DuckDB, validate, and report to the catalog."""
    from catalog.client import CatalogClient, CatalogRequestError, CatalogUnavailable
    from pipelines.report import Reporter, register
    from pipelines.runner import PipelineFailed
    from pipelines.service import land_and_run
    from pipelines.sources import SourceError
    from pipelines.steps import StepError

    if skip_landing:
        if input_path or attributes:
            _fail("--skip-landing uses the landed files; drop --input/--attributes", as_json)
        if not (workdir / "raw" / "events.parquet").is_file():
            _fail(f"--skip-landing: no landed raw events in {workdir}/raw", as_json)
    elif source != "synthetic" and input_path is None:
        _fail(f"--input is required for --source {source}", as_json)
    if source == "synthetic" and (input_path or attributes):
        _fail("--input and --attributes apply to taobao and amazon only", as_json)
    for p in (input_path, attributes):
        if p is not None and not p.is_file():
            _fail(f"no such file: {p}", as_json)
    client = CatalogClient(catalog_url, retries=2, timeout=30)
    if not client.health():
        _fail(f"catalog at {catalog_url} is unreachable (start it with `catalog serve`)", as_json)
    reporter = Reporter(client, namespace=namespace, source=source)
    error = None
    with _progress(as_json) as progress:
        try:
            register(reporter)  # the catalog knows the pipeline as this code defines it
            result = land_and_run(
                workdir, source, reporter=reporter, input_path=input_path,
                attributes=attributes, events=events, seed=seed, progress=progress,
                land=not skip_landing,
            )
        except (SourceError, StepError, CatalogUnavailable, CatalogRequestError,
                PipelineFailed) as exc:
            error = exc
    if error is not None:  # after the progress display is gone: the error is the last line
        done = getattr(error, "result", None)
        _fail(str(error), as_json, done.summary() if done else None)
    if as_json:
        click.echo(json.dumps(result.summary()))
    else:
        click.echo(f"pipeline {result.run_id}: {len(result.steps)} steps in "
                   f"{result.seconds:.1f}s, feature tables in {result.database}")


@pipeline.command("register")
@CATALOG_URL_OPTION
@click.option("--namespace", default="recsys", show_default=True,
              help="Catalog namespace of the datasets.")
def register_command(catalog_url, namespace):
    """Register the pipeline's definition (its steps as jobs with SQL and I/O) in the catalog.

    The catalog lists the pipeline and starts runs of it only once it is registered; every
    `catalog pipeline run` registers it too. Registering an unchanged definition is a no-op.
    """
    from catalog.client import CatalogClient, CatalogRequestError, CatalogUnavailable
    from pipelines.report import Reporter, register
    from pipelines.steps import StepError

    client = CatalogClient(catalog_url, retries=2, timeout=30)
    try:
        n = register(Reporter(client, namespace=namespace))
    except (StepError, CatalogUnavailable, CatalogRequestError) as exc:
        _fail(str(exc), False)
    click.echo(f"registered {n} jobs of {Reporter.pipeline} at {catalog_url}")


class _progress:
    """A rich progress display of the steps (quiet with --json)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def __enter__(self):
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import Progress

        self._p = Progress(console=Console(stderr=True), transient=True)
        self._p.__enter__()
        self._task = self._p.add_task("pipeline", total=None)
        p, task = self._p, self._task

        def update(step: str, state: str) -> None:
            p.update(task, description=f"{step}: {state}")
            if state != "running":
                p.advance(task)

        return update

    def __exit__(self, *exc):
        if not self.quiet:
            self._p.__exit__(*exc)
        return False
