"""Approved exemptions for sensitive training data, and the gate that checks a model needs none.

Promotion to a gated alias (production) is refused while a column tagged ``pii.*`` — tagged
itself or inheriting the tag along column lineage — is among the model's training inputs and no
unrevoked exemption for that model covers it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import NotFound, ValidationFailed
from catalog.ingest.writes import find_dataset
from catalog.models import Dataset, ModelVersion, PolicyExemption, RunIO
from catalog.models.base import utcnow
from catalog.services.audit import record_change
from catalog.services.classification import effective_tags

ENTITY = "policy_exemption"
# Tags whose presence in training data needs an exemption.
GATED_TAG_PREFIX = "pii."


def _json(e: PolicyExemption, session: Session) -> dict:
    ds = session.get(Dataset, e.dataset_id) if e.dataset_id else None
    return {"id": e.id, "model": e.model_name, "tag": e.tag,
            "dataset": {"namespace": ds.namespace.name, "name": ds.name} if ds else None,
            "field": e.field, "reason": e.reason, "approvedBy": e.approved_by,
            "createdAt": _iso(e.created_at), "revokedAt": _iso(e.revoked_at)}


def _iso(t) -> str | None:
    return t.isoformat() if t is not None else None


def exemption_json(session: Session, e: PolicyExemption) -> dict:
    """JSON shape of an exemption."""
    return _json(e, session)


def create_exemption(session: Session, model: str, body: object, *, actor: str) -> PolicyExemption:
    """Approve ``model``'s use of a tag (``pii.email`` or ``pii.*``), optionally on one column."""
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="")
    unknown = sorted(set(body) - {"tag", "namespace", "dataset", "field", "reason"})
    if unknown:
        raise ValidationFailed(f"unknown keys: {unknown}", field=unknown[0])
    tag = body.get("tag")
    if not isinstance(tag, str) or not tag.startswith(GATED_TAG_PREFIX) or len(tag) > 128:
        raise ValidationFailed(f"tag must be a {GATED_TAG_PREFIX}* tag or '{GATED_TAG_PREFIX}*'",
                               field="tag")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed("an exemption needs a reason", field="reason")
    ds = None
    if body.get("dataset") is not None or body.get("namespace") is not None:
        if not isinstance(body.get("namespace"), str) or not isinstance(body.get("dataset"), str):
            raise ValidationFailed("namespace and dataset go together, as strings",
                                   field="dataset")
        ds = find_dataset(session, body["namespace"], body["dataset"])
    field = body.get("field")
    if field is not None and (ds is None or not isinstance(field, str)):
        raise ValidationFailed("field needs a namespace and dataset, and must be a string",
                               field="field")
    e = PolicyExemption(model_name=model, tag=tag, dataset_id=ds.id if ds else None, field=field,
                        reason=reason, approved_by=actor, created_at=utcnow())
    session.add(e)
    session.flush()
    record_change(session, actor=actor, action="exemption.approve", entity_type=ENTITY,
                  entity_key=model, after=_json(e, session))
    return e


def list_exemptions(session: Session, model: str) -> list[PolicyExemption]:
    """A model's exemptions, revoked ones included, oldest first."""
    return list(session.scalars(select(PolicyExemption).where(PolicyExemption.model_name == model)
                                .order_by(PolicyExemption.id)))


def revoke_exemption(session: Session, model: str, exemption_id: int, *,
                     actor: str) -> PolicyExemption:
    """Revoke an exemption; promotions after this are gated again."""
    e = session.get(PolicyExemption, exemption_id)
    if e is None or e.model_name != model:
        raise NotFound(f"model {model!r} has no exemption {exemption_id}", field="id")
    if e.revoked_at is None:
        before = _json(e, session)
        e.revoked_at = utcnow()
        session.flush()
        record_change(session, actor=actor, action="exemption.revoke", entity_type=ENTITY,
                      entity_key=model, before=before, after=_json(e, session))
    return e


def _covers(e: PolicyExemption, tag: str, ds_id: int, field: str) -> bool:
    tag_ok = e.tag == tag or (e.tag.endswith("*") and tag.startswith(e.tag[:-1]))
    return (tag_ok and (e.dataset_id is None or e.dataset_id == ds_id)
            and (e.field is None or e.field == field))


def sensitive_input_problems(session: Session, model: str, target: ModelVersion) -> list[str]:
    """Why ``target``'s training inputs may not reach production: unexempted pii.* columns."""
    if target.run_id is None:
        return []
    inputs = sorted(set(session.scalars(select(RunIO.dataset_id).where(
        RunIO.run_id == target.run_id, RunIO.direction == "input"))))
    active = [e for e in list_exemptions(session, model) if e.revoked_at is None]
    problems = []
    for ds_id in inputs:
        ds = session.get(Dataset, ds_id)
        for ref in effective_tags(session, ds_id):
            if not ref.tag.startswith(GATED_TAG_PREFIX):
                continue
            if any(_covers(e, ref.tag, ds_id, ref.field) for e in active):
                continue
            where = f"{ds.namespace.name}:{ds.name}.{ref.field}"
            origin = ""
            if ref.inherited:
                src = session.get(Dataset, ref.source_dataset_id)
                origin = f" (inherited from {src.namespace.name}:{src.name}.{ref.source_field})"
            problems.append(f"training input {where} carries {ref.tag}{origin} without an "
                            "approved exemption")
    return problems
