"""Operational probes: ``/healthz`` (the database answers) and ``/readyz`` (fit to take traffic).

Both are plain, unauthenticated GETs with stable endpoint names (``ops.healthz``, ``ops.readyz``)
so an auth policy can exempt them by name. Neither touches the catalog's tables.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from catalog.context import state
from catalog.db import current_revision

bp = Blueprint("ops", __name__)


def _database_error(exc: DBAPIError) -> str:
    # The driver's first line names the problem (refused, timed out...) without a stack.
    return str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc).__name__


@bp.get("/healthz")
def healthz():
    """200 when this process can run a query on its database; 503 JSON naming why not."""
    try:
        with state().read_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        return jsonify({"status": "unhealthy", "error": "DatabaseUnavailable",
                        "message": f"database check failed: {_database_error(exc)}"}), 503
    return jsonify({"status": "ok", "database": "ok"})


@bp.get("/readyz")
def readyz():
    """200 when the database is reachable, at the code's head revision, and not shutting down."""
    st = state()
    problems = []
    if st.stop_requested or st.stopping.is_set():
        problems.append("shutting down")
    try:
        current = current_revision(st.read_engine)
    except DBAPIError as exc:
        current = None
        problems.append(f"database check failed: {_database_error(exc)}")
    else:
        if current != st.head:
            problems.append(f"database schema is at {current or 'no revision'}, "
                            f"code expects {st.head}")
    body = {"status": "ready" if not problems else "not ready", "revision": current,
            "head": st.head}
    if problems:
        return jsonify({**body, "error": "NotReady", "message": "; ".join(problems)}), 503
    return jsonify(body)
