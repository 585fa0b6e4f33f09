"""SQL statements per request of the read endpoints the load benchmark uses, pinned.

Each count is the number of statements the app sends (SQLAlchemy's ``before_cursor_execute``)
with the caller's token already verified, the steady state of a server. A new lazy load or an
N+1 loop raises a count and fails here; so does a count that grows with the data (each endpoint
is asked about a small and a large entity and must cost the same).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.factories import ds, run_event, schema

# endpoint label -> statements per request on PostgreSQL; SQLite sends one more, the explicit
# BEGIN of its read transaction (catalog.db turns pysqlite's implicit transactions off).
EXPECTED = {
    "dataset": 2,        # dataset + namespace/source/version/tags/owners; fields + their tags
    "versions": 1,       # page, run and total in one statement
    "job runs": 2,       # page with job, job version and total; inputs/outputs of the page
    "run": 2,            # run with its job and job version; its inputs and outputs
    "namespaces": 2,     # page; total
    "events": 2,         # page of raw payloads; total
    "lineage": 7,        # node, a walk query per layer (2 at depth 2), datasets, their fields,
                         # jobs, their latest runs
    "search": 2,         # hits; total
}


class Statements:
    """Counts statements sent through the app's engines."""

    def __init__(self, app):
        self.n = 0
        state = app.extensions["catalog"]
        # On PostgreSQL the read engine is the writers' with other options, sharing its events.
        engines = {state.engine} | ({state.read_engine}
                                    if state.read_engine.pool is not state.engine.pool else set())
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args):
        self.n += 1

    def during(self, call):
        """``call()``'s result and the statements it sent."""
        before = self.n
        result = call()
        return result, self.n - before


def _load(client, small_runs: int, big_runs: int) -> dict:
    """Two jobs writing a small and a big dataset (fields, tags, owners, versions, runs)."""
    runs = {}
    for job, out, cols, n in (("small_job", "small", 2, small_runs),
                              ("big_job", "big", 12, big_runs)):
        columns = [f"c{i}" for i in range(cols)]
        for r in range(n):
            for i, et in enumerate(("START", "COMPLETE")):
                e = run_event(et, job, run_id=runs.get((job, r)), minutes=10 * r + i,
                              inputs=[ds("raw")],
                              outputs=[ds(out, schema=schema(*columns[: cols - (r % 2)]))])
                runs[(job, r)] = e["run"]["runId"]
                assert client.post("/api/v1/lineage", json=e).status_code == 201
    tags = {"small": ["gold"], "big": ["gold", "pii", "daily"]}
    owners = {"small": ["ann"], "big": ["ann", "bob", "team-x"]}
    for name in ("small", "big"):
        r = client.put(f"/api/v1/namespaces/shop/datasets/{name}",
                       json={"tags": tags[name], "owners": owners[name]})
        assert r.status_code == 200, r.get_json()
    return runs


def _urls(label: str, size: str, runs: dict) -> str:
    job = f"{size}_job"
    return {
        "dataset": f"/api/v1/namespaces/shop/datasets/{size}",
        "versions": f"/api/v1/namespaces/shop/datasets/{size}/versions?limit=20",
        "job runs": f"/api/v1/namespaces/pipelines/jobs/{job}/runs?limit=20",
        "run": f"/api/v1/jobs/runs/{runs[(job, 0)]}",
        "namespaces": "/api/v1/namespaces",
        "events": "/api/v1/events/lineage?limit=50",
        "lineage": f"/api/v1/lineage?nodeId=dataset:shop:{size}&depth=2",
        "search": f"/api/v1/search?q={size}&limit=20",
    }[label]


@pytest.fixture
def loaded(app, client):
    runs = _load(client, small_runs=1, big_runs=4)
    client.get("/api/v1/namespaces")  # the token is verified (and cached) by now
    return runs


@pytest.mark.parametrize("label", list(EXPECTED))
def test_read_endpoint_statement_count_is_pinned(app, client, loaded, label):
    counter = Statements(app)
    for size in ("small", "big"):
        url = _urls(label, size, loaded)
        response, n = counter.during(lambda u=url: client.get(u))
        assert response.status_code == 200, (url, response.get_json())
        expected = EXPECTED[label] + (app.extensions["catalog"].engine.dialect.name == "sqlite")
        assert n == expected, f"{url}: {n} statements, expected {expected}"


def test_counted_endpoints_return_the_data(client, loaded):
    """The pinned counts are of complete answers: what each endpoint returns is all there."""
    big = client.get("/api/v1/namespaces/shop/datasets/big").get_json()
    assert [f["name"] for f in big["fields"]] == [f"c{i}" for i in range(11)]
    assert big["tags"] == ["daily", "gold", "pii"]
    assert [o["name"] for o in big["owners"]] == ["ann", "bob", "team-x"]
    assert big["currentVersionNumber"] >= 4 and big["namespace"] == "shop"
    versions = client.get("/api/v1/namespaces/shop/datasets/big/versions?limit=2").get_json()
    assert versions["totalCount"] == big["currentVersionNumber"]
    assert [v["versionNumber"] for v in versions["versions"]] == [
        big["currentVersionNumber"], big["currentVersionNumber"] - 1]
    assert versions["versions"][0]["createdByRun"]["state"] == "COMPLETED"
    runs = client.get("/api/v1/namespaces/pipelines/jobs/big_job/runs?limit=3").get_json()
    assert runs["totalCount"] == 4 and len(runs["runs"]) == 3
    first = runs["runs"][0]
    assert first["id"] == loaded[("big_job", 3)] and first["jobVersion"]["name"] == "big_job"
    assert first["jobVersion"]["version"] is not None
    assert [d["datasetVersionId"]["name"] for d in first["outputDatasetVersions"]] == ["big"]
    assert [d["datasetVersionId"]["name"] for d in first["inputDatasetVersions"]] == ["raw"]
    run = client.get(f"/api/v1/jobs/runs/{loaded[('small_job', 0)]}").get_json()
    assert run["state"] == "COMPLETED" and run["jobVersion"]["namespace"] == "pipelines"
    assert run["outputDatasetVersions"][0]["datasetVersionId"]["version"] is not None
    events = client.get("/api/v1/events/lineage?limit=3").get_json()
    assert events["totalCount"] == 10 and len(events["events"]) == 3
    assert events["events"][0]["eventType"] == "COMPLETE"
    assert events["events"][0]["run"]["runId"] == loaded[("big_job", 3)]


def test_empty_pages_still_tell_missing_from_empty(client, loaded):
    """The one-statement pages fall back to a lookup when empty: 404 for unknown, else total."""
    r = client.get("/api/v1/namespaces/shop/datasets/nope/versions")
    assert r.status_code == 404 and "nope" in r.get_json()["message"]
    r = client.get("/api/v1/namespaces/pipelines/jobs/nope/runs")
    assert r.status_code == 404 and "nope" in r.get_json()["message"]
    r = client.get("/api/v1/namespaces/pipelines/jobs/big_job/runs?offset=50")
    assert r.status_code == 200 and r.get_json() == {"runs": [], "totalCount": 4}
    r = client.get("/api/v1/namespaces/shop/datasets/raw/versions")
    assert r.status_code == 200
    assert r.get_json()["totalCount"] == len(r.get_json()["versions"])
