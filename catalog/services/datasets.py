"""Dataset metadata and versions: applying dataset facets, creating immutable versions, quality."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from catalog.models import (
    ColumnProfile,
    Dataset,
    DatasetField,
    DatasetOwner,
    DatasetProfile,
    DatasetTag,
    DatasetVersion,
    QualityAssertion,
)
from catalog.models.dataset import DATASET_KINDS
from catalog.services.common import for_write, get_or_create_source, get_or_create_tag

# uuid5 namespace for deterministic dataset and job version ids.
VERSION_NS = uuid.UUID("5b0c7f2e-4a54-4bd8-9d2e-8c1f0e6a6f31")
# Facets that shape the dataset's metadata (the rest are kept verbatim only).
_KIND_ALIASES = {"table": "table", "view": "view", "file": "file", "stream": "stream",
                 "topic": "stream", "model": "model"}


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


def apply_dataset_facets(session: Session, ds: Dataset, facets: dict) -> None:
    """Update the dataset's current metadata from the facets of an event mentioning it."""
    if not facets:
        return
    merged = dict(ds.facets or {})
    for key, value in facets.items():
        if isinstance(value, dict) and value.get("_deleted"):
            merged.pop(key, None)
        else:
            merged[key] = value
    ds.facets = merged
    facets = live_facets(facets)
    fields = schema_fields(facets)
    if fields is not None:
        set_fields(session, ds, fields)
    doc = facets.get("documentation")
    if isinstance(doc, dict) and doc.get("description"):
        ds.description = doc["description"]
    src = facets.get("dataSource")
    if isinstance(src, dict) and src.get("name"):
        ds.source = get_or_create_source(session, src["name"], src.get("uri"))
    kind = facets.get("datasetType")
    if isinstance(kind, dict) and kind.get("datasetType"):
        value = str(kind["datasetType"]).lower()
        ds.kind = value if value in DATASET_KINDS else _KIND_ALIASES.get(value, ds.kind)
    owners = facets.get("ownership")
    if isinstance(owners, dict) and isinstance(owners.get("owners"), list):
        set_owners(session, ds, [(o["name"], o.get("type")) for o in owners["owners"]])
    tags = facets.get("tags")
    if isinstance(tags, dict) and isinstance(tags.get("tags"), list):
        for t in tags["tags"]:
            name = t["key"] if t.get("value") in (None, "", "true") else f"{t['key']}:{t['value']}"
            add_tag(session, ds, name)
    storage = facets.get("storage")
    if isinstance(storage, dict) and storage.get("fileFormat"):
        ds.kind = "file" if ds.kind == "table" else ds.kind
    lifecycle = facets.get("lifecycleStateChange")
    if isinstance(lifecycle, dict) and lifecycle.get("lifecycleStateChange") == "DROP":
        ds.is_deleted = True
    elif fields is not None:
        ds.is_deleted = False


def set_fields(session: Session, ds: Dataset, fields: list[dict]) -> None:
    """Replace the dataset's current fields, keeping stewards' descriptions of kept fields."""
    existing = {f.name: f for f in ds.fields}
    keep = []
    for i, spec in enumerate(fields):
        f = existing.pop(spec["name"], None)
        if f is None:
            f = DatasetField(name=spec["name"])
        f.type = spec.get("type")
        f.ordinal = i
        if spec.get("description"):
            f.description = spec["description"]
        keep.append(f)
    ds.fields = keep
    session.flush()


def set_owners(session: Session, ds: Dataset, owners: list[tuple[str, str | None]]) -> None:
    """Replace the dataset's owners."""
    ds.owners = [DatasetOwner(name=n, type=t) for n, t in dict(owners).items()]
    session.flush()


def add_tag(session: Session, ds: Dataset, name: str) -> None:
    """Tag the dataset (no-op if already tagged)."""
    tag = get_or_create_tag(session, name)
    if session.get(DatasetTag, (ds.id, tag.id)) is None:
        session.add(DatasetTag(dataset_id=ds.id, tag_id=tag.id))
        session.flush()
        session.expire(ds, ["tags"])


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


def schema_hash(fields: list[dict] | None) -> str:
    canon = json.dumps(fields or [], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def create_version(
    session: Session,
    ds: Dataset,
    *,
    uuid_str: str,
    facets: dict,
    run_id: int | None,
    created_at: datetime,
) -> DatasetVersion:
    """Create an immutable version (or return the existing one with this uuid) and make it current.

    Locks the dataset row so concurrent writers number versions 1, 2, 3 without gaps or clashes.
    """
    found = session.scalar(select(DatasetVersion).where(DatasetVersion.uuid == uuid_str))
    if found is not None:
        return found
    # Re-read under the lock: another writer may have moved the current version meanwhile.
    session.scalar(for_write(select(Dataset).where(Dataset.id == ds.id), Dataset))
    found = session.scalar(select(DatasetVersion).where(DatasetVersion.uuid == uuid_str))
    if found is not None:
        return found
    facets = live_facets(facets)
    fields = schema_fields(facets)
    if fields is None:
        fields = [{"name": f.name, "type": f.type, "description": f.description} for f in ds.fields]
    number = (
        session.scalar(select(func.max(DatasetVersion.version)).where(
            DatasetVersion.dataset_id == ds.id)) or 0
    ) + 1
    lifecycle = facets.get("lifecycleStateChange")
    version = DatasetVersion(
        uuid=uuid_str,
        dataset_id=ds.id,
        version=number,
        schema_fields=fields,
        row_count=row_count_of(facets),
        fingerprint=fingerprint_of(facets),
        run_id=run_id,
        lifecycle_state=lifecycle.get("lifecycleStateChange") if isinstance(lifecycle, dict)
        else None,
        facets=facets,
        created_at=created_at,
    )
    session.add(version)
    session.flush()
    if ds.current_version is None or ds.current_version.created_at <= created_at:
        ds.current_version_id = version.id
        ds.current_version = version
    if run_id is not None:
        ds.last_modified_at = max(filter(None, [ds.last_modified_at, created_at]))
    return version


def same_content_version(ds: Dataset, facets: dict) -> DatasetVersion | None:
    """The current version if ``facets`` report the same fingerprint and schema, else None.

    A run that rewrites a dataset with identical content (a re-run with unchanged inputs) links
    to the existing version instead of minting a copy: versions stand for content.
    """
    fp = fingerprint_of(facets)
    cur = ds.current_version
    if fp is None or cur is None or cur.fingerprint != fp:
        return None
    fields = schema_fields(live_facets(facets))
    return cur if fields is None or fields == cur.schema_fields else None


def observed_version(
    session: Session, ds: Dataset, facets: dict, seen_at: datetime
) -> DatasetVersion:
    """The version a consumer saw: matched by fingerprint, else current, else a new observed one."""
    fp = fingerprint_of(facets)
    ns_name = (ds.namespace.name, ds.name)
    if fp is not None:
        found = session.scalar(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == ds.id, DatasetVersion.fingerprint == fp)
            .order_by(DatasetVersion.version.desc())
        )
        if found is not None:
            return found
        return create_version(
            session, ds, uuid_str=version_uuid(*ns_name, "fp", fp), facets=facets, run_id=None,
            created_at=seen_at,
        )
    if ds.current_version is not None:
        return ds.current_version
    key = schema_hash(schema_fields(live_facets(facets)))
    return create_version(
        session, ds, uuid_str=version_uuid(*ns_name, "observed", key), facets=facets,
        run_id=None, created_at=seen_at,
    )


def record_quality(
    session: Session, version: DatasetVersion, run_id: int | None, facets: dict
) -> None:
    """Store dataQualityAssertions and dataQualityMetrics facets against ``version``."""
    assertions = facets.get("dataQualityAssertions")
    if isinstance(assertions, dict) and isinstance(assertions.get("assertions"), list):
        session.execute(
            delete(QualityAssertion).where(
                QualityAssertion.dataset_version_id == version.id,
                QualityAssertion.run_id.is_(None) if run_id is None
                else QualityAssertion.run_id == run_id,
            )
        )
        for a in assertions["assertions"]:
            extra = {k: v for k, v in a.items() if k not in ("assertion", "success", "column")}
            session.add(
                QualityAssertion(
                    dataset_version_id=version.id,
                    run_id=run_id,
                    assertion=a["assertion"],
                    column=a.get("column"),
                    success=bool(a["success"]),
                    severity=(str(a["severity"]).lower() if a.get("severity") else None),
                    details=extra,
                )
            )
    metrics = facets.get("dataQualityMetrics")
    if isinstance(metrics, dict):
        session.execute(
            delete(DatasetProfile).where(
                DatasetProfile.dataset_version_id == version.id,
                DatasetProfile.run_id.is_(None) if run_id is None
                else DatasetProfile.run_id == run_id,
            )
        )
        profile = DatasetProfile(
            dataset_version_id=version.id,
            run_id=run_id,
            row_count=metrics.get("rowCount"),
            bytes=metrics.get("bytes"),
            file_count=metrics.get("fileCount"),
        )
        for col, m in (metrics.get("columnMetrics") or {}).items():
            profile.columns.append(
                ColumnProfile(
                    column=col,
                    null_count=m.get("nullCount"),
                    distinct_count=m.get("distinctCount"),
                    count=m.get("count"),
                    sum=m.get("sum"),
                    min=m.get("min"),
                    max=m.get("max"),
                    quantiles=m.get("quantiles"),
                )
            )
        session.add(profile)
    session.flush()


def static_version(
    session: Session, ds: Dataset, facets: dict, at: datetime
) -> DatasetVersion | None:
    """For metadata reported without a run: a new version when the fingerprint or schema changed.

    Returns the dataset's version after the change (None if it has none).
    """
    fp = fingerprint_of(facets)
    fields = schema_fields(live_facets(facets))
    cur = ds.current_version
    if cur is None:
        changed = fp is not None or fields is not None
    else:
        changed = (fp is not None and fp != cur.fingerprint) or (
            fields is not None and fields != cur.schema_fields
        )
    if not changed:
        return cur
    key = fp if fp is not None else schema_hash(fields)
    return create_version(
        session, ds, uuid_str=version_uuid(ds.namespace.name, ds.name, "static", key),
        facets=facets, run_id=None, created_at=at,
    )
