"""What job and run pages show beyond the browse service: state history, child runs, warnings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import EventWarning, LineageEvent, Run, RunStateChange

# Most warnings a run page lists.
WARNINGS_LIMIT = 200


@dataclass
class RunWarning:
    """A facet one of the run's events carried that broke its schema (stored, not interpreted)."""

    event_type: str | None
    event_time: datetime
    field: str
    message: str


def state_history(session: Session, run: Run) -> list[RunStateChange]:
    """The states the run reported, in event time order."""
    return list(session.scalars(
        select(RunStateChange).where(RunStateChange.run_id == run.id)
        .order_by(RunStateChange.event_time, RunStateChange.id)
    ))


def child_runs(session: Session, run: Run, limit: int = 200) -> list[Run]:
    """Runs whose parent facet names this run (a pipeline's steps), oldest first."""
    return list(session.scalars(
        select(Run).where(Run.parent_run_uuid == run.uuid)
        .order_by(Run.created_at, Run.id).limit(limit)
    ))


def parent_run(session: Session, run: Run) -> Run | None:
    """The run named by this run's parent facet, if the catalog has it."""
    if not run.parent_run_uuid:
        return None
    return session.scalar(select(Run).where(Run.uuid == run.parent_run_uuid))


def run_warnings(session: Session, run: Run, limit: int = WARNINGS_LIMIT) -> list[RunWarning]:
    """The warnings of the run's events, in event time order."""
    rows = session.execute(
        select(LineageEvent.event_type, LineageEvent.event_time, EventWarning.field,
               EventWarning.message)
        .join(LineageEvent, LineageEvent.event_hash == EventWarning.event_hash)
        .where(LineageEvent.run_uuid == run.uuid)
        .order_by(LineageEvent.event_time, EventWarning.id).limit(limit))
    return [RunWarning(*row) for row in rows]
