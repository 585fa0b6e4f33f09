"""Auditor's trace: from a dataset or model version back to the raw sources it came from.

Each step is an exact version: the run that wrote a version read specific input versions, and so
on back to versions no run produced (raw sources). Quality is shown as it stood at the trace's
time: only checks recorded by then count. ``as_of`` also picks the start version (the newest one
written by then), so "what did this table come from last Tuesday" is one query parameter.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from catalog import csvsafe
from catalog.errors import NotFound
from catalog.lineage_queries import version_ancestry
from catalog.models import Dataset, DatasetVersion, QualityAssertion, Run, RunIO
from catalog.models.base import utcnow
from catalog.read.run_states import api_state

_CHUNK = 5000
CSV_COLUMNS = ("distance", "namespace", "dataset", "version", "version_id", "created_at",
               "run_id", "job", "run_state", "quality", "failed_checks", "raw_source")


@dataclass
class TraceStep:
    """One dataset version in a trace, with how it was made and its quality at the time."""

    distance: int
    version: DatasetVersion
    run: Run | None
    quality: str
    failed: list[str] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)

    @property
    def raw_source(self) -> bool:
        """True when no recorded run with inputs produced this version."""
        return not self.inputs


@dataclass
class Trace:
    """The versions a start version was built from, nearest first."""

    start: DatasetVersion
    at: datetime
    as_of: datetime | None
    depth: int
    steps: list[TraceStep]


def start_version(session: Session, ds: Dataset, number: int | None,
                  as_of: datetime | None) -> DatasetVersion:
    """Version ``number`` of ``ds``, else its newest version written by ``as_of`` (or ever)."""
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    if number is not None:
        query = query.where(DatasetVersion.version == number)
    elif as_of is not None:
        query = query.where(DatasetVersion.created_at <= as_of)
    v = session.scalar(query.order_by(DatasetVersion.version.desc()).limit(1))
    if v is None:
        when = f" version {number}" if number is not None else (
            f" version written by {as_of.isoformat()}" if as_of else " version")
        raise NotFound(f"{ds.namespace.name}/{ds.name} has no{when}", field="version")
    return v


def _quality(session: Session, ids: list[int], at: datetime):
    """(status, failed checks) per version, counting only checks recorded by ``at``."""
    out: dict[int, tuple[str, list[str]]] = {}
    qa = QualityAssertion
    for i in range(0, len(ids), _CHUNK):
        rows = session.scalars(
            select(qa).where(qa.dataset_version_id.in_(ids[i:i + _CHUNK]), qa.created_at <= at)
            .order_by(qa.dataset_version_id, qa.created_at, qa.id)).all()
        latest = {a.dataset_version_id: a.run_id for a in rows}
        for a in rows:
            if a.run_id != latest[a.dataset_version_id]:
                continue
            status, failed = out.get(a.dataset_version_id, ("passing", []))
            if not a.success:
                status = "failing"
                failed.append(a.assertion + (f"({a.column})" if a.column else ""))
            out[a.dataset_version_id] = (status, failed)
    return out


def trace(session: Session, start: DatasetVersion, depth: int = 20,
          as_of: datetime | None = None) -> Trace:
    """Every version ``start`` was built from within ``depth`` runs, with quality at the time."""
    at = as_of or utcnow()
    distances = version_ancestry(session, [start.id], depth)
    ids = sorted(distances)
    versions: dict[int, DatasetVersion] = {}
    inputs: dict[int, list[int]] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        for v in session.scalars(
            select(DatasetVersion).where(DatasetVersion.id.in_(chunk))
            .options(selectinload(DatasetVersion.run), selectinload(DatasetVersion.dataset))
        ):
            versions[v.id] = v
        runs = {v.run_id: v.id for v in versions.values() if v.run_id and v.id in chunk}
        if runs:
            for run_id, in_vid in session.execute(
                select(RunIO.run_id, RunIO.dataset_version_id).where(
                    RunIO.run_id.in_(list(runs)), RunIO.direction == "input",
                    RunIO.dataset_version_id.is_not(None))
            ):
                inputs.setdefault(runs[run_id], []).append(in_vid)
    quality = _quality(session, ids, at)
    steps = [
        TraceStep(distances[vid], v, v.run, *quality.get(vid, ("unchecked", [])),
                  inputs=sorted(inputs.get(vid, [])))
        for vid, v in versions.items()
    ]
    steps.sort(key=lambda s: (s.distance, s.version.dataset.namespace.name,
                              s.version.dataset.name, s.version.version))
    return Trace(start, at, as_of, depth, steps)


def _row(s: TraceStep, iso) -> dict:
    v, ds = s.version, s.version.dataset
    return {
        "distance": s.distance, "namespace": ds.namespace.name, "dataset": ds.name,
        "version": v.version, "version_id": v.uuid, "created_at": iso(v.created_at),
        "run_id": s.run.uuid if s.run else None,
        "job": f"{s.run.job.namespace.name}/{s.run.job.name}" if s.run else None,
        "run_state": api_state(s.run.state) if s.run else None, "quality": s.quality,
        "failed_checks": s.failed, "raw_source": s.raw_source,
    }


def trace_json(t: Trace, iso) -> dict:
    """The trace as a JSON document (``iso`` formats times)."""
    by_id = {s.version.id: s.version.uuid for s in t.steps}
    return {
        "start": {"namespace": t.start.dataset.namespace.name, "dataset": t.start.dataset.name,
                  "version": t.start.version, "version_id": t.start.uuid},
        "qualityAsOf": iso(t.at), "asOf": iso(t.as_of) if t.as_of else None, "depth": t.depth,
        "versions": [_row(s, iso) for s in t.steps],
        "edges": [{"input": by_id[i], "output": s.version.uuid}
                  for s in t.steps for i in s.inputs if i in by_id],
    }


def trace_csv(t: Trace, iso) -> str:
    """The trace's versions as CSV, one row per version (failed checks joined by "; ")."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in t.steps:
        row = _row(s, iso)
        row["failed_checks"] = "; ".join(row["failed_checks"])
        writer.writerow({k: csvsafe.cell(v) for k, v in row.items()})
    return out.getvalue()
