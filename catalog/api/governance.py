"""Column classifications (own, inherited, suggested) and policy exemptions for models."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from catalog.api.common import json_body, time_arg
from catalog.context import db_session, read_session
from catalog.errors import ValidationFailed
from catalog.services import classification as cls
from catalog.services import exemptions as exm

bp = Blueprint("governance", __name__)

_DS = "/namespaces/<path:namespace>/datasets/<path:name>"


@bp.get(f"{_DS}/classifications")
def get_classifications(namespace: str, name: str):
    """Per column: own tags, tags inherited along column lineage (with their source column),
    and detector suggestions awaiting a steward; ``asOf`` for the state at a past time."""
    at = time_arg("asOf")
    with read_session() as session:
        return jsonify(cls.describe(session, namespace, name, at))


@bp.put(f"{_DS}/fields/<field>/classifications/<tag>")
def put_classification(namespace: str, name: str, field: str, tag: str):
    """Apply a tag to a column (accepting a suggestion if there is one); body ``{"reason"}``."""
    body = json_body() if request.content_length else {}
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="")
    with db_session() as session:
        cls.classify(session, namespace, name, field, tag, actor=g.actor,
                     reason=body.get("reason"))
    with read_session() as session:
        return jsonify(cls.describe(session, namespace, name))


@bp.delete(f"{_DS}/fields/<field>/classifications/<tag>")
def delete_classification(namespace: str, name: str, field: str, tag: str):
    """Remove a tag from a column, or reject a suggestion."""
    with db_session() as session:
        cls.declassify(session, namespace, name, field, tag, actor=g.actor)
    with read_session() as session:
        return jsonify(cls.describe(session, namespace, name))


@bp.post(f"{_DS}/classifications/detect")
def detect(namespace: str, name: str):
    """Run the detectors on the dataset's columns; new suggestions are stored, not applied."""
    with db_session() as session:
        found = cls.detect(session, namespace, name, actor=g.actor)
    return jsonify({"suggested": found})


@bp.get("/models/<name>/exemptions")
def list_exemptions(name: str):
    """Exemptions approved for a model (revoked ones included)."""
    with read_session() as session:
        return jsonify({"exemptions": [exm.exemption_json(session, e)
                                       for e in exm.list_exemptions(session, name)]})


@bp.post("/models/<name>/exemptions")
def post_exemption(name: str):
    """Approve a model's use of a pii tag: ``{"tag", "reason", "namespace"?, "dataset"?,
    "field"?}`` (201)."""
    body = json_body()
    with db_session() as session:
        e = exm.create_exemption(session, name, body, actor=g.actor)
        payload = exm.exemption_json(session, e)
    return jsonify(payload), 201


@bp.delete("/models/<name>/exemptions/<int:exemption_id>")
def revoke_exemption(name: str, exemption_id: int):
    """Revoke an exemption."""
    with db_session() as session:
        e = exm.revoke_exemption(session, name, exemption_id, actor=g.actor)
        payload = exm.exemption_json(session, e)
    return jsonify(payload)
