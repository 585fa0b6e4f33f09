"""A populated catalog for the operations tests, and a snapshot of what its read API answers.

Covers every kind of row: namespaces, datasets with fields, tags and owners, versions, jobs and
job versions, runs with state history and I/O, edges, column lineage, quality results, a
registered model with versions and an alias, raw events, a pipeline execution.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.factories import complete_run, ds, facet, run_event, schema

SHA = "b" * 64


def populate(client, session_factory=None) -> None:
    """Fill an empty catalog through its API (and one pipeline execution row directly); the
    feature pipeline registers itself first, as before its first run."""
    from tests.pipeline_defs import register_pipeline

    register_pipeline(client.application)
    col = facet("ColumnLineageDatasetFacet", fields={"b": {"inputFields": [
        {"namespace": "shop", "name": "raw", "field": "a"}]}})
    quality = facet("DataQualityAssertionsDatasetFacet", assertions=[
        {"assertion": "not_null", "success": True, "column": "a"},
        {"assertion": "unique", "success": False, "column": "b"}])
    metrics = facet("DataQualityMetricsInputDatasetFacet", rowCount=10, columnMetrics={
        "a": {"nullCount": 0, "distinctCount": 10, "min": 1.5, "max": 9.0}})
    complete_run(client, "land", outputs=[ds("raw", schema=schema("a", ("n", "BIGINT")))])
    complete_run(client, "clean", inputs=[ds("raw")], minutes=5, outputs=[
        ds("clean", schema=schema("a", "b"), columnLineage=col, dataQualityAssertions=quality)])
    train = complete_run(client, "train", minutes=10, inputs=[{
        **ds("clean"), "inputFacets": {"dataQualityMetrics": metrics}}],
        job_facets={"sql": facet("SQLJobFacet", query="select * from clean")})
    failed = str(uuid.uuid4())
    for i, state in enumerate(("START", "FAIL")):
        client.post("/api/v1/lineage", json=run_event(
            state, "clean", run_id=failed, minutes=20 + i, inputs=[ds("raw")],
            outputs=[ds("clean", schema=schema("a", "b", "c"))],
            run_facets={"errorMessage": facet("ErrorMessageRunFacet", message="boom",
                                              programmingLanguage="python")}))
    r = client.post("/api/v1/lineage", json=run_event("START", "still_running", minutes=30))
    assert r.status_code == 201
    r = client.put("/api/v1/namespaces/features/datasets/user_features", json={
        "kind": "feature_table", "fields": [{"name": "user_id", "type": "BIGINT"}],
        "description": "User features", "tags": ["gold"], "owners": ["ml-team"],
        "rowCount": 10})
    assert r.status_code == 200, r.get_json()
    for n in (1, 2):
        r = client.post("/api/v1/models/ranker/versions", json={
            "runId": train, "artifactPath": f"/w/ranker{n}.pt", "sha256": SHA[:-1] + str(n),
            "hyperparameters": {"d_model": 32 * n}, "metrics": {"valid.ndcg@10": 0.05 * n},
            "codeVersion": "abc"})
        assert r.status_code == 201, r.get_json()
    r = client.put("/api/v1/models/ranker/aliases/staging", json={"version": 2})
    assert r.status_code == 200, r.get_json()
    if session_factory is not None:
        from catalog.models import PipelineExecution

        with session_factory() as s, s.begin():
            s.add(PipelineExecution(pipeline="feature_pipeline", run_uuid=str(uuid.uuid4()),
                                    params={"source": "synthetic", "events": 100}, pid=4242,
                                    log_path="/tmp/w.log",
                                    created_at=datetime(2026, 2, 1, tzinfo=UTC),
                                    # started before the queue (what migration 0012 makes of it)
                                    taken_by="launcher",
                                    taken_at=datetime(2026, 2, 1, tzinfo=UTC)))


def snapshot(client) -> dict:
    """What the read API answers about everything in the catalog, keyed by URL."""
    out: dict = {}

    def get(url: str, **params):
        r = client.get(url, query_string=params)
        assert r.status_code == 200, (url, r.get_json())
        out[url + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))] = r.get_json()
        return r.get_json()

    for ns in get("/api/v1/namespaces")["namespaces"]:
        name = ns["name"]
        get(f"/api/v1/namespaces/{name}")
        for d in get(f"/api/v1/namespaces/{name}/datasets")["datasets"]:
            get(f"/api/v1/namespaces/{name}/datasets/{d['name']}")
            for v in get(f"/api/v1/namespaces/{name}/datasets/{d['name']}/versions")["versions"]:
                get(f"/api/v1/namespaces/{name}/datasets/{d['name']}/versions/{v['version']}")
            get("/api/v1/lineage", nodeId=f"dataset:{name}:{d['name']}", depth=5)
            get("/api/v1/lineage/upstream", nodeId=f"dataset:{name}:{d['name']}", depth=5)
            get("/api/v1/column-lineage", nodeId=f"dataset:{name}:{d['name']}", depth=5)
        for j in get(f"/api/v1/namespaces/{name}/jobs")["jobs"]:
            get(f"/api/v1/namespaces/{name}/jobs/{j['name']}")
            for run in get(f"/api/v1/namespaces/{name}/jobs/{j['name']}/runs")["runs"]:
                get(f"/api/v1/jobs/runs/{run['id']}")
    for m in get("/api/v1/models")["models"]:
        get(f"/api/v1/models/{m['name']}")
        get(f"/api/v1/models/{m['name']}/versions/latest")
    get("/api/v1/search", q="a")
    get("/api/v1/events/lineage", limit=1000)
    get("/api/v1/pipelines/feature_pipeline/runs")
    return out
