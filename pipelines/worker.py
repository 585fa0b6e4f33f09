"""Background worker: one pipeline run started by the catalog, reporting back to it over HTTP.

``python -m pipelines.worker --run-id ID --catalog-url URL --workdir DIR --source S [...]``.
Exit status 0 on success, 1 when the pipeline failed (the catalog holds the reason).
"""

from __future__ import annotations

import argparse
import logging
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
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
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
