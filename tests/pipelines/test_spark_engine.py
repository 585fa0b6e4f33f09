"""The pipeline on Spark records in the catalog exactly what the DuckDB pipeline records.

Each engine's run reports to its own in-process catalog; the two records, read back through the
API, must be equal up to what names a run (ids, times) and where the data lives (dataSource,
processing_engine): the same datasets, versions and fingerprints, schemas, metrics, column
lineage, quality assertions, runs and their parents, and the same no-op reruns.
"""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest

from catalog import db as catalog_db
from catalog.app import create_app
from pipelines import duckdb_engine
from pipelines.engine import SparkOptions
from pipelines.report import Reporter
from pipelines.runner import PipelineFailed, run_pipeline
from pipelines.service import land_and_run, land_source
from pipelines.spark_engine import SparkEngine, canonical_type
from pipelines.steps import STEPS_DIR, load_steps
from tests.authutil import client_class, mint_token
from tests.wsgi_client import in_process_client

# PySpark leaves the local socket of each collect() to the garbage collector.
pytestmark = pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")

EVENTS = 400
STEP_NAMES = [s.output for s in load_steps()]
# What names a run or a place, not what the run recorded.
UNRECORDED = {"id", "runId", "parentRunId", "createdAt", "updatedAt", "startedAt", "endedAt",
              "durationMs", "lastModifiedAt", "nominalStartTime", "nominalEndTime",
              "sourceName", "dataSource", "processing_engine"}


@pytest.fixture
def other_catalog(tmp_path):
    """A second in-process catalog, on its own SQLite file, for the second engine's run."""
    url = f"sqlite:///{tmp_path / 'other-catalog.db'}"
    catalog_db.upgrade(url)
    app = create_app({"database_url": url})
    token = mint_token(app, "admin")
    app.config["TEST_TOKENS"] = {"admin": token}
    app.test_client_class = client_class(token)
    client = in_process_client(app)
    yield client, app.test_client()
    client.close()
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()


def _get(http, path):
    r = http.get(path)
    assert r.status_code == 200, (path, r.get_json())
    return r.get_json()


def _strip(value, labels: dict[str, str]):
    """``value`` without what names a run or a place; dataset version ids (derived from the
    producing run's id) replaced by ``name@number``."""
    if isinstance(value, dict):
        return {k: _strip(v, labels) for k, v in value.items() if k not in UNRECORDED}
    if isinstance(value, list):
        return [_strip(v, labels) for v in value]
    return labels.get(value, value) if isinstance(value, str) else value


def _record(http) -> dict:
    """Every dataset with its versions, every job with its runs, as the API shows them."""
    datasets, labels = {}, {}
    for ds in _get(http, "/api/v1/namespaces/recsys/datasets?limit=100")["datasets"]:
        name = ds["name"]
        versions = _get(http, f"/api/v1/namespaces/recsys/datasets/{name}/versions?limit=100")
        datasets[name] = {"dataset": ds, "versions": versions["versions"]}
        labels.update({v["version"]: f"{name}@{v['versionNumber']}"
                       for v in versions["versions"]})
    jobs = {}
    for job in _get(http, "/api/v1/namespaces/recsys-pipelines/jobs?limit=100")["jobs"]:
        name = job["name"]
        runs = _get(http, f"/api/v1/namespaces/recsys-pipelines/jobs/{name}/runs?limit=100")
        jobs[name] = {"job": job, "runs": runs["runs"]}
    return _strip({"datasets": datasets, "jobs": jobs}, labels)


def _first_difference(a, b, path="") -> str | None:
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}: only in {'duckdb' if k in a else 'spark'}"
            found = _first_difference(a[k], b[k], f"{path}/{k}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} != {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {json.dumps(a)[:300]} != {json.dumps(b)[:300]}"


def test_spark_run_records_what_a_duckdb_run_records(tmp_path, catalog, other_catalog, spark):
    duck_client, duck_http = catalog
    spark_client, spark_http = other_catalog
    options = SparkOptions(session=spark)
    duck = land_and_run(tmp_path / "duck", "synthetic", reporter=Reporter(duck_client),
                        events=EVENTS)
    sprk = land_and_run(tmp_path / "spark", "synthetic", reporter=Reporter(spark_client),
                        events=EVENTS, engine="spark", spark=options)
    assert duck.failed is None and sprk.failed is None
    assert sprk.summary()["engine"] == "spark" and duck.summary()["engine"] == "duckdb"
    # Same content, same fingerprint: every output, whichever engine computed it.
    assert [s.output for s in sprk.steps] == [s.output for s in duck.steps] == STEP_NAMES
    assert {s.output: (s.fingerprint, s.rows) for s in sprk.steps} == {
        s.output: (s.fingerprint, s.rows) for s in duck.steps}
    assert {s.output: s.checks for s in sprk.steps} == {s.output: s.checks for s in duck.steps}
    # Spark wrote Parquet into the warehouse; DuckDB's database was never made there.
    warehouse = tmp_path / "spark" / "warehouse"
    assert sprk.database == warehouse and not (tmp_path / "spark" / "features.duckdb").exists()
    rows = pq.read_table(warehouse / "user_features").num_rows
    assert rows == {s.output: s.rows for s in duck.steps}["user_features"]

    # An unchanged rerun is a recorded no-op on both engines.
    again_duck = land_and_run(tmp_path / "duck", "synthetic", reporter=Reporter(duck_client),
                              events=EVENTS)
    again_spark = land_and_run(tmp_path / "spark", "synthetic",
                               reporter=Reporter(spark_client), events=EVENTS, engine="spark",
                               spark=options)
    assert all(s.noop for s in again_duck.steps) and all(s.noop for s in again_spark.steps)

    duck_record, spark_record = _record(duck_http), _record(spark_http)
    assert set(duck_record["datasets"]) == {"raw_events", "raw_items", *STEP_NAMES}
    # The comparison would be empty-handed if the record were: it holds what was asked for.
    uf = duck_record["datasets"]["user_features"]["versions"][0]
    assert {"schema", "version", "columnLineage", "dataQualityMetrics"} <= set(uf["facets"])
    runs = duck_record["jobs"]["feature_pipeline.user_features"]["runs"]
    assert [r["state"] for r in runs] == ["COMPLETED", "COMPLETED"]
    assert runs[0]["facets"]["pipelineStep"]["noop"] is True
    assert _first_difference(duck_record, spark_record) is None
    assert duck_record == spark_record
    # Only where the data lives, and which engine ran, tell the two apart.
    spark_version = _get(spark_http, "/api/v1/namespaces/recsys/datasets/user_features")
    assert spark_version["sourceName"] == f"file://{warehouse / 'user_features'}"
    parent = _get(spark_http, f"/api/v1/jobs/runs/{sprk.run_id}")
    assert parent["facets"]["processing_engine"]["name"] == "spark"


def test_duckdb_thread_counts_do_not_change_a_fingerprint(tmp_path, monkeypatch):
    """Parallel aggregation sums in an order that depends on the threads; the steps round what
    that order could change, so one thread and eight give the same versions."""
    land_source(tmp_path / "one", "synthetic", events=3_000)
    shutil.copytree(tmp_path / "one" / "raw", tmp_path / "eight" / "raw")
    connect = duckdb_engine.connect
    fps = {}
    for threads, work in ((1, "one"), (8, "eight")):
        def with_threads(workdir, threads=threads, **kwargs):
            con = connect(workdir, **kwargs)
            con.execute("set threads = ?", [threads])
            return con

        monkeypatch.setattr(duckdb_engine, "connect", with_threads)
        result = run_pipeline(tmp_path / work)
        fps[threads] = {s.output: s.fingerprint for s in result.steps}
    assert fps[1] == fps[8] and len(fps[1]) == len(STEP_NAMES)


def _failing_user_features(tmp_path):
    steps_dir = tmp_path / "steps"
    shutil.copytree(STEPS_DIR, steps_dir)
    sql = steps_dir / "user_features.sql"
    sql.write_text(sql.read_text().replace("group by user_id", "group by no_such_column", 1))
    return steps_dir


def test_a_step_failing_in_spark_fails_its_run_and_writes_nothing(tmp_path, catalog, spark):
    client, http = catalog
    work = tmp_path / "work"
    land_source(work, "synthetic", events=EVENTS)
    steps = [s for s in load_steps(_failing_user_features(tmp_path))
             if s.output in ("events_checked", "items_checked", "events_clean", "items_clean",
                             "events_integrated", "interactions_split", "user_features")]
    with pytest.raises(PipelineFailed, match="step user_features failed in Spark: .*"
                                             "no_such_column"):
        run_pipeline(work, reporter=Reporter(client), steps=steps, validate=False,
                     engine="spark", spark=SparkOptions(session=spark))
    failed = _get(http, "/api/v1/namespaces/recsys-pipelines/jobs/"
                        "feature_pipeline.user_features")["latestRun"]
    assert failed["state"] == "FAILED" and "no_such_column" in failed["errorMessage"]
    warehouse = work / "warehouse"
    assert (warehouse / "interactions_split" / "_SUCCESS").is_file()
    assert not (warehouse / "user_features").exists()
    assert list((warehouse / ".staging").iterdir()) == []  # the failed build left no files


def test_a_spark_build_is_committed_by_rename_and_a_half_done_one_recovered(tmp_path, spark):
    land_source(tmp_path, "synthetic", events=EVENTS)
    step = next(s for s in load_steps() if s.output == "events_checked")
    options = SparkOptions(session=spark)
    engine = SparkEngine.open(tmp_path, options)
    warehouse = tmp_path / "warehouse"
    engine.build(step)
    assert not engine.exists("events_checked")  # staged, not in place
    assert [p.name.split(".")[0] for p in (warehouse / ".staging").iterdir()] == [
        "events_checked"]
    engine.discard()
    assert list((warehouse / ".staging").iterdir()) == []
    engine.build(step)
    engine.commit()
    rows = engine.count("events_checked")
    assert engine.exists("events_checked") and rows > EVENTS * 0.9
    engine.close()
    assert spark.range(3).count() == 3  # a session the run was given is not stopped

    # A run that died between moving the old output aside and putting the new one in place,
    # and one that died building: the next run finds the old output, and no stray files.
    os.rename(warehouse / "events_checked",
              warehouse / ".staging" / "events_checked.0a1b.previous")
    (warehouse / ".staging" / "events_checked.2c3d").mkdir()
    again = SparkEngine.open(tmp_path, options)
    try:
        assert again.exists("events_checked") and again.count("events_checked") == rows
        assert list((warehouse / ".staging").iterdir()) == []
    finally:
        again.close()


def test_spark_names_types_as_duckdb_does(spark):
    df = spark.sql("select 1L as a, 1 as b, 1.5D as c, 'x' as d, true as e, "
                   "cast(1.5 as decimal(18, 4)) as f, timestamp_seconds(0) as g, "
                   "array(1L) as h, cast('2024-01-01' as date) as i, "
                   "cast('2024-01-01 00:00:00' as timestamp_ntz) as j")
    assert [canonical_type(f.dataType) for f in df.schema.fields] == [
        "BIGINT", "INTEGER", "DOUBLE", "VARCHAR", "BOOLEAN", "DECIMAL(18,4)",
        "TIMESTAMP WITH TIME ZONE", "BIGINT[]", "DATE", "TIMESTAMP"]
    with pytest.raises(ValueError, match="no DuckDB name for Spark type map"):
        canonical_type(spark.sql("select map(1, 2) as m").schema.fields[0].dataType)
