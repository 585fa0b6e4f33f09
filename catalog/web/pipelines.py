"""Pipeline pages: the pipelines the catalog can run, their steps, runs, and a Run form."""

from __future__ import annotations

from flask import g, redirect, render_template, request

from catalog import run_queue
from catalog.auth.policy import PIPELINES_RUN
from catalog.context import read_session, state
from catalog.errors import ValidationFailed
from catalog.services import pipelines as svc
from catalog.web.common import check_csrf, may, page_blueprint, run_url

bp = page_blueprint("web_pipelines", __name__)

RECENT_RUNS = 20


def _render(errors: dict | None = None, form: dict | None = None, status: int = 200):
    with read_session() as session:
        pipelines = svc.describe(session)
        runs = {p["name"]: svc.list_executions(session, p["name"], RECENT_RUNS, 0)
                for p in pipelines}
        page = render_template("pipelines.html", pipelines=pipelines, runs=runs,
                               job_namespace=svc.JOB_NAMESPACE, sources=svc.SOURCES,
                               may_run=may(PIPELINES_RUN), errors=errors or {}, form=form or {},
                               max_events=state().settings.max_run_events)
    return page, status


@bp.get("/pipelines")
def pipelines():
    """Registered pipelines with their steps (as jobs) and the runs started from here."""
    return _render()


def _form_body(form) -> dict:
    """The API's run request from the form's fields; blank fields take the API's defaults."""
    body: dict = {"source": form.get("source") or "synthetic"}
    for key in ("events", "seed"):
        raw = (form.get(key) or "").strip()
        if raw:
            try:
                body[key] = int(raw.replace(",", "").replace("_", ""))
            except ValueError:
                raise ValidationFailed(f"{key} must be a whole number", field=key) from None
    for key in ("input", "attributes"):
        if (form.get(key) or "").strip():
            body[key] = form[key].strip()
    return body


@bp.post("/pipelines/<name>/runs")
def start_run(name: str):
    """Queue a run for a background worker, then show its run page (form with CSRF token)."""
    check_csrf()
    try:
        body = _form_body(request.form)
        run_id = run_queue.start_run(state(), name, body, actor=g.actor).run_uuid
    except ValidationFailed as exc:
        return _render(errors={"pipeline": name, "field": exc.field or "",
                               "message": exc.message},
                       form=request.form.to_dict(), status=422)
    return redirect(run_url(run_id), 303)
