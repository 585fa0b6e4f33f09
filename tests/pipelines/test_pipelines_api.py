"""The catalog drives the pipelines: definitions, and runs started in background workers."""

from __future__ import annotations

import os
import time

import requests

from pipelines.steps import load_steps
from tests.authutil import bearer
from tests.live_server import live_server
from tests.pipeline_defs import register_live, register_pipeline


def test_pipelines_are_listed_as_they_registered_themselves(catalog, catalog_app):
    _, http = catalog
    assert http.get("/api/v1/pipelines").get_json() == {"pipelines": []}
    assert http.get("/api/v1/pipelines/feature_pipeline").status_code == 404
    steps = load_steps()
    assert register_pipeline(catalog_app) == len(steps) + 1
    assert register_pipeline(catalog_app) == len(steps) + 1  # again: a no-op
    body = http.get("/api/v1/pipelines").get_json()
    (p,) = body["pipelines"]
    assert p["name"] == "feature_pipeline"
    assert [s["output"] for s in p["steps"]] == [s.output for s in load_steps()]
    clean = next(s for s in p["steps"] if s["name"] == "events_clean")
    assert clean["job"] == "feature_pipeline.events_clean"
    assert clean["inputs"] == ["events_checked"] and clean["suite"] == "events_clean.suite.json"
    assert clean["sql"] == next(s for s in steps if s.name == "events_clean").sql
    assert http.get("/api/v1/pipelines/nope").status_code == 404
    job = http.get("/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline.events_clean")
    assert job.get_json()["latestRun"] is None  # registered, never run


def test_bad_run_requests_are_refused_and_start_nothing(catalog, catalog_app, tmp_path):
    _, http = catalog
    register_pipeline(catalog_app)
    cases = [
        ({"source": "csv"}, "source"),
        ({"events": 5}, "events"),
        ({"events": 10**9}, "events"),  # past CATALOG_MAX_RUN_EVENTS
        ({"source": "taobao"}, "source"),  # no data folder: files cannot be read at all
        ({"source": "taobao", "input": "missing.csv"}, "input"),
        ({"source": "synthetic", "input": "/etc/hostname"}, "input"),
        ({"workdir": str(tmp_path)}, "workdir"),
        ({"colour": 1}, "colour"),
    ]
    for body, field in cases:
        r = http.post("/api/v1/pipelines/feature_pipeline/runs", json=body)
        assert r.status_code == 422, body
        assert r.get_json()["field"] == field
    assert http.get("/api/v1/pipelines/feature_pipeline/runs").get_json()["runs"] == []
    # Only the registration's jobs and datasets: no run of any of them.
    runs = http.get("/api/v1/namespaces/recsys-pipelines/jobs/feature_pipeline/runs").get_json()
    assert runs["runs"] == []


def _auth() -> dict:
    """The live server's admin token (live_server exports it)."""
    return bearer(os.environ["CATALOG_TOKEN"])


def _wait_for_end(url: str, run_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = requests.get(f"{url}/api/v1/jobs/runs/{run_id}", headers=_auth(), timeout=5).json()
        if run["state"] in ("COMPLETED", "FAILED", "ABORTED"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} still {run['state']} after {timeout}s")


def test_run_started_through_the_api_reports_back(sqlite_url, tmp_path, catalog):
    with live_server(sqlite_url, tmp_path, work_dir=tmp_path / "work") as url:
        register_live(url)
        r = requests.post(f"{url}/api/v1/pipelines/feature_pipeline/runs",
                          json={"events": 2000}, headers=_auth(), timeout=10)
        assert r.status_code == 202, r.text
        run_id = r.json()["runId"]
        assert r.headers["Location"] == f"/api/v1/jobs/runs/{run_id}"
        first = requests.get(f"{url}/api/v1/jobs/runs/{run_id}", headers=_auth(), timeout=5).json()
        assert first["state"] in ("NEW", "RUNNING", "COMPLETED")
        run = _wait_for_end(url, run_id)
        assert run["state"] == "COMPLETED", run.get("errorMessage")
        ds = requests.get(f"{url}/api/v1/namespaces/recsys/datasets/user_features",
                          headers=_auth(), timeout=5).json()
        assert ds["currentVersionNumber"] == 1
        step = requests.get(f"{url}/api/v1/jobs/runs/{_created_by(url, 'user_features')}",
                            headers=_auth(), timeout=5).json()
        assert step["parentRunId"] == run_id
        listed = requests.get(f"{url}/api/v1/pipelines/feature_pipeline/runs",
                              headers=_auth(), timeout=5).json()
        assert [x["runId"] for x in listed["runs"]] == [run_id]
        # The server chose the folder: <work_dir>/<pipeline>/<run id>, its owner's only.
        run_dir = tmp_path / "work" / "feature_pipeline" / run_id
        assert (run_dir / "features.duckdb").is_file()
        assert run_dir.stat().st_mode & 0o777 == 0o700
        log = run_dir / f"worker-{run_id}.log"
        assert log.stat().st_mode & 0o777 == 0o600
        assert f"DuckDB confined to {run_dir}/" in log.read_text()


def _created_by(url: str, name: str) -> str:
    v = requests.get(f"{url}/api/v1/namespaces/recsys/datasets/{name}/versions/1",
                     headers=_auth(), timeout=5).json()
    return v["createdByRun"]["id"]


def test_worker_with_a_malformed_source_fails_and_registers_nothing(sqlite_url, tmp_path,
                                                                   catalog):
    data = tmp_path / "data" / "amazon"
    data.mkdir(parents=True)
    # An item -> attributes map (JSON) where a Taobao CSV belongs.
    (data / "Beauty_item2attributes.json").write_text('{"1": [3, 4], "2": [5]}\n')
    with live_server(sqlite_url, tmp_path, work_dir=tmp_path / "work",
                     data_dir=tmp_path / "data") as url:
        register_live(url)
        r = requests.post(f"{url}/api/v1/pipelines/feature_pipeline/runs",
                          json={"source": "taobao",
                                "input": "amazon/Beauty_item2attributes.json"},
                          headers=_auth(), timeout=10)
        assert r.status_code == 202, r.text
        run = _wait_for_end(url, r.json()["runId"], timeout=60)
        assert run["state"] == "FAILED"
        assert "not a 5-column Taobao UserBehavior CSV" in run["errorMessage"]
        r = requests.get(f"{url}/api/v1/namespaces/recsys/datasets/raw_events",
                         headers=_auth(), timeout=5)
        assert r.status_code == 404 or r.json()["currentVersion"] is None
