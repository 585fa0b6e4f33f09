"""A stand-in for ``pipelines.worker`` (``CATALOG_WORKER_MODULE=tests.runqueue.stub_worker``):
it records how it was started in ``started.json`` in its folder, then waits until a ``release``
file appears there and reports its run COMPLETE with its own token, or until it is stopped.

Tests of the queue wait on that marker instead of a pipeline's timing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--catalog-url", required=True)
    parser.add_argument("--workdir", required=True)
    args, _ = parser.parse_known_args(argv)
    here = Path.cwd()
    umask = os.umask(0o077)
    os.umask(umask)
    marker = {"pid": os.getpid(), "ppid": os.getppid(), "cwd": str(here), "argv": argv,
              "umask": umask, "token": os.environ.get("CATALOG_TOKEN"),
              "env": sorted(k for k in os.environ if k.startswith("CATALOG_"))}
    tmp = here / "started.json.tmp"
    tmp.write_text(json.dumps(marker))
    tmp.rename(here / "started.json")
    while not (here / "release").exists():
        time.sleep(0.05)
    r = requests.post(f"{args.catalog_url}/api/v1/lineage", timeout=10, json={
        "eventType": "COMPLETE", "eventTime": datetime.now(UTC).isoformat(),
        "producer": "https://example.com/stub-worker", "schemaURL": f"{SPEC}#/$defs/RunEvent",
        "run": {"runId": args.run_id, "facets": {}},
        "job": {"namespace": "recsys-pipelines", "name": "feature_pipeline", "facets": {}},
        "inputs": [], "outputs": []},
        headers={"Authorization": f"Bearer {os.environ['CATALOG_TOKEN']}"})
    return 0 if r.status_code == 201 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
