"""Pipelines the catalog knows (as their code registered them) and runs requested of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from catalog.config import Settings
from catalog.errors import NotFound, TooManyRequests, Unavailable, ValidationFailed
from catalog.ingest import ingest_event
from catalog.models import Job, Namespace, PipelineExecution, Run
from catalog.models.run import TERMINAL_STATES
from catalog.services import auth
from catalog.services.run_tokens import RunScope, fail_run

PRODUCER = "https://github.com/recocatalog/recocatalog/catalog"
BASE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
JOB_NAMESPACE = "recsys-pipelines"
SOURCES = ("synthetic", "taobao", "amazon")
# How long a worker's own token stays valid: longer than any pipeline run should take.
WORKER_TOKEN_TTL = timedelta(days=1)


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
    """A run request's parameters, validated; input files resolved under the data root."""
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
            params[key] = str(data_file(key, body[key], data_root,
                                        settings.max_run_input_bytes))
    if source != "synthetic" and "input" not in params:
        if data_root is None:
            raise ValidationFailed(
                f"source {source} reads a file, and this server reads none for API-started runs "
                "(CATALOG_DATA_DIR is unset); only the synthetic source is available",
                field="source")
        raise ValidationFailed(f"input is required for source {source}", field="input")
    return params


def _active_runs(session: Session) -> int:
    """API-started runs not yet ended (a run that never reported counts until reaped)."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise the count-then-insert of concurrent requests (SQLite's writers already are).
        session.execute(text("select pg_advisory_xact_lock(hashtext('pipeline_executions'))"))
    return session.scalar(
        select(func.count()).select_from(PipelineExecution)
        .join(Run, Run.uuid == PipelineExecution.run_uuid, isouter=True)
        .where(or_(Run.state.is_(None), Run.state.not_in(TERMINAL_STATES))))


def _private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


@dataclass(frozen=True)
class LaunchRequest:
    """What starting one run's worker takes: everything decided, nothing left to the client."""

    run_id: str
    pipeline: str
    # <work_dir>/<pipeline>/<run id>, created (mode 0700) before the launch.
    workdir: Path
    # Validated parameters: source, events, seed, input and attributes resolved in the data root.
    params: dict
    # The worker's run-scoped token (see catalog.services.run_tokens).
    token: str = field(repr=False)
    # Where the worker reports: CATALOG_PUBLIC_URL or the server's own address.
    catalog_url: str
    data_root: Path | None


def request_run(session: Session, name: str, body: object, *, settings: Settings,
                actor: str) -> tuple[PipelineExecution, LaunchRequest]:
    """Record a run of a registered pipeline (state NEW) and what its worker needs to start.

    The run works in ``<work_dir>/<pipeline>/<run id>``, reads only under the data root, and
    reports to the server's configured address with a token scoped to this run, which acts for
    ``actor``. 429 past ``max_api_runs`` runs at once. Starting the worker is the launcher's
    (:mod:`catalog.launcher`), after this transaction commits.
    """
    describe(session, name)
    params = check_params(body, settings)
    if settings.callback_url is None:
        raise Unavailable("API-started runs report back over HTTP, and this server does not "
                          "know its address: set CATALOG_PUBLIC_URL")
    active = _active_runs(session)
    if active >= settings.max_api_runs:
        raise TooManyRequests(f"{active} API-started runs are in progress; the limit is "
                              f"{settings.max_api_runs} (CATALOG_MAX_API_RUNS)", retryAfter=60)
    run_id = str(uuid.uuid4())
    workdir = Path(settings.work_dir).resolve() / name / run_id
    params["workdir"] = str(workdir)
    now = datetime.now(UTC)
    # An OTHER event creates the run without a state, so it is visible before the worker starts.
    ingest_event(session, {
        "eventType": "OTHER", "eventTime": now.isoformat(), "producer": PRODUCER,
        "schemaURL": f"{BASE}#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {"pipelineRequest": _run_facet(
            "PipelineRequestRunFacet", params=params)}},
        "job": {"namespace": JOB_NAMESPACE, "name": name, "facets": {}},
        "inputs": [], "outputs": [],
    })
    token, _ = auth.create_token(
        session, f"worker:{run_id}", "pipeline", actor=actor, expires_in=WORKER_TOKEN_TTL,
        scope=RunScope(JOB_NAMESPACE, name, run_id), on_behalf_of=actor)
    execution = PipelineExecution(pipeline=name, run_uuid=run_id, params=params, created_at=now)
    session.add(execution)
    session.flush()
    _private_dir(workdir)
    return execution, LaunchRequest(
        run_id, name, workdir, params, token, settings.callback_url,
        Path(settings.data_dir).resolve() if settings.data_dir else None)


def record_launch(session: Session, run_id: str, pid: int, log_path: Path) -> None:
    """Remember the started worker's process id and log."""
    session.execute(update(PipelineExecution).where(PipelineExecution.run_uuid == run_id)
                    .values(pid=pid, log_path=str(log_path)))


def fail_launch(session: Session, request: LaunchRequest, message: str) -> None:
    """The worker could not be started: the run fails now, and its token goes."""
    fail_run(session, RunScope(JOB_NAMESPACE, request.pipeline, request.run_id), message,
             actor="system:launcher")


def list_executions(session: Session, name: str, limit: int, offset: int):
    """Executions of a pipeline started through the catalog, newest first."""
    describe(session, name)
    return session.scalars(
        select(PipelineExecution).where(PipelineExecution.pipeline == name)
        .order_by(PipelineExecution.id.desc()).limit(limit).offset(offset)
    ).all()
