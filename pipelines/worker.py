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

import argparse
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the pipeline, return the exit status."""
    from catalog.client import CatalogClient, CatalogRequestError, CatalogUnavailable
    from pipelines.report import Reporter
    from pipelines.runner import PipelineFailed
    from pipelines.service import land_and_run
    from pipelines.sources import SourceError

    p = argparse.ArgumentParser(prog="pipelines.worker", description=__doc__.splitlines()[0])
    p.add_argument("--run-id", required=True)
    p.add_argument("--catalog-url", required=True)
    p.add_argument("--workdir", required=True, type=Path)
    p.add_argument("--source", required=True, choices=("synthetic", "taobao", "amazon"))
    p.add_argument("--input", type=Path)
    p.add_argument("--attributes", type=Path)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--namespace", default="recsys")
    p.add_argument("--data-root", type=Path,
                   help="the only folder input files may be read from (none: no input files)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.umask(0o077)
    root = args.data_root.resolve() if args.data_root else None
    for key in ("input", "attributes"):
        path = getattr(args, key)
        if path is not None:
            path = path.resolve()
            if root is None or not path.is_relative_to(root):
                logging.error("--%s must lie inside --data-root", key)
                return 2
            setattr(args, key, path)
    from pipelines import sandbox

    sandbox.confine(args.workdir, root)
    logging.info("DuckDB confined to %s", ", ".join(sandbox.allowed()))
    client = CatalogClient(args.catalog_url, retries=3, timeout=30)
    reporter = Reporter(client, namespace=args.namespace, source=args.source)
    try:
        result = land_and_run(
            args.workdir, args.source, reporter=reporter, input_path=args.input,
            attributes=args.attributes, events=args.events, seed=args.seed, run_id=args.run_id,
            progress=lambda step, state: logging.info("%s: %s", step, state),
        )
    except (PipelineFailed, SourceError, CatalogUnavailable, CatalogRequestError) as exc:
        logging.error("pipeline failed: %s", exc)
        return 1
    logging.info("pipeline complete in %.1fs", result.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
