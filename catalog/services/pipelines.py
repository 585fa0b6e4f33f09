"""Pipelines the catalog knows and drives: their steps as jobs, and runs in worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from catalog.config import Settings
from catalog.errors import NotFound, TooManyRequests, Unavailable, ValidationFailed
from catalog.models import PipelineExecution, Run
from catalog.services import auth
from catalog.services.ingest import ingest_event
from catalog.services.run_tokens import RunScope

PRODUCER = "https://github.com/recocatalog/recocatalog/catalog"
BASE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
JOB_NAMESPACE = "recsys-pipelines"
DATA_NAMESPACE = "recsys"
SOURCES = ("synthetic", "taobao", "amazon")
# How long a worker's own token stays valid: longer than any pipeline run should take.
WORKER_TOKEN_TTL = timedelta(days=1)


def _definitions() -> dict[str, list]:
    from pipelines.report import PIPELINE_JOB
    from pipelines.steps import load_steps

    return {PIPELINE_JOB: load_steps()}


def describe(name: str | None = None) -> list[dict]:
    """Known pipelines with their steps (name, job, inputs, output, SQL, suite)."""
    defs = _definitions()
    if name is not None and name not in defs:
        raise NotFound(f"pipeline {name!r} not found; known: {sorted(defs)}", field="pipeline")
    out = []
    for pname, steps in sorted(defs.items()):
        if name is not None and pname != name:
            continue
        out.append({
            "name": pname,
            "namespace": JOB_NAMESPACE,
            "steps": [
                {"name": s.name, "job": f"{pname}.{s.name}", "inputs": list(s.inputs),
                 "output": s.output, "grain": s.grain, "purpose": s.purpose, "sql": s.sql,
                 "suite": s.suite_path.name if s.suite_path else None}
                for s in steps
            ],
        })
    return out


def _facet(name: str, **fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": f"{BASE}#/$defs/{name}", **fields}


def register(session: Session, name: str, at: datetime | None = None) -> int:
    """Record the pipeline and each step as jobs (JobEvents with SQL and declared I/O).

    Idempotent: identical definitions produce identical events, which the catalog stores once.
    Returns the number of jobs described.
    """
    (definition,) = describe(name)
    at = at or datetime(2000, 1, 1, tzinfo=UTC)  # fixed so re-registration is a no-op
    events = [{
        "eventTime": at.isoformat(), "producer": PRODUCER, "schemaURL": f"{BASE}#/$defs/JobEvent",
        "job": {"namespace": JOB_NAMESPACE, "name": name, "facets": {
            "jobType": _facet("JobTypeJobFacet", processingType="BATCH", integration="DUCKDB",
                              jobType="PIPELINE")}},
        "inputs": [], "outputs": [],
    }]
    for s in definition["steps"]:
        events.append({
            "eventTime": at.isoformat(), "producer": PRODUCER,
            "schemaURL": f"{BASE}#/$defs/JobEvent",
            "job": {"namespace": JOB_NAMESPACE, "name": s["job"], "facets": {
                "sql": _facet("SQLJobFacet", query=s["sql"], dialect="duckdb"),
                "jobType": _facet("JobTypeJobFacet", processingType="BATCH",
                                  integration="DUCKDB", jobType="QUERY"),
                "documentation": _facet("DocumentationJobFacet",
                                        description=f"{s['purpose']} Grain: {s['grain']}."),
            }},
            "inputs": [{"namespace": DATA_NAMESPACE, "name": i} for i in s["inputs"]],
            "outputs": [{"namespace": DATA_NAMESPACE, "name": s["output"]}],
        })
    for event in events:
        ingest_event(session, event)
    return len(events)


# Keys a run request may hold. A work folder is not one: the server chooses it.
RUN_KEYS = ("source", "input", "attributes", "events", "seed")
TERMINAL = ("COMPLETE", "FAIL", "ABORT")


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
        .where(or_(Run.state.is_(None), Run.state.not_in(TERMINAL))))


def _private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def start_run(session: Session, name: str, body: object, *, settings: Settings,
              actor: str) -> PipelineExecution:
    """Register the pipeline, create its run (state NEW) and start a worker process for it.

    The run works in ``<work_dir>/<pipeline>/<run id>``, reads only under the data root, and
    reports to the server's configured address with a token scoped to this run, which acts for
    ``actor`` (see :mod:`catalog.services.run_tokens`). 429 past ``max_api_runs`` runs at once.
    """
    describe(name)
    params = check_params(body, settings)
    if settings.callback_url is None:
        raise Unavailable("API-started runs report back over HTTP, and this server does not "
                          "know its address: set CATALOG_PUBLIC_URL")
    active = _active_runs(session)
    if active >= settings.max_api_runs:
        raise TooManyRequests(f"{active} API-started runs are in progress; the limit is "
                              f"{settings.max_api_runs} (CATALOG_MAX_API_RUNS)", retryAfter=60)
    register(session, name)
    run_id = str(uuid.uuid4())
    workdir = Path(settings.work_dir).resolve() / name / run_id
    params["workdir"] = str(workdir)
    now = datetime.now(UTC)
    # An OTHER event creates the run without a state, so it is visible before the worker starts.
    ingest_event(session, {
        "eventType": "OTHER", "eventTime": now.isoformat(), "producer": PRODUCER,
        "schemaURL": f"{BASE}#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {"pipelineRequest": _facet(
            "PipelineRequestRunFacet", params=params)}},
        "job": {"namespace": JOB_NAMESPACE, "name": name, "facets": {}},
        "inputs": [], "outputs": [],
    })
    _private_dir(workdir)
    log_path = workdir / f"worker-{run_id}.log"
    argv = [sys.executable, "-m", "pipelines.worker", "--run-id", run_id,
            "--catalog-url", settings.callback_url, "--workdir", params["workdir"],
            "--source", params["source"], "--events", str(params["events"]),
            "--seed", str(params["seed"])]
    if settings.data_dir:
        argv += ["--data-root", str(Path(settings.data_dir).resolve())]
    for key in ("input", "attributes"):
        if key in params:
            argv += [f"--{key}", params[key]]
    token, _ = auth.create_token(
        session, f"worker:{run_id}", "pipeline", actor=actor, expires_in=WORKER_TOKEN_TTL,
        scope=RunScope(JOB_NAMESPACE, name, run_id), on_behalf_of=actor)
    # The worker talks to the catalog over HTTP only: no database URL or cookie key.
    env = {k: v for k, v in os.environ.items()
           if k not in ("CATALOG_DATABASE_URL", "CATALOG_SECRET_KEY")}
    env["CATALOG_TOKEN"] = token
    _reap_workers()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=workdir)
    _WORKERS.append(proc)
    execution = PipelineExecution(pipeline=name, run_uuid=run_id, params=params, pid=proc.pid,
                                  log_path=str(log_path), created_at=now)
    session.add(execution)
    session.flush()
    return execution


# Workers this process started and has not yet seen exit: kept so that each is waited for
# (no zombie processes) and no Popen is dropped while its child still runs.
_WORKERS: list[subprocess.Popen] = []


def _reap_workers() -> None:
    """Wait for (reap) the workers that have exited since the last call."""
    _WORKERS[:] = [p for p in _WORKERS if p.poll() is None]


def list_executions(session: Session, name: str, limit: int, offset: int):
    """Executions of a pipeline started through the catalog, newest first."""
    describe(name)
    return session.scalars(
        select(PipelineExecution).where(PipelineExecution.pipeline == name)
        .order_by(PipelineExecution.id.desc()).limit(limit).offset(offset)
    ).all()
