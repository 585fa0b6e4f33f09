"""Jobs and runs (Marquez: ``/namespaces/{ns}/jobs``, ``/jobs/runs/{id}``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from catalog.api.common import page_args
from catalog.api.shapes import job_json, run_json
from catalog.context import read_session
from catalog.read import browse
from catalog.read.run_states import stored_states

bp = Blueprint("jobs", __name__)


def _last_run_states() -> set[str] | None:
    """Marquez's ``lastRunStates`` filter (repeated or comma-separated; either vocabulary)."""
    words = [w for v in request.args.getlist("lastRunStates") for w in v.split(",") if w.strip()]
    return stored_states(words, field="lastRunStates") if words else None


@bp.get("/namespaces/<path:namespace>/jobs")
def list_jobs(namespace: str):
    """Jobs of a namespace, by name, each with its latest run.

    ``lastRunStates``: only jobs whose latest run is in one of these states (``COMPLETED`` or
    ``COMPLETE``, ``FAILED`` or ``FAIL``, ...).
    """
    limit, offset = page_args()
    states = _last_run_states()
    with read_session() as session:
        rows, latest, total = browse.list_jobs(session, namespace, limit, offset, states)
        return jsonify(
            {"jobs": [job_json(j, latest.get(j.id)) for j in rows], "totalCount": total}
        )


@bp.get("/namespaces/<path:namespace>/jobs/<path:name>")
def get_job(namespace: str, name: str):
    """One job with its latest run."""
    with read_session() as session:
        job, latest = browse.get_job(session, namespace, name)
        return jsonify(job_json(job, latest))


@bp.get("/namespaces/<path:namespace>/jobs/<path:name>/runs")
def list_runs(namespace: str, name: str):
    """Runs of a job, newest first, with the dataset versions each read and wrote."""
    limit, offset = page_args()
    with read_session() as session:
        rows, total = browse.list_runs(session, namespace, name, limit, offset)
        io = browse.run_io_map(session, rows)
        return jsonify({"runs": [run_json(r, io[r.id]) for r in rows], "totalCount": total})


@bp.get("/jobs/runs/<run_id>")
def get_run(run_id: str):
    """One run with the dataset versions it read and wrote."""
    with read_session() as session:
        run, io = browse.get_run(session, run_id)
        return jsonify(run_json(run, io))
