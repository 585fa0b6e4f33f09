"""OpenLineage ingestion endpoints and the raw event feed."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import func, select

from catalog.api.common import db_session, json_body, page_args, read_session, state, time_arg
from catalog.errors import BadRequest, CatalogError, ValidationFailed
from catalog.models import LineageEvent
from catalog.services.ingest import ingest_event

bp = Blueprint("lineage", __name__)


@bp.post("/lineage")
def post_lineage():
    """Accept one OpenLineage RunEvent, DatasetEvent or JobEvent (201; identical re-sends too)."""
    event = json_body()
    with db_session() as session:
        result = ingest_event(session, event)
    return jsonify({"status": result.status, "kind": result.kind, "runId": result.run_id}), 201


@bp.post("/lineage/batch")
def post_lineage_batch():
    """Accept a JSON array of events; each is stored or refused on its own, with a status each.

    Every event runs in its own transaction, so one bad event never loses or half-writes another.
    Responds 201 when all were accepted, 207 when some were refused.
    """
    events = json_body()
    if isinstance(events, dict) and isinstance(events.get("events"), list):
        events = events["events"]
    if not isinstance(events, list):
        raise BadRequest("batch body must be a JSON array of OpenLineage events")
    cap = state().settings.max_batch_events
    if len(events) > cap:
        raise BadRequest(f"batch holds {len(events)} events; the limit is {cap}")
    results, failed = [], 0
    for i, event in enumerate(events):
        try:
            with db_session() as session:
                r = ingest_event(session, event)
            results.append({"index": i, "status": r.status, "kind": r.kind, "runId": r.run_id})
        except CatalogError as exc:
            failed += 1
            body = exc.to_dict()
            results.append({"index": i, "status": "error", "code": exc.status, **body})
    code = 201 if failed == 0 else 207
    return jsonify({"accepted": len(events) - failed, "failed": failed, "results": results}), code


@bp.get("/events/lineage")
def list_events():
    """Raw events, newest first (Marquez: ``before``/``after`` bounds on event time)."""
    limit, offset = page_args()
    before, after = time_arg("before"), time_arg("after")
    if before and after and after > before:
        raise ValidationFailed("'after' must not be later than 'before'", field="after")
    with read_session() as session:
        query = select(LineageEvent)
        if before:
            query = query.where(LineageEvent.event_time <= before)
        if after:
            query = query.where(LineageEvent.event_time >= after)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(
            query.order_by(LineageEvent.event_time.desc(), LineageEvent.id.desc())
            .limit(limit).offset(offset)
        ).all()
        return jsonify({"events": [r.payload for r in rows], "totalCount": total})
