"""Workers warm themselves up before taking traffic (catalog/warmup.py), safely."""

from __future__ import annotations

import signal
import subprocess
import sys

from catalog import gunicorn_conf
from catalog.warmup import (
    WARMUP_ENVIRON,
    WARMUP_PRINCIPAL,
    warm_up,
    warm_up_ingest,
    warmup_events,
    warmup_paths,
)
from tests.factories import complete_run, ds, schema
from tests.ops.test_probes_and_logs import request_log

# The request-log capture of the probe/log tests, reused (a fixture import).
request_lines = request_log


def test_warm_up_reads_real_names_and_is_not_logged(app, client, request_lines):
    run_id = complete_run(client, "clean events", inputs=[ds("raw events", schema=schema("user"))],
                          outputs=[ds("events/clean", schema=schema("user"))])
    request_lines.clear()
    paths = warmup_paths(app)
    # Names come from the database, quoted for a URL.
    assert "/api/v1/namespaces/shop/datasets/events%2Fclean" in paths
    assert "/api/v1/namespaces/pipelines/jobs/clean%20events/runs?limit=20" in paths
    assert f"/api/v1/jobs/runs/{run_id}" in paths
    engine = app.extensions["catalog"].read_engine
    engine._compiled_cache.clear()
    statuses = warm_up(app)
    assert statuses == {**dict.fromkeys(paths, 200), "ingest (rolled back)": 201}
    assert len(engine._compiled_cache) >= 8  # the reads' SQL is compiled now, not on first call
    assert request_lines == []  # warm-up requests are not callers' requests


def test_warm_up_on_an_empty_catalog_answers_without_failing(app):
    statuses = warm_up(app)
    assert statuses["ingest (rolled back)"] == 201
    assert statuses["/api/v1/namespaces"] == 200
    assert statuses["/api/v1/namespaces/default/datasets/none"] == 404
    assert set(statuses.values()) <= {200, 201, 404}


def test_the_warm_up_principal_cannot_come_from_http(app, anon_client):
    # A header of that name reaches the app as HTTP_..., never as the environ key itself.
    r = anon_client.get("/api/v1/namespaces", headers={WARMUP_ENVIRON: "viewer"})
    assert r.status_code == 401
    # Only a Principal object counts; any other value in the key is ignored.
    r = anon_client.get("/api/v1/namespaces", environ_base={WARMUP_ENVIRON: "viewer"})
    assert r.status_code == 401
    r = anon_client.get("/api/v1/namespaces", environ_base={WARMUP_ENVIRON: WARMUP_PRINCIPAL})
    assert r.status_code == 200
    # Read-only: the same principal may not write.
    r = anon_client.post("/api/v1/lineage", json={},
                         environ_base={WARMUP_ENVIRON: WARMUP_PRINCIPAL})
    assert r.status_code == 403


def test_post_worker_init_warms_up_and_freezes(app, monkeypatch):
    calls = []
    worker = type("Worker", (), {"wsgi": app, "notify": lambda self: None,
                                 "log": type("Log", (), {"lines": []})()})()
    worker.log.info = lambda fmt, *args: worker.log.lines.append(fmt % args)
    monkeypatch.setattr("catalog.warmup.warm_up",
                        lambda wsgi, tick: calls.append(("warm", wsgi)) or {"/x": 200})
    monkeypatch.setattr("catalog.warmup.freeze", lambda: calls.append(("freeze", None)))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        gunicorn_conf.post_worker_init(worker)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == [("warm", app), ("freeze", None)]
    assert worker.log.lines[0].startswith("warm-up: 1 reads in ")
    monkeypatch.setattr(gunicorn_conf, "WARMUP", False)
    calls.clear()
    try:
        gunicorn_conf.post_worker_init(type("Worker", (), {"wsgi": app})())
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == []


def test_bad_warmup_setting_is_one_line_and_exit_1():
    code = "import catalog.gunicorn_conf"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"CATALOG_WARMUP": "yes", "PATH": "/usr/bin"})
    assert out.returncode == 1
    assert out.stderr.strip() == "error: CATALOG_WARMUP must be 0 or 1, got 'yes'"


def test_the_ingest_warm_up_leaves_nothing_behind(app, session):
    from sqlalchemy import func, select

    from catalog.models import AuditEntry, Dataset, Job, LineageEvent, Namespace, Run

    models = (Namespace, Dataset, Job, Run, LineageEvent, AuditEntry)
    before = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in models}
    assert warm_up_ingest(app) == 4
    session.rollback()
    after = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in models}
    assert after == before
    assert all(n == 0 for n in after.values())
    # And it did go through the whole write path: the same events are accepted for real.
    client = app.test_client()  # an admin's
    for event in warmup_events():
        assert client.post("/api/v1/lineage", json=event).status_code == 201
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Run)) == 2
    # The second run met the first one's rows: the output has two versions.
    from catalog.models import DatasetVersion

    assert session.scalar(select(func.count()).select_from(DatasetVersion).join(
        Dataset, DatasetVersion.dataset_id == Dataset.id).where(Dataset.name == "features")) == 2


def test_warm_up_stops_at_its_time_budget_and_ticks(app, monkeypatch):
    import catalog.warmup as warmup

    clock = [0.0]
    monkeypatch.setattr(warmup.time, "monotonic", lambda: clock[0])
    ticks = []

    def tick():  # each request "takes" 4 s of the 10 s budget
        ticks.append(clock[0])
        clock[0] += 4.0

    statuses = warm_up(app, budget_s=10.0, tick=tick)
    assert len(statuses) == 3 and len(ticks) == 3  # 0, 4, 8 s started; not 12 s
    assert "ingest (rolled back)" not in statuses
