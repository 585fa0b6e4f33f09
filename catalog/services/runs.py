"""Stale runs: runs whose producer went silent (killed, host lost) are closed as ABORT.

A producer killed with ``kill -9`` never sends FAIL or ABORT, so its run would show START or
RUNNING forever. The reaper finds runs in NEW, START or RUNNING whose last event arrived longer
ago than a window, and ingests an ABORT event for each, with an ``errorMessage`` facet naming
the reason: the run's history, the raw event feed and every read API see it like any other
ABORT, and an ABORTed run never registers its outputs as versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from catalog.ingest import ingest_event
from catalog.models import Job, LineageEvent, Namespace, Run
from catalog.services.executions import abandon_run, abandoned_runs
from catalog.services.pipelines import JOB_NAMESPACE
from catalog.services.run_tokens import revoke_run_tokens

PRODUCER = "https://github.com/recocatalog/recocatalog/catalog/reaper"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
FACET_SCHEMA = "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json"
# States that mean "the producer still owes us an end".
OPEN_STATES = ("NEW", "START", "RUNNING")


@dataclass
class Reaped:
    """A run closed by the reaper."""

    run_id: str
    job: str
    state: str  # the state it was left in
    last_activity: datetime
    message: str


def _last_activity(session: Session, uuids: list[str]) -> dict[str, datetime]:
    """Per run: when the catalog last received an event of it or of one of its child runs.

    Receipt time, not event time: the catalog's clock judges silence, whatever the producers'.
    A parent run (a pipeline) is alive while its steps report, even if it says nothing itself.
    """
    last: dict[str, datetime] = {}
    own = session.execute(
        select(LineageEvent.run_uuid, func.max(LineageEvent.received_at))
        .where(LineageEvent.run_uuid.in_(uuids)).group_by(LineageEvent.run_uuid))
    child = aliased(Run)
    children = session.execute(
        select(child.parent_run_uuid, func.max(LineageEvent.received_at))
        .join(LineageEvent, LineageEvent.run_uuid == child.uuid)
        .where(child.parent_run_uuid.in_(uuids)).group_by(child.parent_run_uuid))
    for uuid, at in [*own, *children]:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if uuid not in last or at > last[uuid]:
            last[uuid] = at
    return last


def find_stale_runs(session: Session, older_than: timedelta,
                    now: datetime | None = None) -> list[tuple[Run, str, datetime]]:
    """Open runs with no event (theirs or their children's) for longer than ``older_than``.

    Returns (run, "namespace:job", last activity) oldest first.
    """
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(Run, Namespace.name, Job.name).join(Job, Run.job_id == Job.id)
        .join(Namespace, Job.namespace_id == Namespace.id)
        .where(Run.state.in_(OPEN_STATES)).order_by(Run.id)).all()
    if not rows:
        return []
    last = {}
    uuids = [run.uuid for run, _, _ in rows]
    for lo in range(0, len(uuids), 500):  # bounded IN lists
        last.update(_last_activity(session, uuids[lo:lo + 500]))
    stale = []
    for run, ns, name in rows:
        seen = last.get(run.uuid, run.updated_at)
        if seen <= now - older_than:
            stale.append((run, f"{ns}:{name}", seen))
    return sorted(stale, key=lambda x: x[2])


def abort_event(run: Run, job: str, last: datetime, older_than: timedelta) -> dict:
    """The ABORT event the reaper sends for ``run``.

    Its time and message depend only on the stored state, so two processes reaping the same run
    at once send identical events, which the catalog stores once.
    """
    seconds = int(older_than.total_seconds())
    at = max(last, run.state_at or last) + older_than
    ns, _, name = job.partition(":")
    message = (f"run abandoned: state {run.state} with no event for over {seconds}s "
               f"(last received {last.astimezone(UTC).isoformat()}); marked ABORT by the reaper")
    return {
        "eventType": "ABORT", "eventTime": at.astimezone(UTC).isoformat(),
        "producer": PRODUCER, "schemaURL": f"{SCHEMA}#/$defs/RunEvent",
        "run": {"runId": run.uuid, "facets": {"errorMessage": {
            "_producer": PRODUCER, "_schemaURL": FACET_SCHEMA,
            "message": message, "programmingLanguage": "none"}}},
        "job": {"namespace": ns, "name": name, "facets": {}},
        "inputs": [], "outputs": [],
    }


def reap_abandoned_runs(session: Session, lease: timedelta, now: datetime | None = None,
                        dry_run: bool = False) -> list[Reaped]:
    """Mark ABORT every run the catalog started whose supervisor stopped checking in for longer
    than ``lease`` (it died, with its worker), and revoke its token; return what was reaped."""
    reaped = []
    for execution, state, last in abandoned_runs(session, lease, now):
        job = f"{JOB_NAMESPACE}:{execution.pipeline}"
        if dry_run:
            reaped.append(Reaped(execution.run_uuid, job, state, last, "abandoned"))
            continue
        message = abandon_run(session, execution, last, lease, actor="system:reaper")
        reaped.append(Reaped(execution.run_uuid, job, state, last, message))
    return reaped


def reap_stale_runs(session: Session, older_than: timedelta, now: datetime | None = None,
                    dry_run: bool = False, lease: timedelta | None = None) -> list[Reaped]:
    """Mark every stale run ABORT (through an ingested ABORT event); return what was reaped.

    With ``lease``, first the runs whose supervisor died (:func:`reap_abandoned_runs`)."""
    if older_than.total_seconds() < 0:
        raise ValueError("older_than must not be negative")
    reaped = [] if lease is None else reap_abandoned_runs(session, lease, now, dry_run)
    done = {r.run_id for r in reaped}  # reported once, even by a dry run
    for run, job, last in find_stale_runs(session, older_than, now):
        if run.uuid in done:
            continue
        event = abort_event(run, job, last, older_than)
        message = event["run"]["facets"]["errorMessage"]["message"]
        reaped.append(Reaped(run.uuid, job, run.state, last, message))
        if not dry_run:
            ingest_event(session, event)
            revoke_run_tokens(session, run.uuid, actor="system:reaper")
    return reaped
