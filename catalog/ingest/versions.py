"""Dataset versions: immutable versions created from facets, their quality results, and the
adapters that apply the same rules to ORM :class:`Dataset` objects (the registration API and the
model registry)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalog.driver import fetch
from catalog.ingest.datasets import (
    VERSIONS,
    DatasetRow,
    VersionRef,
    apply_facets,
    current_fields,
    fingerprint_of,
    live_facets,
    row_count_of,
    schema_fields,
    version_uuid,
    write_changes,
)
from catalog.ingest.sql import insert_version
from catalog.models import ColumnProfile, Dataset, DatasetProfile, DatasetVersion, QualityAssertion


def schema_hash(fields: list[dict] | None) -> str:
    canon = json.dumps(fields or [], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


def write_version(
    session: Session, row: DatasetRow, *, uuid_str: str, facets: dict, run_id: int | None,
    created_at: datetime, stage=None,
) -> int:
    """Create an immutable version (or find the one with this uuid); a newer one becomes current.

    The caller holds the dataset's row lock (read with ``row.current``), so concurrent writers
    number versions 1, 2, 3 without gaps or clashes. Returns the version's id. ``stage``, if
    given, takes the row and the version's values instead of an INSERT now and returns
    (id, whether it is new): see :mod:`catalog.ingest.stage`.
    """
    facets = live_facets(facets)
    fields = schema_fields(facets)
    if fields is None:
        fields = current_fields(session, row.id)
    fp = fingerprint_of(facets)
    lifecycle = facets.get("lifecycleStateChange")
    values = {
        "uuid": uuid_str, "ds": row.id, "schema_fields": fields, "row_count": row_count_of(facets),
        "fingerprint": fp, "run_id": run_id, "facets": facets, "created_at": created_at,
        "lifecycle_state": lifecycle.get("lifecycleStateChange")
        if isinstance(lifecycle, dict) else None,
    }
    if stage is not None:
        version_id, new = stage(row, values)
        if not new:
            return version_id
    else:
        found = fetch(session, insert_version(session.get_bind().dialect.name), values)
        version_id = found[0][0] if found else None
        if version_id is None:  # written before (a re-sent or replayed event)
            return session.scalar(select(VERSIONS.c.id).where(VERSIONS.c.uuid == uuid_str))
    if row.current is None or row.current.created_at <= created_at:
        row.set("current_version_id", version_id)
        row.current = VersionRef(version_id, created_at, fp, fields)
    if run_id is not None:
        row.set("last_modified_at", max(filter(None, [row.last_modified_at, created_at])))
    return version_id


def same_content_version(row: DatasetRow, facets: dict) -> int | None:
    """The current version if ``facets`` report the same fingerprint and schema, else None.

    A run that rewrites a dataset with identical content (a re-run with unchanged inputs) links
    to the existing version instead of minting a copy: versions stand for content.
    """
    fp, cur = fingerprint_of(facets), row.current
    if fp is None or cur is None or cur.fingerprint != fp:
        return None
    fields = schema_fields(live_facets(facets))
    return cur.id if fields is None or fields == cur.schema_fields else None


def static_row_version(
    session: Session, row: DatasetRow, facets: dict, at: datetime, stage=None,
) -> int | None:
    """For metadata reported without a run: a new version when the fingerprint or schema changed.

    Returns the id of the dataset's version after the change (None if it has none).
    """
    fp = fingerprint_of(facets)
    fields = schema_fields(live_facets(facets))
    cur = row.current
    if cur is None:
        changed = fp is not None or fields is not None
    else:
        changed = (fp is not None and fp != cur.fingerprint) or (
            fields is not None and fields != cur.schema_fields
        )
    if not changed:
        return cur.id if cur is not None else None
    key = fp if fp is not None else schema_hash(fields)
    return write_version(
        session, row, uuid_str=version_uuid(row.namespace, row.name, "static", key),
        facets=facets, run_id=None, created_at=at, stage=stage,
    )


def record_quality(session: Session, version_id: int, run_id: int | None, facets: dict) -> None:
    """Store dataQualityAssertions and dataQualityMetrics facets against the version."""
    assertions = facets.get("dataQualityAssertions")
    if isinstance(assertions, dict) and isinstance(assertions.get("assertions"), list):
        table = QualityAssertion.__table__
        session.execute(delete(table).where(
            table.c.dataset_version_id == version_id,
            table.c.run_id.is_(None) if run_id is None else table.c.run_id == run_id))
        rows = [{
            "dataset_version_id": version_id, "run_id": run_id, "assertion": a["assertion"],
            "column": a.get("column"), "success": bool(a["success"]),
            "severity": str(a["severity"]).lower() if a.get("severity") else None,
            "details": {k: v for k, v in a.items() if k not in ("assertion", "success", "column")},
        } for a in assertions["assertions"]]
        if rows:
            session.execute(table.insert(), rows)
    metrics = facets.get("dataQualityMetrics")
    if isinstance(metrics, dict):
        table = DatasetProfile.__table__
        session.execute(delete(table).where(
            table.c.dataset_version_id == version_id,
            table.c.run_id.is_(None) if run_id is None else table.c.run_id == run_id))
        profile_id = session.scalar(table.insert().values(
            dataset_version_id=version_id, run_id=run_id, row_count=metrics.get("rowCount"),
            bytes=metrics.get("bytes"), file_count=metrics.get("fileCount"),
        ).returning(table.c.id))
        columns = [{
            "profile_id": profile_id, "column": col, "null_count": m.get("nullCount"),
            "distinct_count": m.get("distinctCount"), "count": m.get("count"),
            "sum": m.get("sum"), "min": m.get("min"), "max": m.get("max"),
            "quantiles": m.get("quantiles"),
        } for col, m in (metrics.get("columnMetrics") or {}).items()]
        if columns:
            session.execute(ColumnProfile.__table__.insert(), columns)


# --- the same rules on ORM objects (registration API, model registry) ---------------------------


def row_of(session: Session, ds: Dataset) -> DatasetRow:
    """A snapshot of ``ds`` for the rules above; pending ORM changes are flushed first."""
    session.flush()
    cur = ds.current_version
    return DatasetRow(
        id=ds.id, namespace=ds.namespace.name, name=ds.name, facets=dict(ds.facets or {}),
        kind=ds.kind, description=ds.description, source_id=ds.source_id,
        is_deleted=ds.is_deleted, current_version_id=ds.current_version_id,
        last_modified_at=ds.last_modified_at,
        current=VersionRef(cur.id, cur.created_at, cur.fingerprint, cur.schema_fields)
        if cur is not None else None,
    )


def _written(session: Session, ds: Dataset, row: DatasetRow) -> None:
    write_changes(session, [row])
    session.expire(ds)


def _lock(session: Session, ds: Dataset) -> None:
    """Lock the dataset's row (FOR NO KEY UPDATE, as ingestion does) and re-read it after."""
    session.flush()
    session.execute(select(Dataset.id).where(Dataset.id == ds.id).with_for_update(key_share=True))
    session.expire(ds)


def apply_dataset_facets(session: Session, ds: Dataset, facets: dict) -> None:
    """:func:`apply_facets` on an ORM dataset, which it locks first."""
    _lock(session, ds)
    row = row_of(session, ds)
    apply_facets(session, row, facets)
    _written(session, ds, row)


def create_version(
    session: Session, ds: Dataset, *, uuid_str: str, facets: dict, run_id: int | None,
    created_at: datetime,
) -> DatasetVersion:
    """:func:`write_version` on an ORM dataset, which it locks first."""
    _lock(session, ds)
    row = row_of(session, ds)
    version_id = write_version(session, row, uuid_str=uuid_str, facets=facets, run_id=run_id,
                               created_at=created_at)
    _written(session, ds, row)
    return session.get(DatasetVersion, version_id)


def static_version(
    session: Session, ds: Dataset, facets: dict, at: datetime
) -> DatasetVersion | None:
    """:func:`static_row_version` on an ORM dataset, which it locks first."""
    _lock(session, ds)
    row = row_of(session, ds)
    version_id = static_row_version(session, row, facets, at)
    _written(session, ds, row)
    return session.get(DatasetVersion, version_id) if version_id is not None else None
