"""``catalog pipeline run --engine spark`` against a standalone Spark cluster on 127.0.0.1.

A master and two one-core workers from pyspark's own ``bin/spark-class``; the command runs as
a user would run it (its own process, the driver), reporting to a live catalog. Killing a worker
mid-run ends either with Spark's retries completing the run, or with the run recorded FAILED;
never with a half-written version in the catalog or the warehouse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.engine import SparkOptions
from pipelines.service import land_and_run
from pipelines.spark_engine import SparkEngine
from pipelines.steps import load_steps
from tests.live_server import live_server
from tests.spark_cluster import standalone

pytestmark = [
    pytest.mark.slow,  # a cluster of three JVMs, and pipeline runs on it: minutes
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]

CATALOG = str(Path(sys.executable).parent / "catalog")  # the installed command
EVENTS = 400
STEP_NAMES = [s.output for s in load_steps()]
DEFAULTS = {  # the cluster's spark-defaults.conf: small, for a shared 2-core machine
    "spark.executor.memory": "512m",
    "spark.driver.memory": "768m",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with standalone(tmp_path_factory.mktemp("spark-cluster"), workers=2, cores=1,
                    memory="1g", defaults=DEFAULTS) as running:
        yield running


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, tuple[str, int]]:
    """Every output's (fingerprint, rows) from DuckDB over the same synthetic input."""
    result = land_and_run(tmp_path_factory.mktemp("duckdb"), "synthetic", events=EVENTS)
    return {s.output: (s.fingerprint, s.rows) for s in result.steps}


@pytest.fixture
def live(sqlite_url, catalog, tmp_path):
    """A catalog server on the suite's SQLite database (wiped by ``catalog``)."""
    with live_server(sqlite_url, tmp_path) as url:
        yield url, catalog[1]


def _pipeline(cluster, url: str, workdir: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [CATALOG, "pipeline", "run", "--engine", "spark", "--spark-master", cluster.url,
             "--events", str(EVENTS), "--workdir", str(workdir), "--catalog-url", url, "--json"],
            env={**os.environ, **cluster.env}, stdout=out, stderr=subprocess.STDOUT)


def _summary(log: Path) -> dict:
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith('{"status"')]
    assert lines, log.read_text()[-3000:]
    return json.loads(lines[-1])


def _versions(http) -> dict[str, list[tuple[str, int]]]:
    """Each output's versions in the catalog as (fingerprint, rows)."""
    out = {}
    for name in STEP_NAMES:
        r = http.get(f"/api/v1/namespaces/recsys/datasets/{name}/versions")
        if r.status_code == 200:
            out[name] = [(v["fingerprint"], v["rowCount"]) for v in r.get_json()["versions"]]
    return out


def test_pipeline_on_a_standalone_cluster_records_what_duckdb_does(cluster, live, reference,
                                                                   tmp_path):
    url, http = live
    log = tmp_path / "pipeline.log"
    started = time.monotonic()
    proc = _pipeline(cluster, url, tmp_path / "work", log)
    assert proc.wait(timeout=900) == 0, log.read_text()[-3000:]
    seconds = time.monotonic() - started
    summary = _summary(log)
    assert summary["status"] == "COMPLETE" and summary["engine"] == "spark"
    assert {k: (v["fingerprint"], v["rows"]) for k, v in summary["outputs"].items()} == reference
    assert _versions(http) == {k: [v] for k, v in reference.items()}
    parent = http.get(f"/api/v1/jobs/runs/{summary['run_id']}").get_json()
    assert parent["state"] == "COMPLETED"
    assert parent["facets"]["processing_engine"]["name"] == "spark"
    print(f"pipeline on the cluster: {seconds:.0f} s")  # shown with -s; RESULTS in the README


def test_a_worker_killed_mid_run_is_retried_or_the_run_fails_never_half_written(
        cluster, live, reference, tmp_path, spark):
    url, http = live
    work = tmp_path / "work"
    log = tmp_path / "pipeline.log"
    proc = _pipeline(cluster, url, work, log)
    # Kill a worker (and its executor) while a step is being written: its tasks are lost.
    staging = work / "warehouse" / ".staging"
    deadline = time.monotonic() + 600
    while not (staging.is_dir() and any(p.name.startswith("events_integrated")
                                        for p in staging.iterdir())):
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "events_integrated never started building"
        time.sleep(0.05)
    cluster.kill_worker(0)
    code = proc.wait(timeout=900)
    print(f"a worker killed while events_integrated was written: exit {code}")  # with -s
    summary = _summary(log)
    parent = http.get(f"/api/v1/jobs/runs/{summary['run_id']}").get_json()
    if code == 0:
        # Spark ran the lost tasks again on the other worker: the run is whole and right.
        assert summary["status"] == "COMPLETE" and parent["state"] == "COMPLETED"
        assert {k: (v["fingerprint"], v["rows"]) for k, v in summary["outputs"].items()} == \
            reference
    else:
        assert parent["state"] == "FAILED", parent
    # Either way every version in the catalog is a whole output (DuckDB's fingerprint), and
    # every output in the warehouse is one the catalog recorded, read back to the same content.
    versions = _versions(http)
    assert all(v == [reference[k]] for k, v in versions.items()), versions
    engine = SparkEngine.open(work, SparkOptions(session=spark))
    try:
        built = [o for o in STEP_NAMES if engine.exists(o)]
        assert set(built) <= set(versions)
        assert {o: engine.fingerprint(o) for o in built} == {o: reference[o] for o in built}
    finally:
        engine.close()
