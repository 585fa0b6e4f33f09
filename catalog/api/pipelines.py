"""Pipelines the catalog drives: definitions, and runs started in background workers."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from catalog import run_queue
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
    """Queue a run for a background worker (202, NEW); follow it at /api/v1/jobs/runs/{runId}."""
    body = json_body() if request.content_length else {}
    ex = run_queue.start_run(state(), name, body, actor=g.actor)
    payload = {"runId": ex.run_uuid, "pipeline": name, "state": "NEW", "params": ex.params,
               "createdAt": iso(ex.created_at), "run": f"/api/v1/jobs/runs/{ex.run_uuid}"}
    return jsonify(payload), 202, {"Location": payload["run"]}


@bp.post("/pipelines/<name>/runs/<run_id>/cancel")
def cancel_run(name: str, run_id: str):
    """Cancel a run started through the catalog: a queued one leaves the queue, a running one's
    worker is stopped; either ends ABORT (409 once it has ended)."""
    was = run_queue.cancel_run(state(), name, run_id, actor=g.actor)
    return jsonify({"runId": run_id, "pipeline": name, "state": "ABORT", "was": was,
                    "run": f"/api/v1/jobs/runs/{run_id}"})


@bp.get("/pipelines/<name>/runs")
def list_runs(name: str):
    """Runs of the pipeline started through the catalog, newest first."""
    limit, offset = page_args()
    with read_session() as session:
        rows = svc.list_executions(session, name, limit, offset)
        return jsonify({"runs": [{"runId": r.run_uuid, "params": r.params, "pid": r.pid,
                                  "createdAt": iso(r.created_at), "takenBy": r.taken_by,
                                  "takenAt": iso(r.taken_at) if r.taken_at else None,
                                  "exitCode": r.exit_code, "cancelledBy": r.cancelled_by}
                                 for r in rows]})
