"""Data sources (Marquez: ``/sources``): read-only; producers report them in OpenLineage's
``dataSource`` facet."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, jsonify

from catalog.api.common import page_args
from catalog.context import read_session
from catalog.jsoncodec import iso
from catalog.read import sources

bp = Blueprint("sources", __name__)


def source_json(source) -> dict:
    """A source as Marquez returns it; ``type`` is the connection URL's scheme, upper-cased
    (null without a URL), and ``description`` is null: producers report neither."""
    scheme = urlsplit(source.uri).scheme if source.uri else ""
    return {
        "type": scheme.upper() or None,
        "name": source.name,
        "createdAt": iso(source.created_at),
        "updatedAt": iso(source.updated_at),
        "connectionUrl": source.uri,
        "description": None,
    }


@bp.get("/sources")
def list_sources():
    """All sources, by name."""
    limit, offset = page_args()
    with read_session() as session:
        rows, total = sources.list_sources(session, limit, offset)
        return jsonify({"sources": [source_json(s) for s in rows], "totalCount": total})


@bp.get("/sources/<path:name>")
def get_source(name: str):
    """One source."""
    with read_session() as session:
        return jsonify(source_json(sources.get_source(session, name)))
