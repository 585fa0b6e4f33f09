"""Background worker: one pipeline run started by the catalog, reporting back to it over HTTP.

``python -m pipelines.worker --run-id ID --catalog-url URL --workdir DIR --source S [...]``.
Exit status 0 on success, 1 when the pipeline failed (the catalog holds the reason), 2 for
arguments that break the confinement below.

The run is confined: its DuckDB connections may touch only the work folder and the data root
(``pipelines.sandbox``), its input files must resolve (symlinks included) inside the data root,
checked again here in case a link changed since the catalog checked it, and every file it
writes is readable by its owner only.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click


@click.command("pipelines.worker")
@click.option("--run-id", required=True, help="The run to report under (the catalog made it).")
@click.option("--catalog-url", required=True, help="Where to report.")
@click.option("--workdir", required=True, type=click.Path(path_type=Path),
              help="The run's own folder; DuckDB may write only here.")
@click.option("--source", required=True, type=click.Choice(("synthetic", "taobao", "amazon")),
              help="Where raw events come from.")
@click.option("--input", "input_path", type=click.Path(path_type=Path),
              help="Source file (taobao, amazon), inside --data-root.")
@click.option("--attributes", type=click.Path(path_type=Path),
              help="Amazon item attributes JSON, inside --data-root.")
@click.option("--events", type=int, default=200_000, show_default=True,
              help="Synthetic events.")
@click.option("--seed", type=int, default=7, show_default=True, help="Synthetic generator seed.")
@click.option("--namespace", default="recsys", show_default=True,
              help="Catalog namespace of the datasets.")
@click.option("--data-root", type=click.Path(path_type=Path),
              help="The only folder input files may be read from (none: no input files).")
def command(run_id, catalog_url, workdir, source, input_path, attributes, events, seed,
            namespace, data_root) -> int:
    """Run one pipeline run the catalog started, confined, reporting back over HTTP."""
    from catalog.client import CatalogClient, CatalogRequestError, CatalogUnavailable
    from pipelines import sandbox
    from pipelines.report import Reporter
    from pipelines.runner import PipelineFailed
    from pipelines.service import land_and_run
    from pipelines.sources import SourceError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.umask(0o077)
    root = data_root.resolve() if data_root else None
    files = {"input": input_path, "attributes": attributes}
    for key, path in files.items():
        if path is not None:
            files[key] = path = path.resolve()
            if root is None or not path.is_relative_to(root):
                logging.error("--%s must lie inside --data-root", key)
                return 2
    sandbox.confine(workdir, root)
    logging.info("DuckDB confined to %s", ", ".join(sandbox.allowed()))
    client = CatalogClient(catalog_url, retries=3, timeout=30)
    reporter = Reporter(client, namespace=namespace, source=source)
    try:
        result = land_and_run(
            workdir, source, reporter=reporter, input_path=files["input"],
            attributes=files["attributes"], events=events, seed=seed, run_id=run_id,
            progress=lambda step, state: logging.info("%s: %s", step, state),
        )
    except (PipelineFailed, SourceError, CatalogUnavailable, CatalogRequestError) as exc:
        logging.error("pipeline failed: %s", exc)
        return 1
    logging.info("pipeline complete in %.1fs", result.seconds)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run, return the exit status (2: usage)."""
    try:
        return command.main(args=argv, prog_name="pipelines.worker", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
