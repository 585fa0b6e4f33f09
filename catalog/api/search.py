"""Search (Marquez: ``/search?q=&filter=&sort=&limit=&offset=&asOf=``), answered by the pages'
full-text index (``read/fulltext.py``: its docstring says what matches)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from catalog.api.common import page_args, time_arg
from catalog.context import read_session
from catalog.errors import BadRequest
from catalog.jsoncodec import iso
from catalog.read.fulltext import search_assets

bp = Blueprint("search", __name__)

_TYPES = {"d": "DATASET", "j": "JOB"}


@bp.get("/search")
def get_search():
    """Datasets and jobs whose name, namespace, description, columns, tags or owners hold words
    beginning with each word of ``q`` (``asOf``: that existed by then)."""
    if "q" not in request.args:
        raise BadRequest("query parameter 'q' is required", field="q")
    limit, offset = page_args(default_limit=10)
    type_filter = (request.args.get("filter") or "").upper() or None
    sort = (request.args.get("sort") or "NAME").upper()
    as_of = time_arg("asOf")
    with read_session() as session:
        hits, total = search_assets(session, request.args["q"], type_filter=type_filter,
                                    sort=sort, limit=limit, offset=offset, as_of=as_of)
    results = []
    for h in hits:
        type_ = _TYPES[h.entity]
        results.append({
            "type": type_,
            "name": h.name,
            "updatedAt": iso(h.updated_at),
            "namespace": h.namespace,
            "nodeId": f"{type_.lower()}:{h.namespace}:{h.name}",
        })
    return jsonify({"totalCount": total, "results": results})
