"""The pipelines page: steps as jobs, runs started from it, and its Run form (CSRF, roles)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from catalog.models import PipelineExecution
from pipelines.steps import load_steps
from tests.pipeline_defs import register_pipeline
from tests.runutil import close_runs, wait_for


def _text(r) -> str:
    return r.get_data(as_text=True)


def _csrf(client) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', _text(client.get("/pipelines"))).group(1)


@pytest.fixture(autouse=True)
def registered(app):
    """The feature pipeline registered itself, as before its first run."""
    register_pipeline(app, app.config["TEST_TOKENS"]["admin"])


@pytest.fixture
def work(app, tmp_path):
    """Runs started in the tests work under tmp_path; their workers are stopped afterwards."""
    settings = app.extensions["catalog"].settings.__dict__  # a frozen dataclass
    settings["work_dir"] = str(tmp_path)
    # No server listens there: the worker fails to report, and is stopped below.
    settings["self_url"] = "http://127.0.0.1:9"
    yield tmp_path
    from catalog import launcher

    for proc in launcher.running():  # started by this test's pool: stop them
        proc.kill()
    close_runs(app)  # their supervisors record the end and return
    assert launcher.running() == []


def test_page_lists_steps_as_jobs_with_a_run_form(client):
    body = _text(client.get("/pipelines"))
    assert "<h2 id=\"p-1\">feature_pipeline</h2>" in body
    for step in load_steps():
        assert f'href="/jobs/recsys-pipelines/feature_pipeline.{step.name}"' in body
    assert 'action="/pipelines/feature_pipeline/runs"' in body and "None yet." in body
    assert 'href="/pipelines"' in body  # in the header navigation


def test_roles_without_pipelines_run_see_no_form_and_are_refused(client_as, session):
    viewer = client_as("viewer")
    body = _text(viewer.get("/pipelines"))
    assert "feature_pipeline" in body and "<form method=\"post\"" not in body
    r = viewer.post("/pipelines/feature_pipeline/runs", data={"events": "1000"})
    assert r.status_code == 403 and "pipelines.run" in _text(r)
    assert session.scalars(select(PipelineExecution)).all() == []


def test_form_without_csrf_token_starts_nothing(client, session):
    r = client.post("/pipelines/feature_pipeline/runs", data={"events": "1000"})
    assert r.status_code == 403 and "CSRF token" in _text(r)
    assert session.scalars(select(PipelineExecution)).all() == []


@pytest.mark.parametrize(("form", "message"), [
    ({"events": "5"}, "events must be an integer between 100 and 20000000"),
    ({"events": "many"}, "events must be a whole number"),
    ({"source": "taobao"}, "this server reads none for API-started runs"),
    ({"source": "csv"}, "source must be one of"),
])
def test_bad_form_is_shown_inline_and_starts_nothing(client, session, form, message):
    r = client.post("/pipelines/feature_pipeline/runs", data={**form, "csrf_token": _csrf(client)})
    assert r.status_code == 422
    body = _text(r)
    assert 'role="alert"' in body and message in body
    if "events" in form:
        assert 'aria-invalid="true"' in body and f'value="{form["events"]}"' in body
    assert session.scalars(select(PipelineExecution)).all() == []


def test_run_form_starts_a_worker_and_shows_its_run(client, session, work):
    r = client.post("/pipelines/feature_pipeline/runs", data={
        "csrf_token": _csrf(client), "source": "synthetic", "events": "2,000", "seed": "3"})
    assert r.status_code == 303
    (ex,) = session.scalars(select(PipelineExecution)).all()
    assert r.headers["Location"] == f"/runs/{ex.run_uuid}"
    assert ex.params["events"] == 2000 and ex.params["seed"] == 3

    def taken():  # the server's pool takes it, choosing its folder
        session.rollback()  # ends the transaction (on SQLite it holds the write lock)
        return session.get(PipelineExecution, ex.id).taken_at

    wait_for(taken, what="the run to be taken")
    assert ex.params["workdir"] == str(work.resolve() / "feature_pipeline" / ex.run_uuid)
    assert client.get(r.headers["Location"]).status_code == 200
    body = _text(client.get("/pipelines"))
    assert f'href="/runs/{ex.run_uuid}"' in body and "synthetic, 2,000" in body
