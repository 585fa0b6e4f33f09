"""Metadata as it stands now (snapshots for the audit trail) and as it stood at a time T.

Point in time: a dataset's schema, size and content are its latest immutable version created by
T; its description, owners, tags and kind are the ``after`` of the latest audit entry for it by T
(edits through the API are all audited), falling back to the facets stored with that version
(metadata sent by OpenLineage producers, which is not audited event by event); column
classifications are replayed from their audit entries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import NotFound
from catalog.ingest.writes import find_dataset
from catalog.models import (
    AuditEntry,
    Dataset,
    DatasetField,
    DatasetFieldTag,
    DatasetOwner,
    DatasetTag,
    DatasetVersion,
    Tag,
)

DATASET_ENTITY = "dataset"


def dataset_key(namespace: str, name: str) -> str:
    """The audit trail's key of a dataset."""
    return f"{namespace}/{name}"


def dataset_snapshot(session: Session, ds_id: int) -> dict:
    """Metadata of a dataset as stored now, read fresh from the database (for audit entries)."""
    session.flush()
    ds = session.get(Dataset, ds_id, populate_existing=True)
    owners = session.execute(
        select(DatasetOwner.name, DatasetOwner.type).where(DatasetOwner.dataset_id == ds_id)
        .order_by(DatasetOwner.name)).all()
    tags = session.scalars(
        select(Tag.name).join(DatasetTag, DatasetTag.tag_id == Tag.id)
        .where(DatasetTag.dataset_id == ds_id).order_by(Tag.name)).all()
    fields = session.scalars(
        select(DatasetField).where(DatasetField.dataset_id == ds_id)
        .order_by(DatasetField.ordinal, DatasetField.name)).all()
    field_tags: dict[int, list[str]] = {}
    for fid, tag in session.execute(
            select(DatasetFieldTag.field_id, Tag.name).join(Tag, Tag.id == DatasetFieldTag.tag_id)
            .join(DatasetField, DatasetField.id == DatasetFieldTag.field_id)
            .where(DatasetField.dataset_id == ds_id).order_by(Tag.name)):
        field_tags.setdefault(fid, []).append(tag)
    version = session.get(DatasetVersion, ds.current_version_id) if ds.current_version_id else None
    return {
        "kind": ds.kind,
        "physicalName": ds.physical_name,
        "description": ds.description,
        "owners": [{"name": n, "type": t} for n, t in owners],
        "tags": list(tags),
        "fields": [{"name": f.name, "type": f.type, "description": f.description,
                    "tags": field_tags.get(f.id, [])} for f in fields],
        "currentVersion": version.version if version else None,
    }


def _version_as_of(session: Session, ds_id: int, at: datetime) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds_id,
                                     DatasetVersion.created_at <= at)
        .order_by(DatasetVersion.created_at.desc(), DatasetVersion.version.desc()).limit(1))


def _facet_metadata(facets: dict) -> dict:
    """Description, owners and tags carried by OpenLineage facets stored with a version."""
    out: dict = {}
    doc = facets.get("documentation") or {}
    if isinstance(doc, dict) and doc.get("description") is not None:
        out["description"] = doc["description"]
    own = facets.get("ownership") or {}
    if isinstance(own, dict) and isinstance(own.get("owners"), list):
        out["owners"] = [{"name": o.get("name"), "type": o.get("type")}
                         for o in own["owners"] if isinstance(o, dict)]
    tags = facets.get("tags") or {}
    if isinstance(tags, dict) and isinstance(tags.get("tags"), list):
        out["tags"] = sorted({t.get("key") for t in tags["tags"] if isinstance(t, dict)} - {None})
    return out


def dataset_as_of(session: Session, namespace: str, name: str, at: datetime) -> dict:
    """The dataset as it stood at ``at``; :class:`NotFound` if it did not exist yet."""
    ds = find_dataset(session, namespace, name)
    version = _version_as_of(session, ds.id, at)
    # Versions carry the producer's event time, the row the catalog's own: either proves it.
    if version is None and ds.created_at > at:
        raise NotFound(f"dataset {namespace}:{name} did not exist at {at.isoformat()}",
                       field="asOf")
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.entity_type == DATASET_ENTITY,
                                 AuditEntry.entity_key == dataset_key(namespace, name),
                                 AuditEntry.at <= at)
        .order_by(AuditEntry.seq.desc()).limit(1))
    meta = {"kind": ds.kind, "description": None, "owners": [], "tags": []}
    audited_at = None
    if version is not None:
        meta.update(_facet_metadata(version.facets or {}))
    if entry is not None and entry.after and (version is None or entry.at >= version.created_at):
        meta.update({k: entry.after[k] for k in ("kind", "description", "owners", "tags")
                     if k in entry.after})
        audited_at = entry.at
    from catalog.services.classification import tags_as_of

    classified = tags_as_of(session, ds.id, dataset_key(namespace, name), at)
    fields = [
        {"name": f.get("name"), "type": f.get("type"), "description": f.get("description"),
         "tags": sorted(classified.get(f.get("name"), []))}
        for f in (version.schema_fields if version else [])
    ]
    return {
        "id": {"namespace": namespace, "name": name},
        "namespace": namespace,
        "name": name,
        "asOf": at,
        "createdAt": ds.created_at,
        **meta,
        "fields": fields,
        "currentVersion": version.uuid if version else None,
        "currentVersionNumber": version.version if version else None,
        "versionCreatedAt": version.created_at if version else None,
        "rowCount": version.row_count if version else None,
        "metadataAuditedAt": audited_at,
    }
