"""A client written for Marquez reads our runs, jobs and datasets and finds what it expects.

Three runs: one completed, one failed, one still running. The client checks Marquez's RunState
names, the field names and their types (against the schemas the OpenAPI document declares, too),
and filters jobs by their latest run's state in either vocabulary.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from openapi_schema_validator import OAS30Validator

from catalog.models.run import RUN_STATES
from catalog.read.run_states import API_STATES, api_state
from tests.factories import ds, facet, run_event, schema

MARQUEZ_RUN_STATES = ["NEW", "RUNNING", "COMPLETED", "FAILED", "ABORTED"]
SQL = "select user_id, count(*) from raw group by 1"


def _post(client, *events) -> None:
    for e in events:
        r = client.post("/api/v1/lineage", json=e)
        assert r.status_code == 201, r.get_json()


@pytest.fixture
def runs(client) -> dict[str, str]:
    """Run ids by outcome: ``done`` completed, ``broken`` failed, ``busy`` still running."""
    ids = {}
    io = {"inputs": [ds("raw", schema=schema("user_id"))],
          "outputs": [ds("agg", schema=schema("user_id", "n"))]}
    sql = {"sql": facet("SQLJobFacet", query=SQL)}
    for job, end, minutes in (("done", "COMPLETE", 0), ("broken", "FAIL", 10),
                              ("busy", None, 20)):
        start = run_event("START", job, minutes=minutes, job_facets=sql, **io)
        ids[job] = start["run"]["runId"]
        _post(client, start)
        if end:
            error = {"errorMessage": facet("ErrorMessageRunFacet", message="boom",
                                           programmingLanguage="python")} if end == "FAIL" else {}
            _post(client, run_event(end, job, run_id=ids[job], minutes=minutes + 2,
                                    job_facets=sql, run_facets=error, **io))
    return ids


def _time(value) -> datetime:
    assert isinstance(value, str) and value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _check_run(run: dict, state: str) -> None:
    """What a Marquez client reads of a run, by name and type."""
    assert run["state"] == state and run["state"] in MARQUEZ_RUN_STATES
    assert isinstance(run["id"], str) and len(run["id"]) == 36
    assert _time(run["createdAt"]) <= _time(run["updatedAt"])
    started = _time(run["startedAt"])
    assert isinstance(run["args"], dict) and isinstance(run["facets"], dict)
    assert set(run["jobVersion"]) == {"namespace", "name", "version"}
    assert run["jobVersion"]["namespace"] == "pipelines"
    # A job version (and its SQL, Marquez's context) is recorded when a run completes.
    done = state == "COMPLETED"
    assert isinstance(run["jobVersion"]["version"], str if done else type(None))
    assert run["context"] == ({"sql": SQL} if done else {})
    if state == "RUNNING":
        assert run["endedAt"] is None and run["durationMs"] is None
    else:
        ended = _time(run["endedAt"])
        assert isinstance(run["durationMs"], int)
        assert run["durationMs"] == (ended - started).total_seconds() * 1000 == 120_000


def test_marquez_client_reads_runs_in_its_own_words(client, runs):
    expected = {"done": "COMPLETED", "broken": "FAILED", "busy": "RUNNING"}
    for job, state in expected.items():
        run = client.get(f"/api/v1/jobs/runs/{runs[job]}").get_json()
        _check_run(run, state)
        assert run["jobVersion"]["name"] == job
        for key in ("inputDatasetVersions", "outputDatasetVersions"):
            (entry,) = run[key]
            assert set(entry) == {"datasetVersionId", "facets"}
            assert set(entry["datasetVersionId"]) == {"namespace", "name", "version"}
        # Only a completed run wrote a version of its output; the older lists hold versions.
        out = run["outputDatasetVersions"][0]["datasetVersionId"]
        assert out["name"] == "agg" and (out["version"] is not None) == (state == "COMPLETED")
        assert run["outputVersions"] == ([out] if state == "COMPLETED" else [])
        (read,) = run["inputVersions"]
        assert read == run["inputDatasetVersions"][0]["datasetVersionId"]
        assert read["name"] == "raw" and isinstance(read["version"], str)

    failed = client.get(f"/api/v1/jobs/runs/{runs['broken']}").get_json()
    assert failed["errorMessage"] == "boom"

    for job, state in expected.items():
        j = client.get(f"/api/v1/namespaces/pipelines/jobs/{job}").get_json()
        assert j["id"] == {"namespace": "pipelines", "name": job}
        # Only the completed run recorded a job version: the others' jobs have none yet.
        if state == "COMPLETED":
            assert isinstance(j["currentVersion"], str) and j["context"] == {"sql": SQL}
            assert j["currentVersion"] == j["latestRun"]["jobVersion"]["version"]
        else:
            assert j["currentVersion"] is None and j["context"] == {}
        _check_run(j["latestRun"], state)
        listed = client.get(f"/api/v1/namespaces/pipelines/jobs/{job}/runs").get_json()
        assert listed["totalCount"] == 1 and listed["runs"][0]["id"] == runs[job]
        _check_run(listed["runs"][0], state)

    dataset = client.get("/api/v1/namespaces/shop/datasets/agg").get_json()
    versions = client.get("/api/v1/namespaces/shop/datasets/agg/versions").get_json()
    (version,) = versions["versions"]
    assert dataset["currentVersion"] == version["version"]
    assert version["id"] == {"namespace": "shop", "name": "agg", "version": version["version"]}
    _check_run(version["createdByRun"], "COMPLETED")
    assert version["createdByRun"]["id"] == runs["done"]


def test_responses_match_the_documented_schemas(client, runs):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["components"]["schemas"]["RunState"]["enum"] == MARQUEZ_RUN_STATES

    def check(url: str, name: str) -> dict:
        body = client.get(url).get_json()
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        errors = [e.message for e in OAS30Validator(schema).iter_errors(body)]
        assert errors == [], (url, errors)
        return body

    for run_id in runs.values():
        check(f"/api/v1/jobs/runs/{run_id}", "Run")
    check("/api/v1/namespaces/pipelines/jobs", "JobList")
    check("/api/v1/namespaces/pipelines/jobs/done", "Job")
    check("/api/v1/namespaces/pipelines/jobs/broken/runs", "RunList")
    check("/api/v1/namespaces/shop/datasets", "DatasetList")
    check("/api/v1/namespaces/shop/datasets/agg", "Dataset")
    check("/api/v1/namespaces/shop/datasets/agg/versions", "DatasetVersionList")
    check("/api/v1/namespaces/shop/datasets/agg/versions/1", "DatasetVersion")
    # A state outside the enum would fail the check above: the validator does look.
    bad = {**client.get(f"/api/v1/jobs/runs/{runs['done']}").get_json(), "state": "COMPLETE"}
    schema = {"$ref": "#/components/schemas/Run", "components": doc["components"]}
    assert not OAS30Validator(schema).is_valid(bad)


@pytest.mark.parametrize(("query", "jobs"), [
    ("lastRunStates=COMPLETED", ["done"]),
    ("lastRunStates=COMPLETE", ["done"]),
    ("lastRunStates=failed", ["broken"]),
    ("lastRunStates=RUNNING", ["busy"]),
    ("lastRunStates=START", ["busy"]),
    ("lastRunStates=FAILED&lastRunStates=RUNNING", ["broken", "busy"]),
    ("lastRunStates=FAIL,COMPLETED", ["broken", "done"]),
    ("lastRunStates=ABORTED", []),
    ("", ["broken", "busy", "done"]),
])
def test_jobs_filter_by_latest_run_state_in_either_vocabulary(client, runs, query, jobs):
    body = client.get(f"/api/v1/namespaces/pipelines/jobs?{query}").get_json()
    assert [j["name"] for j in body["jobs"]] == jobs and body["totalCount"] == len(jobs)


def test_an_unknown_state_filter_is_refused_by_name(client, runs):
    r = client.get("/api/v1/namespaces/pipelines/jobs?lastRunStates=DONE")
    assert r.status_code == 400
    body = r.get_json()
    assert body["field"] == "lastRunStates" and "'DONE'" in body["message"]
    assert "COMPLETED" in body["message"]


def test_every_stored_state_has_exactly_one_marquez_name():
    assert [api_state(s) for s in RUN_STATES] == [
        "NEW", "RUNNING", "RUNNING", "COMPLETED", "FAILED", "ABORTED"]
    assert set(map(api_state, RUN_STATES)) == set(API_STATES) == set(MARQUEZ_RUN_STATES)
    assert api_state(None) is None
