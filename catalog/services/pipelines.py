"""Pipelines the catalog knows (as their code registered them) and runs requested of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from catalog.config import Settings
from catalog.errors import NotFound, TooManyRequests, Unavailable, ValidationFailed
from catalog.ingest import ingest_event
from catalog.models import Job, Namespace, PipelineExecution, Run
from catalog.models.run import TERMINAL_STATES

PRODUCER = "https://github.com/recocatalog/recocatalog/catalog"
BASE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
JOB_NAMESPACE = "recsys-pipelines"
SOURCES = ("synthetic", "taobao", "amazon")


def _pipeline_jobs(session: Session, name: str | None) -> list[Job]:
    """Registered pipeline jobs (jobType PIPELINE in the pipelines' job namespace), by name."""
    query = (select(Job).join(Namespace, Namespace.id == Job.namespace_id)
             .where(Namespace.name == JOB_NAMESPACE, Job.job_type == "PIPELINE")
             .order_by(Job.name))
    if name is not None:
        query = query.where(Job.name == name)
    return list(session.scalars(query))


def _run_facet(name: str, **fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": f"{BASE}#/$defs/{name}", **fields}


def _facet_of(job: Job, name: str) -> dict:
    value = (job.facets or {}).get(name)
    return value if isinstance(value, dict) else {}


def describe(session: Session, name: str | None = None) -> list[dict]:
    """Registered pipelines with their steps (name, job, inputs, output, SQL, suite), as the
    pipelines registered them (``pipelines.report.register``); 404 for an unknown name."""
    pipelines = _pipeline_jobs(session, name)
    if name is not None and not pipelines:
        known = [p.name for p in _pipeline_jobs(session, None)]
        raise NotFound(f"pipeline {name!r} is not registered; known: {known}", field="pipeline")
    step_jobs = {j.name: j for j in session.scalars(
        select(Job).join(Namespace, Namespace.id == Job.namespace_id)
        .where(Namespace.name == JOB_NAMESPACE,
               Job.name.in_([f"{p.name}.{s}" for p in pipelines
                             for s in _facet_of(p, "pipelineDefinition").get("steps") or []
                             if isinstance(s, str)])))}
    out = []
    for p in pipelines:
        steps = []
        for step in _facet_of(p, "pipelineDefinition").get("steps") or []:
            job = step_jobs.get(f"{p.name}.{step}")
            if job is None:
                continue  # defined, its job not (yet) registered
            spec = _facet_of(job, "pipelineStep")
            steps.append({"name": step, "job": job.name, "inputs": list(spec.get("inputs") or []),
                          "output": spec.get("output"), "grain": spec.get("grain"),
                          "purpose": spec.get("purpose"),
                          "sql": _facet_of(job, "sql").get("query"), "suite": spec.get("suite")})
        out.append({"name": p.name, "namespace": JOB_NAMESPACE, "steps": steps})
    return out


# Keys a run request may hold. A work folder is not one: the server chooses it.
RUN_KEYS = ("source", "input", "attributes", "events", "seed")


def data_file(key: str, raw: object, data_root: Path | None, max_bytes: int) -> Path:
    """The file ``raw`` names under ``data_root``, resolved (symlinks included), else 422.

    One message for every refusal, so that an answer never tells whether a path outside the
    root exists: absolute paths, ``..``, a symlink leading out and a missing file alike.
    """
    if data_root is None:
        raise ValidationFailed(
            f"{key}: this server reads no files for API-started runs (CATALOG_DATA_DIR is "
            "unset); only the synthetic source is available", field=key)
    refusal = ValidationFailed(
        f"{key} must name a file under the server's data folder, as a path relative to it",
        field=key)
    if not isinstance(raw, str) or not raw or len(raw) > 1024 or "\x00" in raw:
        raise refusal
    relative = PurePosixPath(raw)
    if relative.is_absolute() or ".." in relative.parts or raw.startswith("~"):
        raise refusal
    root = data_root.resolve()
    try:
        path = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, unreadable
        raise refusal from None
    if not path.is_relative_to(root) or not path.is_file():
        raise refusal
    size = path.stat().st_size
    if size > max_bytes:
        raise ValidationFailed(f"{key} is {size} bytes; API-started runs read at most "
                               f"{max_bytes} (CATALOG_MAX_RUN_INPUT_BYTES)", field=key)
    return path


def check_params(body: object, settings: Settings) -> dict:
    """A run request's parameters, validated; input files must resolve under the data root (they
    are kept as named, relative to it)."""
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="")
    if "workdir" in body:
        raise ValidationFailed("workdir: the server chooses where a run works "
                               "(CATALOG_WORK_DIR/<pipeline>/<run id>)", field="workdir")
    unknown = sorted(set(body) - set(RUN_KEYS))
    if unknown:
        raise ValidationFailed(f"unknown keys: {unknown}", field=unknown[0])
    source = body.get("source", "synthetic")
    if source not in SOURCES:
        raise ValidationFailed(f"source must be one of {list(SOURCES)}", field="source")
    events = body.get("events", 200_000)
    cap = settings.max_run_events
    if not isinstance(events, int) or isinstance(events, bool) or not 100 <= events <= cap:
        raise ValidationFailed(f"events must be an integer between 100 and {cap} "
                               "(CATALOG_MAX_RUN_EVENTS)", field="events")
    seed = body.get("seed", 7)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValidationFailed("seed must be an integer between 0 and 2^32 - 1", field="seed")
    params = {"source": source, "events": events, "seed": seed}
    data_root = Path(settings.data_dir) if settings.data_dir else None
    for key in ("input", "attributes"):
        if body.get(key) is not None:
            if source == "synthetic":
                raise ValidationFailed(f"{key} applies to taobao and amazon only", field=key)
            data_file(key, body[key], data_root, settings.max_run_input_bytes)
            # The name as given, relative to the data root: the worker that takes the run
            # resolves it again under its own (and checks it again).
            params[key] = str(PurePosixPath(body[key]))
    if source != "synthetic" and "input" not in params:
        if data_root is None:
            raise ValidationFailed(
                f"source {source} reads a file, and this server reads none for API-started runs "
                "(CATALOG_DATA_DIR is unset); only the synthetic source is available",
                field="source")
        raise ValidationFailed(f"input is required for source {source}", field="input")
    return params


def lock_executions(session: Session) -> None:
    """Serialise the writers that count runs before they add or take one (on PostgreSQL; SQLite's
    writers already are, from BEGIN)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("select pg_advisory_xact_lock(hashtext('pipeline_executions'))"))


def run_counts(session: Session) -> tuple[int, int]:
    """API-started runs not yet ended: (running: taken by a worker, queued: waiting for one).

    A run that never reported its end counts until reaped."""
    taken = PipelineExecution.taken_at.is_not(None)
    rows = session.execute(
        select(taken, func.count()).select_from(PipelineExecution)
        .join(Run, Run.uuid == PipelineExecution.run_uuid, isouter=True)
        .where(or_(Run.state.is_(None), Run.state.not_in(TERMINAL_STATES)))
        .group_by(taken)).all()
    counts = {bool(was_taken): n for was_taken, n in rows}
    return counts.get(True, 0), counts.get(False, 0)


def _check_room(session: Session, settings: Settings) -> None:
    """429 when the runs in progress and waiting fill both caps, naming them."""
    lock_executions(session)
    running, queued = run_counts(session)
    room = settings.max_api_runs + settings.max_queued_runs
    if running + queued < room:
        return
    cap = "CATALOG_MAX_QUEUED_RUNS" if settings.max_queued_runs else "CATALOG_MAX_API_RUNS"
    raise TooManyRequests(
        f"{running} API-started runs are in progress and {queued} wait for a worker; at most "
        f"{settings.max_api_runs} run at once (CATALOG_MAX_API_RUNS) and "
        f"{settings.max_queued_runs} more wait (CATALOG_MAX_QUEUED_RUNS)",
        cap=cap, running=running, queued=queued,
        limits={"CATALOG_MAX_API_RUNS": settings.max_api_runs,
                "CATALOG_MAX_QUEUED_RUNS": settings.max_queued_runs}, retryAfter=60)


def request_run(session: Session, name: str, body: object, *, settings: Settings,
                actor: str) -> PipelineExecution:
    """Record a run of a registered pipeline, waiting for a worker (state NEW).

    Its parameters are checked here (input files resolve under the data root), and again by the
    worker that takes it (:func:`catalog.services.executions.take_run`), which chooses its folder
    and mints its token, acting for ``actor``. 429 once the runs in progress and waiting fill
    ``max_api_runs`` + ``max_queued_runs``. Queuing it is the caller's, after this commits.
    """
    describe(session, name)
    params = check_params(body, settings)
    if settings.callback_url is None:
        raise Unavailable("API-started runs report back over HTTP, and this server does not "
                          "know its address: set CATALOG_PUBLIC_URL")
    _check_room(session, settings)
    run_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    # An OTHER event creates the run without a state (NEW), so it is visible while it waits.
    ingest_event(session, {
        "eventType": "OTHER", "eventTime": now.isoformat(), "producer": PRODUCER,
        "schemaURL": f"{BASE}#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {"pipelineRequest": _run_facet(
            "PipelineRequestRunFacet", params=params)}},
        "job": {"namespace": JOB_NAMESPACE, "name": name, "facets": {}},
        "inputs": [], "outputs": [],
    })
    execution = PipelineExecution(pipeline=name, run_uuid=run_id, params=params, created_at=now,
                                  requested_by=actor, report_url=settings.callback_url)
    session.add(execution)
    session.flush()
    return execution


def list_executions(session: Session, name: str, limit: int, offset: int):
    """Executions of a pipeline started through the catalog, newest first."""
    describe(session, name)
    return session.scalars(
        select(PipelineExecution).where(PipelineExecution.pipeline == name)
        .order_by(PipelineExecution.id.desc()).limit(limit).offset(offset)
    ).all()
