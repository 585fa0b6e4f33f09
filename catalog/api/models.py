"""Model registry endpoints: models, versions and aliases."""

from __future__ import annotations

from flask import Blueprint, g, jsonify

from catalog.api.common import json_body, page_args
from catalog.context import db_session, read_session
from catalog.errors import PromotionRefused, ValidationFailed
from catalog.jsoncodec import iso
from catalog.services import models as registry

bp = Blueprint("models", __name__)


def version_json(v, aliases=()) -> dict:
    """One model version."""
    dv = v.dataset_version
    return {
        "model": v.model.name,
        "version": v.version,
        "createdAt": iso(v.created_at),
        "runId": v.run.uuid if v.run else None,
        "artifactPath": v.artifact_path,
        "sha256": v.sha256,
        "codeVersion": v.code_version,
        "hyperparameters": v.hyperparameters or {},
        "metrics": v.metrics or {},
        "description": v.description,
        "aliases": sorted(aliases),
        "derivedFrom": ({"version": v.derived_from.version, "method": v.derivation.method,
                         **v.derivation.details} if v.derivation is not None else None),
        "datasetVersion": {
            "namespace": dv.dataset.namespace.name, "name": dv.dataset.name, "version": dv.uuid,
        } if dv else None,
    }


def model_json(m) -> dict:
    """A model with its versions and aliases."""
    by_version: dict[int, list[str]] = {}
    for a in m.aliases:
        by_version.setdefault(a.model_version_id, []).append(a.alias)
    return {
        "name": m.name,
        "description": m.description,
        "createdAt": iso(m.created_at),
        "updatedAt": iso(m.updated_at),
        "aliases": {a.alias: a.model_version.version for a in m.aliases},
        "latestVersion": m.versions[-1].version if m.versions else None,
        "versions": [version_json(v, by_version.get(v.id, ())) for v in m.versions],
    }


@bp.get("/models")
def list_models():
    """Registered models by name."""
    limit, offset = page_args()
    with read_session() as session:
        rows, total = registry.list_models(session, limit, offset)
        return jsonify({"models": [model_json(m) for m in rows], "totalCount": total})


@bp.put("/models/<name>")
def put_model(name: str):
    """Register a model name (idempotent); body ``{"description"}`` optional."""
    body = json_body() if _has_body() else {}
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="")
    with db_session() as session:
        registry.get_or_create_model(session, name, body.get("description"), actor=g.actor)
    with read_session() as session:
        return jsonify(model_json(registry.find_model(session, name)))


@bp.get("/models/<name>")
def get_model(name: str):
    """One model with versions and aliases."""
    with read_session() as session:
        return jsonify(model_json(registry.find_model(session, name)))


@bp.post("/models/<name>/versions")
def post_version(name: str):
    """Register a version (201): trained, or derived from another without training.

    ``derivedFrom: {"version": N, "method": "int8", ...}`` marks a version made from version N
    of the same model (compressed, say); the run named by ``runId`` must have read N's artifact,
    and further keys (what the producer measured against N) are kept and shown as sent.
    """
    body = json_body()
    with db_session() as session:
        v = registry.create_version(session, name, body, actor=g.actor)
        payload = version_json(v)
    return jsonify(payload), 201


@bp.get("/models/<name>/versions/<ref>")
def get_version(name: str, ref: str):
    """A version by number, alias or ``latest``."""
    with read_session() as session:
        v = registry.resolve_version(session, name, ref)
        aliases = [a.alias for a in v.model.aliases if a.model_version_id == v.id]
        return jsonify(version_json(v, aliases))


@bp.put("/models/<name>/aliases/<alias>")
def put_alias(name: str, alias: str):
    """Point an alias at a version: body ``{"version": N, "tolerance": 0.05}``.

    ``production`` is gated: 409 with ``reasons`` when the version's training data (version by
    version, back to the raw sources) failed a critical check, its validation metrics regress
    beyond ``tolerance`` (relative) against the current production version, a ``pii.*``
    column reaches its training inputs without an approved exemption, or, for a derived
    (compressed) version, its ``valid.ndcg@10`` is more than 2% (relative) below the version it
    derives from. Refusals are audited.
    """
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("version"), int):
        raise ValidationFailed("body must be {\"version\": <integer>}", field="version")
    tolerance = body.get("tolerance", 0.05)
    try:
        with db_session() as session:
            registry.set_alias(session, name, alias, body["version"], tolerance=tolerance,
                               actor=g.actor)
    except PromotionRefused as exc:
        # The refused change rolled back; its audit entry gets a transaction of its own.
        with db_session() as session:
            registry.record_refusal(session, name, alias, body["version"],
                                    exc.details.get("reasons", []), actor=g.actor)
        raise
    with read_session() as session:
        return jsonify(model_json(registry.find_model(session, name)))


def _has_body() -> bool:
    from flask import request

    return bool(request.content_length)
