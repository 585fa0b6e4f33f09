"""Namespaces (Marquez: ``/namespaces``), and Marquez's way to create or describe one."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from catalog.api.common import json_body, page_args
from catalog.context import db_session, read_session
from catalog.ingest.writes import find_namespace
from catalog.jsoncodec import iso
from catalog.read import browse
from catalog.services import namespaces as svc

bp = Blueprint("namespaces", __name__)


def _ns(ns) -> dict:
    return {
        "name": ns.name,
        "createdAt": iso(ns.created_at),
        "updatedAt": iso(ns.updated_at),
        "ownerName": ns.owner_name,
        "description": ns.description,
        "isHidden": False,
    }


@bp.get("/namespaces")
def list_namespaces():
    """All namespaces, by name."""
    limit, offset = page_args()
    with read_session() as session:
        rows, total = browse.list_namespaces(session, limit, offset)
        return jsonify({"namespaces": [_ns(n) for n in rows], "totalCount": total})


@bp.get("/namespaces/<path:namespace>")
def get_namespace(namespace: str):
    """One namespace."""
    with read_session() as session:
        return jsonify(_ns(find_namespace(session, namespace)))


@bp.put("/namespaces/<path:namespace>")
def put_namespace(namespace: str):
    """Create a namespace or replace its owner and description: body ``{"ownerName",
    "description"}`` (Marquez's NamespaceMeta; ``ownerName`` required)."""
    body = json_body()
    with db_session() as session:
        payload = _ns(svc.put_namespace(session, namespace, body, actor=g.actor))
    return jsonify(payload)
