"""gunicorn with 4 workers, 8 concurrent OpenLineage writers, on PostgreSQL and SQLite.

Reuses the writers of tests/catalog/test_ingest_concurrency.py (overlapping jobs and datasets,
batches, re-sends) against the production server setup: acknowledged events = stored events,
no duplicate or misnumbered versions, no deadlock or serialization error reaching a client,
lineage consistent afterwards.
"""

from __future__ import annotations

import threading
from collections import Counter

from sqlalchemy import func, select

from catalog.models import (
    Dataset,
    DatasetVersion,
    LineageEdge,
    LineageEvent,
    Run,
    RunIO,
    RunStateChange,
)
from tests.catalog.test_ingest_concurrency import THREADS, N, Writers
from tests.live_server import gunicorn_server

SECONDS = 6.0
WORKERS = 4


def check_consistent(session, writers: Writers) -> None:
    """The invariants every acknowledged write must leave behind."""
    assert writers.failures == []  # no 5xx (deadlock, serialization, busy) reached a client
    created = Counter(h for h, status in writers.acks if status == "created")
    acked = {h for h, _ in writers.acks}
    session.rollback()
    stored = Counter(session.scalars(select(LineageEvent.event_hash)))
    assert set(stored) == acked and max(stored.values()) == 1
    assert set(created) == acked and max(created.values()) == 1
    assert session.scalar(select(func.count()).select_from(RunStateChange)) == len(stored)
    rows = session.execute(select(Dataset.name, DatasetVersion.version).join(
        DatasetVersion, DatasetVersion.dataset_id == Dataset.id)).all()
    by_ds: dict[str, list[int]] = {}
    for name, v in rows:
        by_ds.setdefault(name, []).append(v)
    for name, versions in by_ds.items():
        assert sorted(versions) == list(range(1, len(versions) + 1)), name
    runs = {r.uuid: r for r in session.scalars(select(Run))}
    for run_id, j in writers.completed.items():
        run = runs[run_id]
        assert run.state == "COMPLETE" and run.job_version_id is not None
        (written,) = session.scalars(select(DatasetVersion).where(
            DatasetVersion.run_id == run.id)).all()
        assert written.dataset.name == f"d{(j + 3) % N}"
        assert session.scalar(select(RunIO.dataset_version_id).where(
            RunIO.run_id == run.id, RunIO.direction == "output")) == written.id
    jobs = set(writers.completed.values())
    assert session.scalar(select(func.count()).select_from(LineageEdge)) == 3 * len(jobs)


def test_gunicorn_workers_with_concurrent_writers(app, db_url, session, tmp_path):
    with gunicorn_server(db_url, tmp_path, workers=WORKERS) as server:
        writers = Writers(server.url, SECONDS)
        threads = [threading.Thread(target=writers.run, args=(seed,)) for seed in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        log = (tmp_path / "gunicorn-1.log").read_text()
    assert log.count("Booting worker") == WORKERS
    assert len(writers.completed) >= THREADS  # the bound left time for real contention
    check_consistent(session, writers)
    assert "Traceback" not in log


def test_login_holds_across_gunicorn_workers(app, db_url, tmp_path, monkeypatch):
    """Without CATALOG_SECRET_KEY every worker must still sign cookies with one key."""
    import requests

    from catalog.db import session_scope
    from catalog.services import auth as auth_svc

    monkeypatch.delenv("CATALOG_SECRET_KEY", raising=False)
    with session_scope(app.extensions["catalog"].sessions) as s:
        auth_svc.create_user(s, "vera", "a long enough password", "viewer", actor="test-setup")
    with gunicorn_server(db_url, tmp_path, workers=WORKERS) as server:
        r = requests.post(server.url + "/login", timeout=30,
                          json={"name": "vera", "password": "a long enough password"})
        assert r.status_code == 200, r.text
        cookies = r.cookies
        # A new connection per request: the requests spread over the workers.
        codes = [requests.get(server.url + "/api/v1/namespaces", cookies=cookies, timeout=30,
                              headers={"Connection": "close"}).status_code for _ in range(16)]
    assert codes == [200] * 16
