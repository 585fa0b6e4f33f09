"""Warm a server process before it takes traffic, then freeze its long-lived objects.

The first request of each kind in a fresh process pays for compiling its SQL, opening its database
connections, loading the server's catalog caches and lazy imports: 10-30 ms each, about 0.1-0.2 s
per process. Four gunicorn workers paying that under a steady 200 requests/s on two cores queue
requests for seconds (p95 of the first five seconds 380-560 ms against 20-40 ms after;
bench/RESULTS.md). :func:`warm_up` sends one GET of each read of the API to the app in-process,
with names drawn from the database (the first dataset, job and run), before the worker accepts
connections. An empty catalog answers 404s, which still compiles the lookups. :func:`warm_up_ingest`
does the same for the write path: it ingests two runs of a job over two new datasets in a
transaction that it then rolls back, so nothing of it is ever stored or seen.

The requests carry a read-only principal in a WSGI environ key (:data:`WARMUP_ENVIRON`). Only
in-process callers can set such a key: a WSGI server turns HTTP headers into ``HTTP_*`` keys,
never into this one. They are not written to the request log.

:func:`freeze` then moves everything allocated so far (modules, mapped classes, compiled
statements) into the garbage collector's permanent generation: full collections no longer walk
it, so they stop costing tens of milliseconds each in the middle of a request.
"""

from __future__ import annotations

import gc
import logging
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from flask import Flask
from sqlalchemy import select

from catalog.environ import WARMUP_ENVIRON
from catalog.services.auth import Principal

log = logging.getLogger(__name__)

WARMUP_PRINCIPAL = Principal(actor="system:warmup", role="viewer", kind="internal")


def _samples(app: Flask) -> tuple[tuple[str, str] | None, tuple[str, str] | None, str | None]:
    """One dataset (namespace, name), one job (namespace, name) and one run id, when there are."""
    from catalog.context import read_session
    from catalog.models import Dataset, Job, Namespace, Run

    with app.app_context(), read_session() as s:
        dataset = s.execute(select(Namespace.name, Dataset.name).join(
            Namespace, Dataset.namespace_id == Namespace.id).order_by(Dataset.id).limit(1)).first()
        job = s.execute(select(Namespace.name, Job.name).join(
            Namespace, Job.namespace_id == Namespace.id).order_by(Job.id).limit(1)).first()
        run = s.scalar(select(Run.uuid).order_by(Run.id.desc()).limit(1))
    return (tuple(dataset) if dataset else None, tuple(job) if job else None, run)


def warmup_paths(app: Flask) -> list[str]:
    """The reads to send: each shape of the read API, on real names where the catalog has them."""
    dataset, job, run = _samples(app)
    ds_ns, ds = (quote(dataset[0], safe=""), quote(dataset[1], safe="")) if dataset else (
        "default", "none")
    job_ns, job_name = (quote(job[0], safe=""), quote(job[1], safe="")) if job else (
        "default", "none")
    run_id = run or "00000000-0000-0000-0000-000000000000"
    return [
        "/api/v1/namespaces",
        f"/api/v1/namespaces/{ds_ns}/datasets?limit=20",
        f"/api/v1/namespaces/{ds_ns}/datasets/{ds}",
        f"/api/v1/namespaces/{ds_ns}/datasets/{ds}/versions?limit=20",
        f"/api/v1/namespaces/{job_ns}/jobs?limit=20",
        f"/api/v1/namespaces/{job_ns}/jobs/{job_name}",
        f"/api/v1/namespaces/{job_ns}/jobs/{job_name}/runs?limit=20",
        f"/api/v1/jobs/runs/{run_id}",
        f"/api/v1/lineage?nodeId=dataset:{ds_ns}:{ds}&depth=2",
        f"/api/v1/search?q={ds[:5] or 'a'}&limit=20",
        "/api/v1/events/lineage?limit=50",
    ]


def warmup_events() -> list[dict]:
    """Two runs of one job, each reading one dataset and writing another, with schemas.

    The second run finds the first one's job, datasets and edges already there, as nearly every
    real event does (new versions, a moved current version, search refreshes). The namespace
    names this process, so two workers warming up at once never wait on each other's rows.
    """
    producer = "https://github.com/recocatalog/catalog/warmup"
    ns = f"catalog-warmup-{os.getpid()}"
    schema = {"_producer": producer,
              "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
              "fields": [{"name": "user_id", "type": "BIGINT"},
                         {"name": "item_id", "type": "BIGINT"}]}
    now = datetime.now(UTC)
    events = []
    for n in range(2):
        run_id = str(uuid.uuid4())
        for i, state in enumerate(("START", "COMPLETE")):
            events.append({
                "eventType": state, "eventTime": (now + timedelta(seconds=2 * n + i)).isoformat(),
                "producer": producer,
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {"runId": run_id, "facets": {}},
                "job": {"namespace": ns, "name": "warmup", "facets": {}},
                "inputs": [{"namespace": ns, "name": "events", "facets": {"schema": schema}}],
                "outputs": [{"namespace": ns, "name": "features", "facets": {"schema": schema}}]})
    return events


def warm_up_ingest(app: Flask) -> int:
    """Ingest :func:`warmup_events` and roll them back; how many were ingested."""
    from catalog.ingest import ingest_event

    done = 0
    with app.app_context():
        session = app.extensions["catalog"].sessions()
        try:
            for event in warmup_events():
                ingest_event(session, event)
                done += 1
            session.flush()
        finally:
            session.rollback()
            session.close()
    return done


def warm_up(app: Flask, budget_s: float = 10.0,
            tick: Callable[[], None] | None = None) -> dict[str, int]:
    """GET each warm-up path once in-process, then ingest and roll back two runs; {what: status}.

    Stops starting new requests once ``budget_s`` seconds have gone (a slow database must not
    hold a worker at boot past gunicorn's timeout), and calls ``tick`` between them (gunicorn's
    heartbeat). Never raises: a cold worker is slower, not broken, so a failure is logged and it
    serves anyway.
    """
    deadline = time.monotonic() + budget_s
    statuses: dict[str, int] = {}
    try:
        client = app.test_client()
        for path in warmup_paths(app):
            if time.monotonic() > deadline:
                return statuses
            r = client.get(path, environ_base={WARMUP_ENVIRON: WARMUP_PRINCIPAL})
            statuses[path] = r.status_code
            if tick:
                tick()
        if time.monotonic() <= deadline:
            statuses["ingest (rolled back)"] = 201 if warm_up_ingest(app) == 4 else 500
    except Exception:
        log.exception("warm-up failed; serving cold")
    return statuses


def freeze() -> None:
    """Collect once, then exempt every surviving object from future collections."""
    gc.collect()
    gc.freeze()
