"""The rows the ingest path holds in memory while it folds events into them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from catalog.ingest import sql as q
from catalog.ingest.datasets import DatasetRow, VersionRef
from catalog.ingest.writes import Tracked


def parse_time(value: str) -> datetime:
    """An OpenLineage date-time as aware UTC."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(eq=False)
class JobRow(Tracked):
    """A job's row, locked for the transaction."""

    id: int
    namespace: str
    name: str
    facets: dict
    type: str
    integration: str | None
    job_type: str | None
    description: str | None
    location: str | None
    parent_job_id: int | None
    current_version_id: int | None
    current_version_uuid: str | None
    changes: dict = field(default_factory=dict)


@dataclass(eq=False)
class RunRow(Tracked):
    """A run's row; ``id`` is None until it is inserted (at the end, or when a row points at it)."""

    id: int | None
    uuid: str
    job_id: int
    created_at: datetime
    state: str = "NEW"
    state_at: datetime | None = None
    nominal_start_time: datetime | None = None
    nominal_end_time: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    facets: dict = field(default_factory=dict)
    error_message: str | None = None
    parent_run_uuid: str | None = None
    job_version_id: int | None = None
    changes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class IORow:
    """One run I/O row (replaced, never changed in place); ``dirty`` until written."""

    version_id: int | None
    facets: dict
    dirty: bool = False


def job_row(r) -> JobRow:
    """A JobRow from a row of :data:`~catalog.ingest.sql.JOBS_LOCKED`."""
    return JobRow(id=r.id, namespace=r.ns, name=r.name, facets=r.facets, type=r.type,
                  integration=r.integration, job_type=r.job_type, description=r.description,
                  location=r.location, parent_job_id=r.parent_job_id,
                  current_version_id=r.current_version_id, current_version_uuid=r.jv_uuid)


def dataset_row(r, current: VersionRef | None = None) -> DatasetRow:
    """A DatasetRow from a row of the dataset queries in :mod:`~catalog.ingest.sql`."""
    return DatasetRow(id=r.id, namespace=r.ns, name=r.name, facets=r.facets, kind=r.kind,
                      description=r.description, source_id=r.source_id, is_deleted=r.is_deleted,
                      current_version_id=r.current_version_id,
                      last_modified_at=r.last_modified_at, current=current)


def run_row(r) -> RunRow:
    """A RunRow from a row of :data:`~catalog.ingest.sql.RUNS_BY_UUID`."""
    return RunRow(id=r.id, **{c: getattr(r, c) for c in q.RUN_COLUMNS})
