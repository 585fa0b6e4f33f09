"""Finding 3 (medium): API writes accepted the login cookie alone; a cross-site POST with
``Content-Type: text/plain`` and a foreign Origin got 201 on /api/v1/lineage and 202 on a
pipeline run. Now a cookie-authenticated write needs the session's CSRF token in a header and a
same-site Origin, and JSON endpoints read JSON only."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from catalog.db import session_scope
from catalog.models import LineageEvent, PipelineExecution
from catalog.services import auth
from tests.factories import run_event
from tests.security.conftest import bearer_client

OWN = "http://localhost"


@pytest.fixture
def browser(make_app, tmp_path, launches):
    """A logged-in admin's browser (cookie only) and the session's CSRF token."""
    app = make_app(pipeline=True, work_dir=str(tmp_path / "work"), self_url="http://127.0.0.1:9")
    with session_scope(app.extensions["catalog"].sessions) as s:
        auth.create_user(s, "ada", "a long password", "admin", actor="test")
    client = app.test_client()
    r = client.post("/login", json={"name": "ada", "password": "a long password"})
    assert r.status_code == 200
    return app, client, r.get_json()["csrfToken"]


def _stored(app) -> tuple[int, int]:
    with app.extensions["catalog"].read_sessions() as s:
        return (s.scalar(select(func.count()).select_from(LineageEvent)),
                s.scalar(select(func.count()).select_from(PipelineExecution)))


ATTACKS = [
    # The reported attack: a simple cross-site form post, as text/plain.
    {"Content-Type": "text/plain", "Origin": "https://evil.example"},
    {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"},
    {"Content-Type": "multipart/form-data; boundary=x", "Origin": "null"},
    # JSON, from a sibling origin (another port: SameSite=Lax lets the cookie through).
    {"Content-Type": "application/json", "Origin": "http://localhost:8080"},
    {"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"},
    {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
    # Same origin, but no token: a page elsewhere on the site cannot forge a token.
    {"Content-Type": "application/json", "Origin": OWN},
    {"Content-Type": "application/json", "Origin": OWN, "X-CSRF-Token": "guess"},
]


@pytest.mark.parametrize("headers", ATTACKS)
def test_cross_site_writes_with_the_cookie_are_refused(browser, headers):
    app, client, _ = browser
    before = _stored(app)
    event = json.dumps(run_event("START", "j"))
    r = client.post("/api/v1/lineage", data=event, headers=headers)
    assert r.status_code in (403, 415), r.get_json()
    r = client.post("/api/v1/lineage/batch", data=f"[{event}]", headers=headers)
    assert r.status_code in (403, 415)
    r = client.post("/api/v1/pipelines/feature_pipeline/runs", data='{"events": 1000}',
                    headers=headers)
    assert r.status_code in (403, 415)
    r = client.post("/api/v1/pipelines/feature_pipeline/runs", headers=headers)  # empty body
    assert r.status_code in (403, 415)
    assert _stored(app) == before


def test_a_same_origin_write_with_the_token_is_accepted(browser):
    app, client, csrf = browser
    events, runs = _stored(app)
    r = client.post("/api/v1/lineage", json=run_event("START", "j"),
                    headers={"X-CSRF-Token": csrf, "Origin": OWN, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 201
    r = client.post("/api/v1/lineage", json=run_event("START", "j2"),
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201  # a script with the cookie and the token, no browser headers
    assert _stored(app) == (events + 2, runs)


def test_the_token_is_on_every_page(browser):
    _, client, csrf = browser
    assert f'<meta name="csrf-token" content="{csrf}">' in client.get("/").get_data(as_text=True)


def test_bearer_clients_need_no_csrf_token_but_must_send_json(make_app):
    app = make_app()
    client = bearer_client(app, "pipeline")
    events, runs = _stored(app)
    event = json.dumps(run_event("START", "j"))
    r = client.post("/api/v1/lineage", data=event, headers={"Content-Type": "text/plain",
                                                             "Origin": "https://evil.example"})
    assert r.status_code == 415 and r.get_json()["field"] == "Content-Type"
    r = client.post("/api/v1/lineage", data=event)  # no Content-Type at all
    assert r.status_code == 415
    r = client.post("/api/v1/lineage", data=event, headers={"Content-Type": "application/json"})
    assert r.status_code == 201
    assert _stored(app) == (events + 1, runs)
