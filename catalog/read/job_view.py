"""What job and run pages show beyond the browse service: state history, child runs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Run, RunStateChange


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
