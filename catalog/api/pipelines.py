"""Pipelines the catalog drives: definitions, and runs started in background workers."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from catalog.api.common import json_body, page_args
from catalog.api.shapes import iso
from catalog.context import db_session, read_session, state
from catalog.services import pipelines as svc

bp = Blueprint("pipelines", __name__)


@bp.get("/pipelines")
def list_pipelines():
    """Pipelines this deployment can run, with their steps."""
    return jsonify({"pipelines": svc.describe()})


@bp.get("/pipelines/<name>")
def get_pipeline(name: str):
    """One pipeline with its steps (jobs, inputs, outputs, SQL, suites)."""
    return jsonify(svc.describe(name)[0])


@bp.post("/pipelines/<name>/runs")
def start_run(name: str):
    """Start a run in a background worker (202); follow it at /api/v1/jobs/runs/{runId}."""
    body = json_body() if request.content_length else {}
    with db_session() as session:
        ex = svc.start_run(session, name, body, settings=state().settings, actor=g.actor)
        payload = {"runId": ex.run_uuid, "pipeline": name, "params": ex.params,
                   "createdAt": iso(ex.created_at), "run": f"/api/v1/jobs/runs/{ex.run_uuid}"}
    return jsonify(payload), 202, {"Location": payload["run"]}


@bp.get("/pipelines/<name>/runs")
def list_runs(name: str):
    """Runs of the pipeline started through the catalog, newest first."""
    limit, offset = page_args()
    with read_session() as session:
        rows = svc.list_executions(session, name, limit, offset)
        return jsonify({"runs": [{"runId": r.run_uuid, "params": r.params, "pid": r.pid,
                                  "createdAt": iso(r.created_at)} for r in rows]})
