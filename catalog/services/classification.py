"""Sensitivity tags on columns: set by stewards, suggested by detectors, inherited along lineage.

A tag on a column flows to every column derived from it through column-level lineage, unless
each path is cut by a transformation declared masking (hashing, bucketing...) or aggregating
(counts, sums: OpenLineage subtype AGGREGATION), or carries only INDIRECT influence (filters,
joins, group keys: they shape rows without copying the value).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import NotFound, ValidationFailed
from catalog.ingest.writes import find_dataset
from catalog.lineage_queries import column_walk
from catalog.models import (
    AuditEntry,
    ColumnClassification,
    ColumnProfile,
    Dataset,
    DatasetField,
    DatasetProfile,
    DatasetVersion,
)
from catalog.models.base import utcnow
from catalog.models.governance import APPLIED, REJECTED, SUGGESTED
from catalog.services.audit import record_change

ENTITY = "column_classification"
_TAG = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){1,3}$")
# How many column-lineage hops a tag is followed upstream.
INHERIT_DEPTH = 20

# Name detectors: (tag, pattern over the lower-cased column name, why).
NAME_DETECTORS = (
    ("pii.email", re.compile(r"(^|_)e?_?mail(_?addr(ess)?)?$"), "column name looks like an email"),
    ("pii.user_id", re.compile(r"(^|_)(user|customer|visitor|member|buyer|client)_?(id|key)$"),
     "column name looks like a person's identifier"),
    ("pii.phone", re.compile(r"(^|_)(phone|mobile|msisdn|tel)(_?(no|number))?$"),
     "column name looks like a phone number"),
    ("pii.ip_address", re.compile(r"(^|_)ip(_?addr(ess)?)?$"), "column name looks like an IP"),
    ("pii.name", re.compile(r"(^|_)(first|last|full|given|family|sur)_?name$"),
     "column name looks like a person's name"),
    ("pii.address", re.compile(r"(^|_)(street|address|postcode|zip_?code|postal_code)$"),
     "column name looks like a postal address"),
    ("pii.birth_date", re.compile(r"(^|_)(birth_?date|date_of_birth|dob|birthday)$"),
     "column name looks like a birth date"),
)
# A profiled column this distinct (distinct / non-null rows) whose name says "id" identifies
# individuals or their sessions.
ID_DISTINCT_RATIO = 0.05


def check_tag(tag: object) -> str:
    """A tag like ``pii.email`` (dotted, lower case), else :class:`ValidationFailed`."""
    if not isinstance(tag, str) or not _TAG.match(tag):
        raise ValidationFailed("a classification tag is 2-4 dotted lower-case parts, e.g. "
                               "pii.email", field="tag")
    return tag


def _key(ds: Dataset) -> str:
    return f"{ds.namespace.name}/{ds.name}"


def _state(c: ColumnClassification | None) -> dict | None:
    if c is None:
        return None
    return {"field": c.field, "tag": c.tag, "status": c.status, "source": c.source,
            "reason": c.reason}


def _row(session: Session, ds_id: int, field: str, tag: str) -> ColumnClassification | None:
    return session.scalar(select(ColumnClassification).where(
        ColumnClassification.dataset_id == ds_id, ColumnClassification.field == field,
        ColumnClassification.tag == tag))


def _field_names(session: Session, ds_id: int) -> set[str]:
    return set(session.scalars(select(DatasetField.name).where(DatasetField.dataset_id == ds_id)))


def classify(session: Session, namespace: str, name: str, field: str, tag: str, *,
             actor: str, reason: str | None = None) -> ColumnClassification:
    """Apply ``tag`` to a column (a steward's decision; accepts a pending suggestion)."""
    check_tag(tag)
    if reason is not None and not isinstance(reason, str):
        raise ValidationFailed("reason must be a string", field="reason")
    ds = find_dataset(session, namespace, name)
    if field not in _field_names(session, ds.id):
        raise NotFound(f"dataset {namespace}:{name} has no column {field!r}", field="field")
    row = _row(session, ds.id, field, tag)
    before = _state(row)
    if row is None:
        row = ColumnClassification(dataset_id=ds.id, field=field, tag=tag, created_by=actor,
                                   created_at=utcnow(), source="steward")
        session.add(row)
    elif row.status == APPLIED:
        return row  # nothing changes, nothing to audit
    action = "classification.accept" if row.status == SUGGESTED else "classification.apply"
    row.status, row.reason, row.updated_at = APPLIED, reason or row.reason, utcnow()
    session.flush()
    record_change(session, actor=actor, action=action, entity_type=ENTITY,
                  entity_key=_key(ds), before=before, after=_state(row))
    return row


def declassify(session: Session, namespace: str, name: str, field: str, tag: str, *,
               actor: str) -> None:
    """Remove an applied tag, or reject a suggestion (kept, so it is not suggested again)."""
    ds = find_dataset(session, namespace, name)
    row = _row(session, ds.id, field, tag)
    if row is None or row.status == REJECTED:
        raise NotFound(f"column {field!r} of {namespace}:{name} has no tag {tag!r}", field="tag")
    before = _state(row)
    action = "classification.reject" if row.status == SUGGESTED else "classification.remove"
    row.status, row.updated_at = REJECTED, utcnow()
    session.flush()
    record_change(session, actor=actor, action=action, entity_type=ENTITY,
                  entity_key=_key(ds), before=before, after=_state(row))


def _profile_ratios(session: Session, ds: Dataset) -> dict[str, float]:
    """distinct / non-null rows per column, from the latest profile of the current version."""
    if ds.current_version_id is None:
        return {}
    profile = session.scalar(
        select(DatasetProfile).where(DatasetProfile.dataset_version_id == ds.current_version_id)
        .order_by(DatasetProfile.id.desc()).limit(1))
    if profile is None or not profile.row_count:
        return {}
    out = {}
    for c in session.scalars(select(ColumnProfile).where(ColumnProfile.profile_id == profile.id)):
        if c.distinct_count is not None:
            rows = profile.row_count - (c.null_count or 0)
            out[c.column] = c.distinct_count / rows if rows > 0 else 0.0
    return out


def detect(session: Session, namespace: str, name: str, *, actor: str) -> list[dict]:
    """Run the detectors on a dataset's columns; store new suggestions (not applied) and list them.

    Columns already tagged, and suggestions a steward rejected, are left alone.
    """
    ds = find_dataset(session, namespace, name)
    ratios = _profile_ratios(session, ds)
    existing = {(c.field, c.tag) for c in session.scalars(
        select(ColumnClassification).where(ColumnClassification.dataset_id == ds.id))}
    found = []
    for field in sorted(_field_names(session, ds.id)):
        lowered = field.lower()
        for tag, pattern, why in NAME_DETECTORS:
            if not pattern.search(lowered) or (field, tag) in existing:
                continue
            source, reason = "detector:name", why
            ratio = ratios.get(field)
            if ratio is not None:
                source = "detector:profile"
                reason = f"{why}; profiled distinct ratio {ratio:.3f}"
                if tag == "pii.user_id" and ratio < ID_DISTINCT_RATIO:
                    continue  # too few distinct values to single anyone out
            row = ColumnClassification(dataset_id=ds.id, field=field, tag=tag,
                                       status=SUGGESTED, source=source, reason=reason,
                                       created_by=actor, created_at=utcnow())
            session.add(row)
            session.flush()
            record_change(session, actor=actor, action="classification.suggest",
                          entity_type=ENTITY, entity_key=_key(ds), after=_state(row))
            found.append(_state(row))
    return found


# --- reading: own, suggested and inherited tags ---------------------------------------------------


@dataclass(frozen=True)
class TagRef:
    """A tag on a column, with the column it came from (itself, unless inherited)."""

    tag: str
    field: str
    source_dataset_id: int
    source_field: str
    inherited: bool


def tags_as_of(session: Session, ds_id: int, key: str, at: datetime) -> dict[str, set[str]]:
    """Applied tags per column at ``at``, replayed from the audit trail."""
    out: dict[str, set[str]] = {}
    for e in session.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == ENTITY,
                                     AuditEntry.entity_key == key, AuditEntry.at <= at)
            .order_by(AuditEntry.seq)):
        after = e.after or e.before or {}
        tags = out.setdefault(after.get("field"), set())
        if e.after and e.after.get("status") == APPLIED:
            tags.add(after.get("tag"))
        else:
            tags.discard(after.get("tag"))
    return {f: t for f, t in out.items() if t}


def _applied(session: Session, ds_ids, at: datetime | None) -> dict[tuple[int, str], set[str]]:
    """Applied tags per (dataset id, column), now or (from the audit trail) at ``at``."""
    if at is None:
        rows = session.execute(select(
            ColumnClassification.dataset_id, ColumnClassification.field, ColumnClassification.tag)
            .where(ColumnClassification.dataset_id.in_(list(ds_ids)),
                   ColumnClassification.status == APPLIED)).all()
        out: dict[tuple[int, str], set[str]] = {}
        for d, f, t in rows:
            out.setdefault((d, f), set()).add(t)
        return out
    out = {}
    for ds in session.scalars(select(Dataset).where(Dataset.id.in_(list(ds_ids)))):
        for f, tags in tags_as_of(session, ds.id, _key(ds), at).items():
            out[(ds.id, f)] = tags
    return out


def _propagates(transformations) -> bool:
    """Whether a column-lineage edge copies the value (so its tags follow it)."""
    return any(t_type == "DIRECT" and not mask and (sub or "").upper() != "AGGREGATION"
               for t_type, sub, _desc, mask in transformations)


def effective_tags(session: Session, ds_id: int, at: datetime | None = None,
                   depth: int = INHERIT_DEPTH) -> list[TagRef]:
    """Own and inherited applied tags of every column of a dataset, nearest source first."""
    graph = column_walk(session, ds_id, None, depth, False, at)
    upstream: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for e in graph.edges:
        if _propagates(e.transformations):
            upstream.setdefault(e.output, []).append(e.input)
    node_ids = {d for d, _ in graph.nodes} | {ds_id}
    applied = _applied(session, node_ids, at)
    fields = {f for d, f in applied if d == ds_id} | {f for d, f in graph.nodes if d == ds_id}
    refs: list[TagRef] = []
    for field in sorted(fields):
        seen, queue, got = {(ds_id, field)}, deque([(ds_id, field)]), set()
        while queue:  # breadth first: the nearest source of a tag is reported
            node = queue.popleft()
            for tag in sorted(applied.get(node, ())):
                if tag not in got:
                    got.add(tag)
                    refs.append(TagRef(tag, field, node[0], node[1], node != (ds_id, field)))
            for nxt in upstream.get(node, ()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
    return refs


def describe(session: Session, namespace: str, name: str, at: datetime | None = None) -> dict:
    """A dataset's classifications: per column own and inherited tags, plus pending suggestions."""
    ds = find_dataset(session, namespace, name)
    refs = effective_tags(session, ds.id, at)
    names = {d.id: (d.namespace.name, d.name) for d in session.scalars(
        select(Dataset).where(Dataset.id.in_({r.source_dataset_id for r in refs} | {ds.id})))}
    columns: dict[str, dict] = {}
    for r in refs:
        col = columns.setdefault(r.field, {"field": r.field, "tags": [], "inherited": []})
        if not r.inherited:
            col["tags"].append(r.tag)
        else:
            ns, dname = names[r.source_dataset_id]
            col["inherited"].append({"tag": r.tag, "source": {
                "namespace": ns, "dataset": dname, "field": r.source_field}})
    suggestions = [] if at is not None else [
        _state(c) for c in session.scalars(
            select(ColumnClassification).where(ColumnClassification.dataset_id == ds.id,
                                               ColumnClassification.status == SUGGESTED)
            .order_by(ColumnClassification.field, ColumnClassification.tag))]
    return {"namespace": namespace, "dataset": name,
            "columns": [columns[f] for f in sorted(columns)], "suggestions": suggestions}


def version_dataset_ids(session: Session, version_ids) -> set[int]:
    """Datasets of the given dataset versions."""
    return set(session.scalars(select(DatasetVersion.dataset_id)
                               .where(DatasetVersion.id.in_(list(version_ids)))))
