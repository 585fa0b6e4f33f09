"""Pipelines the catalog drives: definitions, and runs started in background workers."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from catalog import launcher
from catalog.api.common import json_body, page_args
from catalog.context import read_session, state
from catalog.jsoncodec import iso
from catalog.services import pipelines as svc

bp = Blueprint("pipelines", __name__)


@bp.get("/pipelines")
def list_pipelines():
    """Pipelines registered with the catalog, with their steps."""
    with read_session() as session:
        return jsonify({"pipelines": svc.describe(session)})


@bp.get("/pipelines/<name>")
def get_pipeline(name: str):
    """One pipeline with its steps (jobs, inputs, outputs, SQL, suites)."""
    with read_session() as session:
        return jsonify(svc.describe(session, name)[0])


@bp.post("/pipelines/<name>/runs")
def start_run(name: str):
    """Start a run in a background worker (202); follow it at /api/v1/jobs/runs/{runId}."""
    body = json_body() if request.content_length else {}
    ex = launcher.start_run(state().sessions, name, body, settings=state().settings,
                            actor=g.actor)
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
