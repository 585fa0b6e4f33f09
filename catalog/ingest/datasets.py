"""Dataset metadata: rows as ingestion reads them, and the facets that shape them (schema, tags,
owners, source, kind, description).

Ingestion applies these rules to every dataset of every event, so they work in SQLAlchemy Core on
:class:`DatasetRow` snapshots and write only what changed. Versions are :mod:`.versions`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from catalog.ingest.writes import Tracked, dialect_insert, source_id, tag_ids, write_tracked
from catalog.models import (
    Dataset,
    DatasetField,
    DatasetOwner,
    DatasetTag,
    DatasetVersion,
)
from catalog.models.dataset import DATASET_KINDS

# uuid5 namespace for deterministic dataset and job version ids.
VERSION_NS = uuid.UUID("5b0c7f2e-4a54-4bd8-9d2e-8c1f0e6a6f31")
_KIND_ALIASES = {"table": "table", "view": "view", "file": "file", "stream": "stream",
                 "topic": "stream", "model": "model"}
DATASETS, FIELDS, VERSIONS = Dataset.__table__, DatasetField.__table__, DatasetVersion.__table__


@dataclass
class VersionRef:
    """What the rules need of a dataset's current version."""

    id: int
    created_at: datetime
    fingerprint: str | None
    schema_fields: list


@dataclass(eq=False)
class DatasetRow(Tracked):
    """A dataset's row as read (and locked, before any write); ``changes`` are not yet written."""

    id: int
    namespace: str
    name: str
    facets: dict
    kind: str
    description: str | None
    source_id: int | None
    is_deleted: bool
    current_version_id: int | None
    last_modified_at: datetime | None
    # The current version, loaded with the row lock (None: there is none).
    current: VersionRef | None = None
    changes: dict = field(default_factory=dict)


def write_changes(session: Session, rows) -> None:
    """UPDATE the changed columns of dataset ``rows``."""
    write_tracked(session, DATASETS, rows)


def version_uuid(*parts: str) -> str:
    """A stable UUID for a version identified by ``parts``."""
    return str(uuid.uuid5(VERSION_NS, "\x1f".join(parts)))


def schema_fields(facets: dict) -> list[dict] | None:
    """Fields from a schema facet as [{"name", "type", "description"}], or None if absent."""
    schema = facets.get("schema")
    if not isinstance(schema, dict) or "fields" not in schema:
        return None
    return [
        {"name": f["name"], "type": f.get("type"), "description": f.get("description")}
        for f in schema["fields"]
    ]


def live_facets(facets: dict) -> dict:
    """Facets minus those the producer marked ``_deleted``."""
    return {k: v for k, v in facets.items() if not (isinstance(v, dict) and v.get("_deleted"))}


def merge_facets(stored: dict, facets: dict) -> dict:
    """Stored facets updated by an event's: new ones replace, ``_deleted`` ones go."""
    merged = dict(stored)
    for key, value in facets.items():
        if isinstance(value, dict) and value.get("_deleted"):
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


_ABSENT = object()


def facets_change(row: DatasetRow, facets: dict) -> bool:
    """Whether applying ``facets`` would change the dataset (anything to lock and write).

    The same answer as ``merge_facets(row.facets, facets) != row.facets``, without building the
    merged copy: every event names its datasets' facets, and they are nearly always those stored.
    """
    return changes_facets(row.facets, facets)


def changes_facets(stored: dict, facets: dict) -> bool:
    """Whether merging ``facets`` into ``stored`` (:func:`merge_facets`) changes them."""
    for key, value in facets.items():
        if isinstance(value, dict) and value.get("_deleted"):
            if key in stored:
                return True
        elif stored.get(key, _ABSENT) != value:
            return True
    return False


def apply_facets(session: Session, row: DatasetRow, facets: dict) -> None:
    """Update the dataset's current metadata from the facets of an event mentioning it.

    Nothing happens when the facets are those already stored (the usual case: pipelines report
    the same schema every run); fields, owners, tags and source are rewritten only when their own
    facet changed. The caller holds the row's lock and writes ``row.changes`` afterwards.
    """
    if not facets_change(row, facets):
        return
    stored = row.facets
    row.set("facets", merge_facets(stored, facets))
    facets = live_facets(facets)
    fields = schema_fields(facets)
    if fields is not None and facets["schema"] != stored.get("schema"):
        set_fields(session, row.id, fields)
    doc = facets.get("documentation")
    if isinstance(doc, dict) and doc.get("description"):
        row.set("description", doc["description"])
    src = facets.get("dataSource")
    if isinstance(src, dict) and src.get("name") and src != stored.get("dataSource"):
        row.set("source_id", source_id(session, src["name"], src.get("uri")))
    kind = facets.get("datasetType")
    if isinstance(kind, dict) and kind.get("datasetType"):
        value = str(kind["datasetType"]).lower()
        row.set("kind", value if value in DATASET_KINDS else _KIND_ALIASES.get(value, row.kind))
    owners = facets.get("ownership")
    if isinstance(owners, dict) and isinstance(owners.get("owners"), list) \
            and owners != stored.get("ownership"):
        set_owners(session, row.id, [(o["name"], o.get("type")) for o in owners["owners"]])
    tags = facets.get("tags")
    if isinstance(tags, dict) and isinstance(tags.get("tags"), list) and tags != stored.get("tags"):
        add_tags(session, row.id, [
            t["key"] if t.get("value") in (None, "", "true") else f"{t['key']}:{t['value']}"
            for t in tags["tags"]
        ])
    storage = facets.get("storage")
    if isinstance(storage, dict) and storage.get("fileFormat") and row.kind == "table":
        row.set("kind", "file")
    lifecycle = facets.get("lifecycleStateChange")
    if isinstance(lifecycle, dict) and lifecycle.get("lifecycleStateChange") == "DROP":
        row.set("is_deleted", True)
    elif fields is not None:
        row.set("is_deleted", False)


def set_fields(session: Session, dataset_id: int, fields: list[dict]) -> None:
    """Replace the dataset's current fields, keeping stewards' descriptions of kept fields."""
    existing = {name: (fid, desc) for fid, name, desc in session.execute(
        select(FIELDS.c.id, FIELDS.c.name, FIELDS.c.description)
        .where(FIELDS.c.dataset_id == dataset_id))}
    kept, added, seen = [], [], set()
    for i, spec in enumerate(fields):
        if spec["name"] in seen:  # a schema names each field once; the first one counts
            continue
        seen.add(spec["name"])
        old = existing.pop(spec["name"], None)
        row = {"type": spec.get("type"), "ordinal": i,
               "description": spec.get("description") or (old[1] if old else None)}
        if old is None:
            added.append({"dataset_id": dataset_id, "name": spec["name"], **row})
        else:
            kept.append({"_id": old[0], **row})
    if existing:
        session.execute(delete(FIELDS).where(FIELDS.c.id.in_([i for i, _ in existing.values()])))
    if kept:
        session.execute(update(FIELDS).where(FIELDS.c.id == bindparam("_id")).values(
            type=bindparam("type"), ordinal=bindparam("ordinal"),
            description=bindparam("description")), kept)
    if added:
        session.execute(FIELDS.insert(), added)


def set_owners(session: Session, dataset_id: int, owners: list[tuple[str, str | None]]) -> None:
    """Replace the dataset's owners."""
    table = DatasetOwner.__table__
    session.execute(delete(table).where(table.c.dataset_id == dataset_id))
    rows = [{"dataset_id": dataset_id, "name": n, "type": t} for n, t in dict(owners).items()]
    if rows:
        session.execute(table.insert(), rows)


def add_tags(session: Session, dataset_id: int, names: list[str]) -> None:
    """Tag the dataset (tags it already has are left alone)."""
    ids = tag_ids(session, names)
    rows = [{"dataset_id": dataset_id, "tag_id": ids[n]} for n in sorted(set(names))]
    if rows:
        stmt = dialect_insert(session, DatasetTag.__table__).on_conflict_do_nothing(
            index_elements=["dataset_id", "tag_id"])
        session.execute(stmt, rows)


def current_fields(session: Session, dataset_id: int) -> list[dict]:
    """The dataset's current fields as [{"name", "type", "description"}]."""
    return [{"name": n, "type": t, "description": d} for n, t, d in session.execute(
        select(FIELDS.c.name, FIELDS.c.type, FIELDS.c.description)
        .where(FIELDS.c.dataset_id == dataset_id).order_by(FIELDS.c.ordinal))]


def column_inputs(d: dict) -> list[tuple[str, str]]:
    """Datasets named as inputs in a dataset's columnLineage facet."""
    cl = (d.get("facets") or {}).get("columnLineage")
    if not isinstance(cl, dict) or not isinstance(cl.get("fields"), dict):
        return []
    return [(i["namespace"], i["name"]) for spec in cl["fields"].values()
            for i in spec.get("inputFields") or []]


def fingerprint_of(facets: dict) -> str | None:
    """The producer's content fingerprint (OpenLineage `version` facet), if any."""
    v = facets.get("version")
    if isinstance(v, dict) and v.get("datasetVersion") not in (None, ""):
        return str(v["datasetVersion"])
    return None


def row_count_of(facets: dict) -> int | None:
    """Row count from outputStatistics or dataQualityMetrics facets, if any."""
    for key in ("outputStatistics", "dataQualityMetrics"):
        f = facets.get(key)
        if isinstance(f, dict) and isinstance(f.get("rowCount"), int):
            return f["rowCount"]
    return None
