"""Marquez-shaped read endpoints: namespaces, datasets, versions, jobs, runs, search, events."""

from __future__ import annotations

from urllib.parse import quote

from tests.factories import complete_run, ds, facet, run_event, schema


def _loop(client) -> tuple[str, str]:
    first = complete_run(client, "clean", inputs=[ds("raw", schema=schema("user_id"))],
                         outputs=[ds("clean", schema=schema(("user_id", "BIGINT")))])
    second = complete_run(client, "clean", inputs=[ds("raw")],
                          outputs=[ds("clean", schema=schema(("user_id", "BIGINT")))], minutes=60)
    return first, second


def test_namespaces_list_and_get(client):
    _loop(client)
    body = client.get("/api/v1/namespaces").get_json()
    assert [n["name"] for n in body["namespaces"]] == ["pipelines", "shop"]
    assert body["totalCount"] == 2
    assert client.get("/api/v1/namespaces/shop").get_json()["name"] == "shop"
    r = client.get("/api/v1/namespaces/nope")
    assert r.status_code == 404 and r.get_json()["error"] == "NotFound"


def test_dataset_shape_and_versions(client):
    _, second = _loop(client)
    d = client.get("/api/v1/namespaces/shop/datasets/clean").get_json()
    assert d["id"] == {"namespace": "shop", "name": "clean"}
    assert d["type"] == "DB_TABLE" and d["kind"] == "table"
    assert d["fields"] == [{"name": "user_id", "type": "BIGINT", "tags": [], "description": None}]
    assert d["currentVersionNumber"] == 2
    versions = client.get("/api/v1/namespaces/shop/datasets/clean/versions").get_json()
    assert versions["totalCount"] == 2
    assert [v["versionNumber"] for v in versions["versions"]] == [2, 1]
    created_by = versions["versions"][0]["createdByRun"]
    assert (created_by["id"], created_by["state"]) == (second, "COMPLETED")
    assert created_by["jobVersion"]["name"] == "clean" and created_by["durationMs"] == 60_000
    assert versions["versions"][0]["version"] == d["currentVersion"]
    one = client.get(f"/api/v1/namespaces/shop/datasets/clean/versions/{d['currentVersion']}")
    assert one.get_json()["versionNumber"] == 2
    assert client.get("/api/v1/namespaces/shop/datasets/clean/versions/1").get_json()[
        "createdByRun"]["id"] != second
    listing = client.get("/api/v1/namespaces/shop/datasets?limit=1&offset=1").get_json()
    assert listing["totalCount"] == 2 and [x["name"] for x in listing["datasets"]] == ["raw"]


def test_jobs_and_runs(client):
    first, second = _loop(client)
    job = client.get("/api/v1/namespaces/pipelines/jobs/clean").get_json()
    assert job["inputs"] == [{"namespace": "shop", "name": "raw"}]
    assert job["outputs"] == [{"namespace": "shop", "name": "clean"}]
    assert job["latestRun"]["id"] == second
    runs = client.get("/api/v1/namespaces/pipelines/jobs/clean/runs").get_json()
    assert [r["id"] for r in runs["runs"]] == [second, first]
    run = client.get(f"/api/v1/jobs/runs/{first}").get_json()
    assert run["state"] == "COMPLETED" and run["durationMs"] == 60_000
    assert run["jobVersion"]["name"] == "clean" and run["jobVersion"]["version"]
    out = run["outputDatasetVersions"][0]["datasetVersionId"]
    assert out["name"] == "clean"
    v1 = client.get("/api/v1/namespaces/shop/datasets/clean/versions/1").get_json()
    assert out["version"] == v1["version"]
    assert client.get("/api/v1/jobs/runs/00000000-0000-0000-0000-000000000000").status_code == 404


def test_namespace_with_slashes_and_colons(client):
    complete_run(client, "load", outputs=[ds("bucket/events.parquet", ns="s3://shop-lake")])
    ns = quote("s3://shop-lake", safe="")
    r = client.get(f"/api/v1/namespaces/{ns}/datasets/bucket/events.parquet")
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["namespace"] == "s3://shop-lake"
    r = client.get("/api/v1/namespaces/s3://shop-lake/datasets")
    assert r.get_json()["totalCount"] == 1


def test_search_matches_names_descriptions_columns(client):
    doc = facet("DocumentationDatasetFacet", description="Cleaned behaviour events")
    complete_run(client, "clean_job", outputs=[ds("events_clean", documentation=doc,
                                                  schema=schema("behavior_type"))])
    complete_run(client, "item_features", outputs=[ds("items", schema=schema("price"))])
    hits = client.get("/api/v1/search?q=clean").get_json()
    assert [(h["type"], h["name"]) for h in hits["results"]] == [
        ("JOB", "clean_job"), ("DATASET", "events_clean")]
    assert hits["results"][1]["nodeId"] == "dataset:shop:events_clean"
    assert client.get("/api/v1/search?q=behaviour").get_json()["totalCount"] == 1
    assert client.get("/api/v1/search?q=price&filter=dataset").get_json()["results"][0][
        "name"] == "items"
    assert client.get("/api/v1/search?q=100%25").get_json()["totalCount"] == 0
    r = client.get("/api/v1/search")
    assert r.status_code == 400 and r.get_json()["field"] == "q"
    assert client.get("/api/v1/search?q=x&sort=bogus").status_code == 400


def test_events_feed_and_bounds(client):
    complete_run(client, "j", minutes=0)
    complete_run(client, "j", minutes=100)
    body = client.get("/api/v1/events/lineage").get_json()
    assert body["totalCount"] == 4
    times = [e["eventTime"] for e in body["events"]]
    assert times == sorted(times, reverse=True)
    after = client.get("/api/v1/events/lineage?after=2026-01-01T01:00:00Z").get_json()
    assert after["totalCount"] == 2
    assert client.get("/api/v1/events/lineage?after=yesterday").status_code == 400


def test_pagination_bounds_are_enforced(client):
    r = client.get("/api/v1/namespaces?limit=0")
    assert r.status_code == 400 and r.get_json()["field"] == "limit"
    assert client.get("/api/v1/namespaces?limit=100000").status_code == 400
    assert client.get("/api/v1/namespaces?offset=-1").status_code == 400
    assert client.get("/api/v1/namespaces?limit=abc").get_json()["field"] == "limit"


def test_unknown_route_and_method_are_json(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.get_json()["error"] == "NotFound"
    r = client.delete("/api/v1/lineage")
    assert r.status_code == 405 and "message" in r.get_json()


def test_run_event_state_shown_while_running(client):
    ev = run_event("START", "long", outputs=[ds("wip")])
    client.post("/api/v1/lineage", json=ev)
    run = client.get(f"/api/v1/jobs/runs/{ev['run']['runId']}").get_json()
    assert run["state"] == "RUNNING" and run["endedAt"] is None
    assert run["outputDatasetVersions"][0]["datasetVersionId"]["version"] is None
