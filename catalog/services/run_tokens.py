"""Run-scoped tokens: what a worker started through the API may report, and for how long.

A worker gets a pipeline-role token of its own that

- may post RunEvents only of its run (``scope_run_uuid`` of job ``scope_job_*``) and of child
  runs whose parent facet names that run; nothing else the pipeline role allows;
- acts for whoever started the run (``on_behalf_of``): once that token is revoked or that user
  disabled, the worker's token is refused and the run is failed;
- is revoked as soon as its run ends (COMPLETE, FAIL or ABORT, reported or reaped).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from catalog.errors import Forbidden
from catalog.models import ApiToken, User
from catalog.models.base import utcnow
from catalog.models.run import TERMINAL_STATES, Run
from catalog.services.audit import record_change


@dataclass(frozen=True)
class RunScope:
    """The one run (of one job) a token may report, with that run's children."""

    namespace: str
    job: str
    run_uuid: str


def scope_of(row: ApiToken) -> RunScope | None:
    """The token's run scope, or None for an ordinary token."""
    if row.scope_run_uuid is None:
        return None
    return RunScope(row.scope_job_namespace or "", row.scope_job_name or "", row.scope_run_uuid)


def starter_active(session: Session, actor: str, now: datetime | None = None) -> bool:
    """Whether the principal named ``actor`` (``token:<name>`` or a user name) may still act."""
    now = now or utcnow()
    if actor.startswith("token:"):
        row = session.scalar(select(ApiToken).where(ApiToken.name == actor[len("token:"):]))
        return row is not None and row.revoked_at is None and (
            row.expires_at is None or row.expires_at > now)
    user = session.scalar(select(User).where(User.name == actor))
    return user is not None and not user.disabled


def _field(event: dict, *path: str):
    value = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def check_event(session: Session, scope: RunScope, index: int, event: object) -> None:
    """Raise :class:`Forbidden` unless ``event`` reports the scoped run or one of its children."""
    where = f"events[{index}]" if index >= 0 else "event"

    def refuse(why: str):
        raise Forbidden(f"{where}: this token may report only run {scope.run_uuid} of job "
                        f"{scope.namespace}/{scope.job} and its child runs; {why}",
                        field=where, permission="lineage.write")

    if not isinstance(event, dict):
        refuse("the event is not an object")
    run_id, ns, job = (_field(event, "run", "runId"), _field(event, "job", "namespace"),
                       _field(event, "job", "name"))
    if not isinstance(run_id, str) or not isinstance(job, str):
        refuse("only RunEvents are allowed")
    if ns != scope.namespace:
        refuse(f"job namespace {ns!r} is another")
    if run_id == scope.run_uuid:
        if job != scope.job:
            refuse(f"run {run_id} belongs to job {scope.job}, not {job!r}")
        return
    parent = _field(event, "run", "facets", "parent")
    if (_field(parent, "run", "runId") != scope.run_uuid
            or _field(parent, "job", "namespace") != scope.namespace
            or _field(parent, "job", "name") != scope.job):
        refuse(f"run {run_id} does not name it as its parent")
    existing = session.execute(select(Run.parent_run_uuid).where(Run.uuid == run_id)).first()
    if existing is not None and existing[0] != scope.run_uuid:
        refuse(f"run {run_id} already exists under another parent")


def ends_scope(scope: RunScope, event: object) -> bool:
    """Whether ``event`` ends the scoped run itself."""
    return (isinstance(event, dict) and event.get("eventType") in TERMINAL_STATES
            and _field(event, "run", "runId") == scope.run_uuid)


def after_ingest(session: Session, scope: RunScope, events: list, outcomes: list, *,
                 actor: str) -> bool:
    """Revoke the scope's tokens once one of ``events`` that was stored ended its run; whether
    it did."""
    if any(ends_scope(scope, e) and not isinstance(o, Exception)
           for e, o in zip(events, outcomes, strict=True)):
        return revoke_run_tokens(session, scope.run_uuid, actor=actor) > 0
    return False


def revoke_run_tokens(session: Session, run_uuid: str, *, actor: str) -> int:
    """Revoke every live token scoped to ``run_uuid`` (its run ended); the number revoked."""
    now = utcnow()
    rows = session.scalars(select(ApiToken).where(
        ApiToken.scope_run_uuid == run_uuid, ApiToken.revoked_at.is_(None))).all()
    for row in rows:
        session.execute(update(ApiToken).where(ApiToken.id == row.id).values(revoked_at=now))
        record_change(session, actor=actor, action="token.revoke", entity_type="token",
                      entity_key=row.name, before=None,
                      after={"revokedAt": now.isoformat(), "reason": f"run {run_uuid} ended"})
    return len(rows)


# Who the catalog says it is when it writes a run's end itself.
PRODUCER = "https://github.com/recocatalog/recocatalog/catalog"
_SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


def fail_run(session: Session, scope: RunScope, message: str, *, actor: str) -> None:
    """End the scoped run as FAIL with ``message`` (an event the catalog writes itself), and
    revoke its tokens."""
    end_run(session, scope, "FAIL", message, actor=actor)


def end_run(session: Session, scope: RunScope, state: str, message: str, *, actor: str) -> None:
    """End the scoped run in ``state`` (FAIL or ABORT) with ``message``, an event the catalog
    writes itself, and revoke its tokens."""
    from catalog.ingest import ingest_event

    if state not in ("FAIL", "ABORT"):
        raise ValueError(f"a run the catalog ends is FAIL or ABORT, not {state!r}")
    ingest_event(session, {
        "eventType": state, "eventTime": utcnow().isoformat(), "producer": PRODUCER,
        "schemaURL": f"{_SPEC}#/$defs/RunEvent",
        "run": {"runId": scope.run_uuid, "facets": {"errorMessage": {
            "_producer": PRODUCER, "_schemaURL": f"{_SPEC}#/$defs/ErrorMessageRunFacet",
            "message": message, "programmingLanguage": "python"}}},
        "job": {"namespace": scope.namespace, "name": scope.job, "facets": {}},
        "inputs": [], "outputs": [],
    })
    revoke_run_tokens(session, scope.run_uuid, actor=actor)


def fail_orphaned_run(session: Session, scope: RunScope, starter: str) -> None:
    """The run's starter was revoked or disabled: fail the run and revoke its tokens."""
    fail_run(session, scope, f"the principal that started this run ({starter}) was revoked or "
             "disabled; the run's token was refused", actor="system:catalog")
