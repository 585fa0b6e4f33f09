"""Pipelines the catalog knows and drives: their steps as jobs, and runs in worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import NotFound, ValidationFailed
from catalog.models import PipelineExecution
from catalog.services import auth
from catalog.services.ingest import ingest_event

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


def _check_params(body: object) -> dict:
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object", field="")
    allowed = {"source", "input", "attributes", "events", "seed", "workdir"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationFailed(f"unknown keys: {unknown}", field=unknown[0])
    source = body.get("source", "synthetic")
    if source not in SOURCES:
        raise ValidationFailed(f"source must be one of {list(SOURCES)}", field="source")
    events = body.get("events", 200_000)
    if not isinstance(events, int) or isinstance(events, bool) or not 100 <= events <= 10**9:
        raise ValidationFailed("events must be an integer between 100 and 1e9", field="events")
    seed = body.get("seed", 7)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValidationFailed("seed must be an integer", field="seed")
    params = {"source": source, "events": events, "seed": seed}
    for key in ("input", "attributes"):
        if body.get(key) is not None:
            if source == "synthetic":
                raise ValidationFailed(f"{key} applies to taobao and amazon only", field=key)
            if not isinstance(body[key], str) or not Path(body[key]).is_file():
                raise ValidationFailed(f"{key}: no such file on the catalog host", field=key)
            params[key] = body[key]
    if source != "synthetic" and "input" not in params:
        raise ValidationFailed(f"input is required for source {source}", field="input")
    return params


def start_run(
    session: Session, name: str, body: object, *, catalog_url: str, work_root: Path, actor: str
) -> PipelineExecution:
    """Register the pipeline, create its run (state NEW) and start a worker process for it.

    The worker reports back with a pipeline-role token of its own (``worker:<run id>``, expiring
    after WORKER_TOKEN_TTL), minted here and handed over in its environment as CATALOG_TOKEN.
    """
    describe(name)
    params = _check_params(body)
    register(session, name)
    run_id = str(uuid.uuid4())
    workdir = Path(work_root) / name
    if isinstance(body, dict) and body.get("workdir"):
        workdir = Path(body["workdir"])
    params["workdir"] = str(workdir.resolve())
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
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"worker-{run_id}.log"
    argv = [sys.executable, "-m", "pipelines.worker", "--run-id", run_id,
            "--catalog-url", catalog_url, "--workdir", params["workdir"],
            "--source", params["source"], "--events", str(params["events"]),
            "--seed", str(params["seed"])]
    for key in ("input", "attributes"):
        if key in params:
            argv += [f"--{key}", params[key]]
    token, _ = auth.create_token(session, f"worker:{run_id}", "pipeline", actor=actor,
                                 expires_in=WORKER_TOKEN_TTL)
    env = {**os.environ, "CATALOG_TOKEN": token}
    _reap_workers()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
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
