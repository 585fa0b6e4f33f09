"""Runs the catalog executes, from the queue to their end: taken, supervised, finished, cancelled.

A run requested through the API (:func:`catalog.services.pipelines.request_run`) waits, NEW,
until a supervisor takes it: the server's own pool, or a ``catalog worker`` on any host. Taking it
(:func:`take_run`) checks it again under the taker's own settings, creates its folder, mints its
run-scoped token and marks it RUNNING; the supervisor then checks in while the worker runs
(:func:`check_in`) and records how it ended (:func:`finish_run`). A run is cancelled
(:func:`cancel_run`) whether it waits or runs: it is ABORT at once, its token revoked, and its
supervisor stops the worker at its next check-in. The database, not the queue, decides: a queue
message for a run that is gone, cancelled or already taken is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from catalog.config import Settings
from catalog.errors import CatalogError, Conflict, NotFound
from catalog.ingest import ingest_event
from catalog.models import PipelineExecution, Run
from catalog.models.run import TERMINAL_STATES
from catalog.services import auth
from catalog.services.audit import record_change
from catalog.services.pipelines import (
    BASE,
    JOB_NAMESPACE,
    PRODUCER,
    check_params,
    lock_executions,
    run_counts,
)
from catalog.services.run_tokens import RunScope, end_run, revoke_run_tokens, starter_active

# How long a worker's own token stays valid: longer than any pipeline run should take.
WORKER_TOKEN_TTL = timedelta(days=1)


@dataclass(frozen=True)
class LaunchRequest:
    """What starting one run's worker takes: everything decided, nothing left to the client."""

    run_id: str
    pipeline: str
    # <work_dir>/<pipeline>/<run id> of the taker's settings, created (mode 0700) when taken.
    workdir: Path
    # Validated parameters: source, events, seed, and input/attributes resolved in the data root.
    params: dict
    # The worker's run-scoped token (see catalog.services.run_tokens).
    token: str = field(repr=False)
    # Where the worker reports: the taker's CATALOG_PUBLIC_URL, else the server's at request time.
    catalog_url: str
    data_root: Path | None


@dataclass(frozen=True)
class Take:
    """What became of an attempt to take a run: ``taken`` (with its launch request), ``wait`` (as
    many runs as CATALOG_MAX_API_RUNS are running) or ``gone`` (unknown, cancelled, already taken
    or ended, or refused here: nothing to run)."""

    status: str
    request: LaunchRequest | None = None
    reason: str = ""


def _scope(execution: PipelineExecution) -> RunScope:
    return RunScope(JOB_NAMESPACE, execution.pipeline, execution.run_uuid)


def _state(session: Session, run_id: str) -> str | None:
    return session.scalar(select(Run.state).where(Run.uuid == run_id))


def _private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def take_run(session: Session, run_id: str, settings: Settings, taker: str) -> Take:
    """Take the waiting run ``run_id`` for ``taker`` (``host:pid``), under ``settings``.

    The run's parameters are checked again here, with the taker's data root: a file that is
    missing or escapes it fails the run. Its folder is ``<work_dir>/<pipeline>/<run id>`` of the
    taker's settings (mode 0700); its token acts for whoever requested it (refused, and the run
    failed, if that principal was revoked or disabled meanwhile). A START event makes it RUNNING.
    """
    lock_executions(session)
    execution = session.scalar(select(PipelineExecution)
                               .where(PipelineExecution.run_uuid == run_id).with_for_update())
    if execution is None:
        return Take("gone", reason=f"run {run_id} was never requested here")
    state = _state(session, run_id)
    if execution.taken_at is not None or execution.cancelled_at is not None or (
            state in TERMINAL_STATES):
        return Take("gone", reason=f"run {run_id} is {state or 'NEW'}, "
                    f"{'taken by ' + execution.taken_by if execution.taken_by else 'cancelled'}")
    running, _ = run_counts(session)
    if running >= settings.max_api_runs:
        return Take("wait", reason=f"{running} runs are running; the limit is "
                    f"{settings.max_api_runs} (CATALOG_MAX_API_RUNS)")
    scope = _scope(execution)
    starter = execution.requested_by or ""
    try:
        params = check_params({k: v for k, v in execution.params.items() if k != "workdir"},
                              settings)
        if not starter_active(session, starter):
            raise CatalogError(f"the principal that started this run ({starter}) was revoked "
                               "or disabled before a worker took it")
    except CatalogError as exc:
        end_run(session, scope, "FAIL", f"the run could not start on {taker}: {exc.message}",
                actor="system:worker")
        execution.taken_by, execution.taken_at = taker, datetime.now(UTC)
        return Take("gone", reason=exc.message)
    data_root = Path(settings.data_dir).resolve() if settings.data_dir else None
    for key in ("input", "attributes"):
        if key in params:  # checked above: the file lies under the data root
            params[key] = str((data_root / params[key]).resolve(strict=True))
    workdir = Path(settings.work_dir).resolve() / execution.pipeline / run_id
    now = datetime.now(UTC)
    token, _ = auth.create_token(
        session, f"worker:{run_id}", "pipeline", actor=starter, expires_in=WORKER_TOKEN_TTL,
        scope=scope, on_behalf_of=starter)
    ingest_event(session, {
        "eventType": "START", "eventTime": now.isoformat(), "producer": PRODUCER,
        "schemaURL": f"{BASE}#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": JOB_NAMESPACE, "name": execution.pipeline, "facets": {}},
        "inputs": [], "outputs": [],
    })
    execution.params = {**execution.params, "workdir": str(workdir)}
    execution.taken_by, execution.taken_at, execution.heartbeat_at = taker, now, now
    session.flush()
    _private_dir(workdir)
    return Take("taken", LaunchRequest(
        run_id, execution.pipeline, workdir, params, token,
        settings.public_url or execution.report_url or "", data_root))


def fail_queueing(session: Session, run_id: str, message: str) -> None:
    """The run could not be put on the queue: it fails now (it never had a token)."""
    execution = session.scalar(select(PipelineExecution)
                               .where(PipelineExecution.run_uuid == run_id))
    if execution is not None:
        end_run(session, _scope(execution), "FAIL", f"the run could not be queued: {message}",
                actor="system:queue")


def record_launch(session: Session, run_id: str, pid: int, log_path: Path) -> None:
    """Remember the started worker's process id and log."""
    session.execute(update(PipelineExecution).where(PipelineExecution.run_uuid == run_id)
                    .values(pid=pid, log_path=str(log_path)))


def fail_launch(session: Session, request: LaunchRequest, message: str) -> None:
    """The worker could not be started: the run fails now, and its token goes."""
    end_run(session, RunScope(JOB_NAMESPACE, request.pipeline, request.run_id), "FAIL", message,
            actor="system:worker")


@dataclass(frozen=True)
class CheckIn:
    """What a supervisor learns at a check-in: the run's state and whether it was cancelled."""

    state: str | None
    cancelled: bool


def check_in(session: Session, run_id: str, *, beat: bool) -> CheckIn:
    """The run's state for its supervisor; with ``beat``, also its heartbeat (a write)."""
    if beat:
        session.execute(update(PipelineExecution).where(PipelineExecution.run_uuid == run_id)
                        .values(heartbeat_at=datetime.now(UTC)))
    cancelled = session.scalar(select(PipelineExecution.cancelled_at)
                               .where(PipelineExecution.run_uuid == run_id))
    return CheckIn(_state(session, run_id), cancelled is not None)


def finish_run(session: Session, run_id: str, exit_code: int) -> str | None:
    """Record how the worker of ``run_id`` exited; end its run if it did not (ABORT when killed by
    a signal, FAIL otherwise) and revoke its tokens. The run's final state."""
    execution = session.scalar(select(PipelineExecution)
                               .where(PipelineExecution.run_uuid == run_id))
    if execution is None:
        return None
    execution.exit_code = exit_code
    state = _state(session, run_id)
    if state not in TERMINAL_STATES:
        if exit_code < 0:
            state, message = "ABORT", f"the run's worker was killed by signal {-exit_code}"
        else:
            state, message = "FAIL", (f"the run's worker exited with status {exit_code} "
                                      "without ending its run")
        end_run(session, _scope(execution), state, message, actor="system:worker")
    else:
        revoke_run_tokens(session, run_id, actor="system:worker")
    return state


def cancel_run(session: Session, pipeline: str, run_id: str, *, actor: str) -> str:
    """Cancel a run of ``pipeline`` started through the catalog: it ends ABORT now and its tokens
    are revoked; a running worker is stopped by its supervisor. Whether it was ``queued`` or
    ``running``; 404 for a run the catalog did not start, 409 for one already ended."""
    lock_executions(session)
    execution = session.scalar(select(PipelineExecution).where(
        PipelineExecution.run_uuid == run_id, PipelineExecution.pipeline == pipeline)
        .with_for_update())
    if execution is None:
        raise NotFound(f"pipeline {pipeline!r} has no run {run_id!r} started through the "
                       "catalog", field="runId")
    state = _state(session, run_id) or "NEW"
    if state in TERMINAL_STATES:
        raise Conflict(f"run {run_id} already ended ({state}); there is nothing to cancel",
                       field="runId", state=state)
    was = "queued" if execution.taken_at is None else "running"
    now = datetime.now(UTC)
    execution.cancelled_by, execution.cancelled_at = actor, now
    end_run(session, _scope(execution), "ABORT", f"cancelled by {actor} while {was}",
            actor=actor)
    record_change(session, actor=actor, action="run.cancel", entity_type="run",
                  entity_key=run_id, before={"state": state, "pipeline": pipeline},
                  after={"state": "ABORT", "was": was, "cancelledAt": now.isoformat()})
    return was


def waiting_runs(session: Session) -> list[tuple[str, str]]:
    """(run id, pipeline) of the runs no supervisor has taken yet, oldest first."""
    return [(r, p) for r, p in session.execute(
        select(PipelineExecution.run_uuid, PipelineExecution.pipeline)
        .join(Run, Run.uuid == PipelineExecution.run_uuid)
        .where(PipelineExecution.taken_at.is_(None), PipelineExecution.cancelled_at.is_(None),
               Run.state.not_in(TERMINAL_STATES))
        .order_by(PipelineExecution.id))]


def abandoned_runs(session: Session, lease: timedelta,
                   now: datetime | None = None) -> list[tuple[PipelineExecution, str, datetime]]:
    """Taken runs, still open, whose supervisor has not checked in for longer than ``lease``:
    (execution, its run's state, last check-in), oldest first."""
    now = now or datetime.now(UTC)
    rows = session.execute(
        select(PipelineExecution, Run.state).join(Run, Run.uuid == PipelineExecution.run_uuid)
        .where(PipelineExecution.heartbeat_at.is_not(None),
               PipelineExecution.exit_code.is_(None),
               PipelineExecution.heartbeat_at <= now - lease,
               Run.state.not_in(TERMINAL_STATES))
        .order_by(PipelineExecution.heartbeat_at)).all()
    return [(ex, state, _aware(ex.heartbeat_at)) for ex, state in rows]


def abandon_run(session: Session, execution: PipelineExecution, last: datetime,
                lease: timedelta, *, actor: str) -> str:
    """End a run whose supervisor died (see :func:`abandoned_runs`) ABORT and revoke its
    tokens; the message."""
    message = (f"run abandoned: its supervisor ({execution.taken_by}) last checked in at "
               f"{last.astimezone(UTC).isoformat()}, over {int(lease.total_seconds())}s ago; "
               "marked ABORT by the reaper")
    end_run(session, _scope(execution), "ABORT", message, actor=actor)
    return message
