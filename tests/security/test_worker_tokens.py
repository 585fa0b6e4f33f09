"""Finding 2 (medium): the worker reported to whatever the Host header said, with a fresh 24-hour
pipeline token good for anything, which outlived its run and the token of whoever started it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from catalog.models import ApiToken, Run
from tests.authutil import client_class
from tests.factories import run_event
from tests.security.conftest import bearer_client

RUNS = "/api/v1/pipelines/feature_pipeline/runs"
NS = "recsys-pipelines"


@pytest.fixture
def started(make_app, tmp_path, launches):
    """An app, the pipeline client that started a run, the run id and the worker's client."""
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:5001")
    starter = bearer_client(app, "pipeline", name="ci")
    r = starter.post(RUNS, json={"events": 1000})
    assert r.status_code == 202
    (launch,) = launches.wait(1)
    worker = client_class(launch.env["CATALOG_TOKEN"])(app, app.response_class)
    return app, starter, r.get_json()["runId"], worker


def _parent(run_id: str) -> dict:
    return {"parent": {"_producer": "https://example.com/p",
                       "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/"
                                     "ParentRunFacet.json#/$defs/ParentRunFacet",
                       "run": {"runId": run_id},
                       "job": {"namespace": NS, "name": "feature_pipeline"}}}


def _run(app, run_id: str) -> Run | None:
    with app.extensions["catalog"].read_sessions() as s:
        return s.scalar(select(Run).where(Run.uuid == run_id))


@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1:5001@evil.example"])
def test_the_callback_is_never_the_host_header(make_app, tmp_path, launches, host):
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:5001")
    client = bearer_client(app, "pipeline")
    r = client.post(RUNS, json={"events": 1000}, headers={"Host": host})
    assert r.status_code == 202
    assert launches.wait(1)[0].arg("catalog-url") == "http://127.0.0.1:5001"


def test_the_public_url_wins_and_without_any_address_nothing_starts(make_app, tmp_path, launches):
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:5001",
                   public_url="https://catalog.example")
    client = bearer_client(app, "pipeline")
    assert client.post(RUNS, json={"events": 1000}).status_code == 202
    assert launches.wait(1)[0].arg("catalog-url") == "https://catalog.example"
    bare = make_app(pipeline=True, work_dir=str(tmp_path / "work"))
    r = bearer_client(bare, "pipeline", name="p2").post(RUNS, json={"events": 1000},
                                                        headers={"Host": "evil.example"})
    assert r.status_code == 503 and "CATALOG_PUBLIC_URL" in r.get_json()["message"]
    assert len(launches.started) == 1


def test_trusted_hosts_refuse_a_forged_host(make_app):
    app = make_app(trusted_hosts=("catalog.example", ".internal.example"))
    client = bearer_client(app, "viewer")
    assert client.get("/api/v1/namespaces", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/api/v1/namespaces",
                      headers={"Host": "catalog.example"}).status_code == 200
    assert client.get("/api/v1/namespaces",
                      headers={"Host": "a.internal.example"}).status_code == 200


def test_the_worker_token_reports_only_its_run(started):
    app, _, run_id, worker = started
    other_job = run_event("START", "other_job", ns=NS)
    r = worker.post("/api/v1/lineage", json=other_job)
    assert r.status_code == 403 and "may report only run" in r.get_json()["message"]
    r = worker.post("/api/v1/lineage", json=run_event("START", "feature_pipeline", ns="elsewhere",
                                                      run_id=run_id))
    assert r.status_code == 403
    # A "child" that does not name the run as its parent.
    r = worker.post("/api/v1/lineage/batch", json=[
        run_event("START", "feature_pipeline.x", ns=NS),
    ])
    assert r.status_code == 403
    # Other writes the pipeline role allows are not this token's.
    assert worker.put("/api/v1/namespaces/recsys/datasets/d", json={}).status_code == 403
    assert worker.post(RUNS, json={"events": 1000}).status_code == 403
    assert worker.post("/api/v1/models/m/versions", json={}).status_code == 403
    assert _run(app, other_job["run"]["runId"]) is None
    # Its own run and its children are fine.
    assert worker.post("/api/v1/lineage", json=run_event(
        "START", "feature_pipeline", ns=NS, run_id=run_id)).status_code == 201
    child = run_event("START", "feature_pipeline.events_clean", ns=NS,
                      run_facets=_parent(run_id))
    assert worker.post("/api/v1/lineage/batch", json=[child]).status_code == 201
    assert worker.get("/api/v1/namespaces").status_code == 200


def test_a_child_cannot_take_over_an_existing_run(started):
    app, starter, run_id, worker = started
    victim = run_event("START", "feature_pipeline.victim", ns=NS)
    assert starter.post("/api/v1/lineage", json=victim).status_code == 201
    hijack = run_event("COMPLETE", "feature_pipeline.victim", ns=NS,
                       run_id=victim["run"]["runId"], run_facets=_parent(run_id))
    r = worker.post("/api/v1/lineage", json=hijack)
    assert r.status_code == 403 and "another parent" in r.get_json()["message"]
    assert _run(app, victim["run"]["runId"]).state == "START"


def test_a_child_is_admitted_only_by_a_parent_facet_the_catalog_interprets(started):
    """Facets are lenient (a bad one is stored, not interpreted), but a worker's child run is
    admitted by its parent facet: for a worker's token run facets are strict, or a parent facet
    the catalog would drop could admit a run that is nobody's child."""
    app, starter, run_id, worker = started
    child = run_event("START", "feature_pipeline.events_clean", ns=NS, run_facets=_parent(run_id))
    del child["run"]["facets"]["parent"]["_producer"]
    for path, body in (("/api/v1/lineage", child), ("/api/v1/lineage/batch", [child])):
        r = worker.post(path, json=body)
        refusal = r.get_json() if path.endswith("lineage") else r.get_json()["results"][0]
        assert refusal["field"] == "run.facets.parent._producer", refusal
    assert _run(app, child["run"]["runId"]) is None
    # Other callers' events keep lenient run facets.
    r = starter.post("/api/v1/lineage", json=child)
    assert r.status_code == 201 and r.get_json()["warnings"] == [{
        "field": "run.facets.parent._producer", "message": "required property is missing"}]
    assert _run(app, child["run"]["runId"]).parent_run_uuid is None


def test_the_worker_token_is_revoked_when_its_run_ends(started):
    app, _, run_id, worker = started
    for state in ("START", "COMPLETE"):
        r = worker.post("/api/v1/lineage", json=run_event(state, "feature_pipeline", ns=NS,
                                                          run_id=run_id))
        assert r.status_code == 201
    assert worker.get("/api/v1/namespaces").status_code == 401
    r = worker.post("/api/v1/lineage", json=run_event("START", "feature_pipeline", ns=NS,
                                                      run_id=str(uuid.uuid4())))
    assert r.status_code == 401
    with app.extensions["catalog"].read_sessions() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.scope_run_uuid == run_id))
    assert row.revoked_at is not None


def test_a_run_whose_starter_is_revoked_fails(started):
    app, _, run_id, worker = started
    admin = bearer_client(app, "admin")
    assert worker.post("/api/v1/lineage", json=run_event(
        "START", "feature_pipeline", ns=NS, run_id=run_id)).status_code == 201
    from catalog.db import session_scope
    from catalog.services import auth

    with session_scope(app.extensions["catalog"].sessions) as s:
        auth.revoke_token(s, "ci", actor="admin")
    r = worker.post("/api/v1/lineage", json=run_event("COMPLETE", "feature_pipeline", ns=NS,
                                                      run_id=run_id))
    assert r.status_code == 401 and "started its run was revoked" in r.get_json()["message"]
    run = _run(app, run_id)
    assert run.state == "FAIL"
    r = admin.get(f"/api/v1/jobs/runs/{run_id}")
    assert "token:ci" in r.get_json()["errorMessage"]
    assert worker.get("/api/v1/namespaces").status_code == 401


def test_a_run_whose_starting_user_is_disabled_fails(make_app, tmp_path, launches):
    from catalog.db import session_scope
    from catalog.services import auth

    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:5001")
    with session_scope(app.extensions["catalog"].sessions) as s:
        auth.create_user(s, "pia", "a long password", "pipeline", actor="admin")
    browser = app.test_client()
    csrf = browser.post("/login", json={"name": "pia", "password": "a long password"}
                        ).get_json()["csrfToken"]
    r = browser.post(RUNS, json={"events": 1000}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 202
    run_id = r.get_json()["runId"]
    worker = client_class(launches.wait(1)[0].env["CATALOG_TOKEN"])(app, app.response_class)
    with session_scope(app.extensions["catalog"].sessions) as s:
        auth.set_user_disabled(s, "pia", True, actor="admin")
    assert worker.get("/api/v1/namespaces").status_code == 401
    assert _run(app, run_id).state == "FAIL"


def test_reaping_a_stale_run_revokes_its_token(started):
    from datetime import timedelta

    from catalog.db import session_scope
    from catalog.models.base import utcnow
    from catalog.services.runs import reap_stale_runs

    app, _, run_id, worker = started
    assert worker.post("/api/v1/lineage", json=run_event(
        "START", "feature_pipeline", ns=NS, run_id=run_id)).status_code == 201
    with session_scope(app.extensions["catalog"].sessions) as s:
        reaped = reap_stale_runs(s, timedelta(0), now=utcnow() + timedelta(days=3650))
    assert run_id in [r.run_id for r in reaped]
    assert worker.get("/api/v1/namespaces").status_code == 401


@pytest.mark.parametrize(("host", "url"), [
    ("0.0.0.0", "http://127.0.0.1:8000"), ("", "http://127.0.0.1:8000"),
    ("::", "http://[::1]:8000"), ("[::]", "http://[::1]:8000"),
    ("10.1.2.3", "http://10.1.2.3:8000"), ("catalog.internal", "http://catalog.internal:8000"),
])
def test_the_servers_own_address_comes_from_what_it_binds(host, url):
    from catalog.config import own_url

    assert own_url(host, 8000) == url


def test_a_worker_that_cannot_start_fails_its_run_and_its_token(make_app, tmp_path,
                                                                 monkeypatch):
    from catalog import launcher
    from tests.runutil import wait_for

    def refuse(*_args, **_kwargs):
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(launcher.subprocess, "Popen", refuse)
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"),
                   self_url="http://127.0.0.1:5001")
    client = bearer_client(app, "pipeline")
    r = client.post(RUNS, json={"events": 1000})
    assert r.status_code == 202  # queued; the pool's supervisor fails to start it
    run_id = r.get_json()["runId"]
    wait_for(lambda: _run(app, run_id).state == "FAIL", what="the run to fail")
    with app.extensions["catalog"].read_sessions() as s:
        token = s.scalar(select(ApiToken).where(ApiToken.name == f"worker:{run_id}"))
    assert token.revoked_at is not None
    detail = bearer_client(app, "viewer").get(f"/api/v1/jobs/runs/{run_id}").get_json()
    assert "the worker could not start: Cannot allocate memory" in detail["errorMessage"]
