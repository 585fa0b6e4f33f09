"""Tags (Marquez: ``/tags``, and tagging a dataset or one of its fields)."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from catalog.api.common import json_body, page_args
from catalog.api.shapes import dataset_json
from catalog.context import db_session, read_session
from catalog.read import browse
from catalog.read.tags import list_tags
from catalog.services import stewardship

bp = Blueprint("tags", __name__)

_DS = "/namespaces/<path:namespace>/datasets/<path:name>"


def tag_json(tag) -> dict:
    """A tag as Marquez returns it."""
    return {"name": tag.name, "description": tag.description}


@bp.get("/tags")
def get_tags():
    """All tags, by name."""
    limit, offset = page_args()
    with read_session() as session:
        rows, total = list_tags(session, limit, offset)
        return jsonify({"tags": [tag_json(t) for t in rows], "totalCount": total})


@bp.put("/tags/<name>")
def put_tag(name: str):
    """Create a tag or replace its description: body ``{"description"}`` (optional)."""
    body = json_body() if request.content_length else None
    with db_session() as session:
        payload = tag_json(stewardship.put_tag(session, name, body, actor=g.actor))
    return jsonify(payload)


def _dataset(namespace: str, name: str):
    with read_session() as session:
        ds = browse.get_dataset(session, namespace, name)
        return jsonify(dataset_json(ds, browse.field_views(session, [ds.id])[ds.id]))


@bp.post(f"{_DS}/tags/<tag>")
def tag_dataset(namespace: str, name: str, tag: str):
    """Tag a dataset (a new tag is created); answers the dataset. Takes no body."""
    with db_session() as session:
        stewardship.tag_dataset(session, namespace, name, tag, actor=g.actor)
    return _dataset(namespace, name)


@bp.post(f"{_DS}/fields/<field>/tags/<tag>")
def tag_field(namespace: str, name: str, field: str, tag: str):
    """Tag a field of a dataset (a new tag is created); answers the dataset. Takes no body."""
    with db_session() as session:
        stewardship.tag_field(session, namespace, name, field, tag, actor=g.actor)
    return _dataset(namespace, name)
