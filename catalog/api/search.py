"""Search (Marquez: ``/search?q=&filter=&sort=&limit=``)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from catalog.api.common import page_args, time_arg
from catalog.context import read_session
from catalog.errors import BadRequest
from catalog.jsoncodec import iso
from catalog.read.search import search

bp = Blueprint("search", __name__)


@bp.get("/search")
def get_search():
    """Datasets and jobs whose name, description or columns match ``q`` (``asOf``: that existed
    by then)."""
    if "q" not in request.args:
        raise BadRequest("query parameter 'q' is required", field="q")
    limit, offset = page_args(default_limit=10)
    kind = request.args.get("filter") or None
    sort = (request.args.get("sort") or "NAME").upper()
    with read_session() as session:
        hits, total = search(session, request.args["q"], kind and kind.upper(), sort, limit, offset,
                             time_arg("asOf"))
    results = [
        {
            "type": h.type,
            "name": h.name,
            "updatedAt": iso(h.updated_at),
            "namespace": h.namespace,
            "nodeId": f"{h.type.lower()}:{h.namespace}:{h.name}",
        }
        for h in hits
    ]
    return jsonify({"totalCount": total, "results": results})
