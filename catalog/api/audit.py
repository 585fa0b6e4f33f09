"""The audit trail: filtered pages and whole exports (auditor and admin only, by policy)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context

from catalog.api.common import page_args, time_arg
from catalog.context import read_session
from catalog.errors import BadRequest
from catalog.services import audit

bp = Blueprint("audit", __name__)


def _filters() -> dict:
    since, until = time_arg("since"), time_arg("until")
    if since and until and since > until:
        raise BadRequest("'since' must not be later than 'until'", field="since")
    return {"entity_type": request.args.get("entityType") or None,
            "entity_key": request.args.get("entityKey") or None,
            "actor": request.args.get("actor") or None, "since": since, "until": until}


@bp.get("/audit")
def list_entries():
    """Entries oldest first, filtered by ``entityType``, ``entityKey``, ``actor``, ``since`` and
    ``until`` (exclusive); paged by ``limit`` and ``offset``."""
    limit, offset = page_args()
    filters = _filters()
    with read_session() as session:
        rows = audit.query_entries(session, **filters, limit=limit + 1, offset=offset)
        entries = [audit.as_dict(e) for e in rows[:limit]]
    return jsonify({"entries": entries, "limit": limit, "offset": offset,
                    "hasMore": len(rows) > limit})


@bp.get("/audit/export")
def export_entries():
    """The filtered trail as JSON lines (``format=jsonl``, default) or CSV (``format=csv``)."""
    fmt = (request.args.get("format") or "jsonl").lower()
    if fmt not in ("jsonl", "csv"):
        raise BadRequest("format must be jsonl or csv", field="format")
    filters = _filters()
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return Response(stream_with_context(audit.export_lines(read_session, filters, fmt)),
                    mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename=audit.{fmt}"})
