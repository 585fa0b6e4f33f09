"""Folding OpenLineage JobEvents and DatasetEvents, and the job rules RunEvents share."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select

from catalog.ingest import datasets as dsvc
from catalog.ingest import read
from catalog.ingest.rows import JobRow
from catalog.ingest.sql import JOB_VERSION_BY_UUID, JOB_VERSIONS
from catalog.ingest.unit import Unit
from catalog.ingest.writes import dialect_insert
from catalog.models.lineage import DATASET, JOB


def _key(d: dict) -> tuple[str, str]:
    return d["namespace"], d["name"]


def apply_job_facets(job: JobRow, facets: dict) -> None:
    """Merge an event's job facets into the job and the columns they shape."""
    if dsvc.changes_facets(job.facets or {}, facets):
        job.set("facets", dsvc.merge_facets(job.facets or {}, facets))
    facets = dsvc.live_facets(facets)
    jt = facets.get("jobType")
    if isinstance(jt, dict):
        job.set("type", jt.get("processingType") or job.type)
        job.set("integration", jt.get("integration") or job.integration)
        job.set("job_type", jt.get("jobType") or job.job_type)
    doc = facets.get("documentation")
    if isinstance(doc, dict) and doc.get("description"):
        job.set("description", doc["description"])
    loc = facets.get("sourceCodeLocation")
    if isinstance(loc, dict) and loc.get("url"):
        job.set("location", loc["url"])


def job_version(unit: Unit, job: JobRow, inputs, outputs) -> int:
    """The id of the job's version for this shape (location, SQL, I/O), created if new.

    ``inputs`` and ``outputs`` are (namespace, name) pairs. The job's row is locked, so version
    numbers cannot race.
    """
    sql = (job.facets.get("sql") or {}).get("query") if isinstance(job.facets, dict) else None
    ins, outs = sorted(set(inputs)), sorted(set(outputs))
    shape = json.dumps([job.location, sql, ins, outs], separators=(",", ":"))
    vid = dsvc.version_uuid(job.namespace, job.name, "job", shape)
    if vid == job.current_version_uuid:
        return job.current_version_id
    if vid not in unit.job_versions:
        session = unit.sql
        found = session.scalar(JOB_VERSION_BY_UUID, {"uuid": vid})
        if found is None:
            number = select(func.coalesce(func.max(JOB_VERSIONS.c.version), 0) + 1).where(
                JOB_VERSIONS.c.job_id == job.id).scalar_subquery()
            found = session.scalar(dialect_insert(session, JOB_VERSIONS).values(
                uuid=vid, job_id=job.id, version=number, location=job.location, sql=sql,
                inputs=[{"namespace": n, "name": m} for n, m in ins],
                outputs=[{"namespace": n, "name": m} for n, m in outs],
            ).returning(JOB_VERSIONS.c.id))
        unit.put(unit.job_versions, vid, found)
    job.set("current_version_id", unit.job_versions[vid])
    job.current_version_uuid = vid
    return job.current_version_id


def fold_job_event(unit: Unit, event: dict, event_time: datetime) -> None:
    """Apply a JobEvent: the job's facets, its datasets, edges and the version of its shape."""
    job = unit.job(_key(event["job"]))
    apply_job_facets(job, event["job"].get("facets") or {})
    inputs, outputs = event.get("inputs") or [], event.get("outputs") or []
    rows = _touch_datasets(unit, inputs + outputs)
    for d in inputs:
        unit.edge(DATASET, rows[_key(d)].id, JOB, job.id, event_time)
    for d in outputs:
        unit.edge(JOB, job.id, DATASET, rows[_key(d)].id, event_time)
    if inputs or outputs:
        job_version(unit, job, [_key(d) for d in inputs], [_key(d) for d in outputs])


def fold_dataset_event(unit: Unit, d: dict, event_time: datetime) -> None:
    """Apply a DatasetEvent: metadata, and a version when fingerprint or schema changed."""
    row = unit.dataset_rows([_key(d)])[_key(d)]
    read.lock(unit, [row])
    facets = d.get("facets") or {}
    dsvc.apply_facets(unit.sql, row, facets)
    version = unit.static_version(row, facets, event_time)
    if version is not None:
        unit.record_quality(version, None, facets)


def _touch_datasets(unit: Unit, refs: list[dict]) -> dict:
    """The datasets ``refs`` mention, with their facets applied (changed ones locked first)."""
    rows = unit.dataset_rows({_key(d) for d in refs})
    read.lock(unit, [rows[_key(d)] for d in refs
                     if dsvc.facets_change(rows[_key(d)], d.get("facets") or {})])
    for d in refs:
        if dsvc.facets_change(rows[_key(d)], d.get("facets") or {}):
            dsvc.apply_facets(unit.sql, rows[_key(d)], d.get("facets") or {})
    return rows
