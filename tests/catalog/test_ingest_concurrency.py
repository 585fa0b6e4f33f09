"""Concurrent OpenLineage writers against a real server: nothing lost, doubled, misnumbered or 5xx.

Eight threads post overlapping runs for a bounded time: the same datasets are read and written by
several jobs (one job's outputs are another's inputs), some runs go in batches, and acknowledged
events are re-sent while other threads write. Afterwards every acknowledged event must be stored
exactly once and folded exactly once, and each dataset's versions must be numbered 1..n.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from catalog import db as catalog_db
from catalog.ingest import canonical_hash
from catalog.models import (
    Dataset,
    DatasetVersion,
    Job,
    LineageEdge,
    LineageEvent,
    Run,
    RunIO,
    RunStateChange,
)
from tests.factories import T0, ds, facet, run_event, schema
from tests.live_server import live_server

THREADS = 8
SECONDS = 10.0
N = 6  # jobs and datasets; job i reads d[i], d[i+1] and writes d[i+3] (mod N)
SCHEMAS = [schema("id", "a"), schema("id", "a", ("b", "BIGINT"))]


def make_run(rng: random.Random, tick: int) -> tuple[list[dict], str, int]:
    """START and COMPLETE of a new run of a random job; the run id and the job's index."""
    j = rng.randrange(N)
    ins, out = [(j + k) % N for k in (0, 1)], (j + 3) % N

    def dataset(i: int, output: bool = False) -> dict:
        d = ds(f"d{i}", schema=rng.choice(SCHEMAS))
        if output and rng.random() < 0.3:
            d["facets"]["dataQualityAssertions"] = facet(
                "DataQualityAssertionsDatasetFacet",
                assertions=[{"assertion": "not_null", "success": True, "column": "id"}])
        return d

    run_id = str(uuid.uuid4())
    events = []
    for k, state in enumerate(("START", "COMPLETE")):
        ev = run_event(state, f"job{j}", run_id=run_id, inputs=[dataset(i) for i in ins],
                       outputs=[dataset(out, output=True)])
        # Distinct times keep every event distinct, so each is created exactly once.
        ev["eventTime"] = (T0 + timedelta(milliseconds=2 * tick + k)).isoformat()
        events.append(ev)
    return events, run_id, j


class Writers:
    """Shared state of the writer threads: what the server acknowledged, and what went wrong."""

    def __init__(self, base: str, seconds: float):
        self.base, self.deadline = base, time.monotonic() + seconds
        self.lock = threading.Lock()
        self.ticks = iter(range(10**9))
        self.acks: list[tuple[str, str]] = []  # (event hash, "created" | "duplicate")
        self.sent: list[dict] = []  # acknowledged events, for re-sending
        self.completed: dict[str, int] = {}  # run id -> job index, COMPLETE acknowledged
        self.failures: list[str] = []

    def record(self, events: list[dict], statuses: list[str], run_id: str | None, j: int):
        with self.lock:
            for ev, status in zip(events, statuses, strict=True):
                self.acks.append((canonical_hash(ev), status))
                self.sent.append(ev)
                if ev["eventType"] == "COMPLETE" and run_id is not None:
                    self.completed[run_id] = j

    def post(self, s: requests.Session, path: str, body) -> requests.Response | None:
        r = s.post(self.base + path, json=body, timeout=60)
        if r.status_code not in (201, 207):  # 207: some refused, reported by the caller
            with self.lock:
                self.failures.append(f"{path}: {r.status_code} {r.text[:300]}")
            return None
        return r

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {os.environ['CATALOG_TOKEN']}"  # live_server's
            while time.monotonic() < self.deadline:
                with self.lock:
                    tick = next(self.ticks)
                    resend = rng.sample(self.sent, min(len(self.sent), 2)) if self.sent else []
                events, run_id, j = make_run(rng, tick)
                if rng.random() < 0.3:  # a batch: this run plus re-sent (duplicate) events
                    r = self.post(s, "/api/v1/lineage/batch", events + resend)
                    if r is None:
                        continue
                    results = r.json()["results"]
                    bad = [x for x in results if x["status"] == "error"]
                    if bad:
                        with self.lock:
                            self.failures.append(f"batch: {bad[0]}")
                        continue
                    statuses = [x["status"] for x in results]
                    self.record(events, statuses[:2], run_id, j)
                    self.record(resend, statuses[2:], None, j)
                    continue
                for ev in events + resend:
                    r = self.post(s, "/api/v1/lineage", ev)
                    if r is None:
                        break
                    is_new = ev in events
                    self.record([ev], [r.json()["status"]], run_id if is_new else None, j)


def test_concurrent_writers_store_each_event_once(app, db_url, session, tmp_path):
    with live_server(db_url, tmp_path) as base:
        writers = Writers(base, SECONDS)
        threads = [threading.Thread(target=writers.run, args=(seed,)) for seed in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert writers.failures == []
    created = Counter(h for h, status in writers.acks if status == "created")
    acked = {h for h, _ in writers.acks}
    assert len(writers.completed) >= THREADS  # the bound left time for real contention
    session.rollback()
    stored = Counter(session.scalars(select(LineageEvent.event_hash)))
    # Every acknowledged event stored once, created once (re-sends were duplicates).
    assert set(stored) == acked and max(stored.values()) == 1
    assert set(created) == acked and max(created.values()) == 1
    # ... and folded once: one state change per stored run event.
    assert session.scalar(select(func.count()).select_from(RunStateChange)) == len(stored)

    # Versions per dataset 1..n, no gaps or clashes.
    rows = session.execute(select(Dataset.name, DatasetVersion.version).join(
        DatasetVersion, DatasetVersion.dataset_id == Dataset.id)).all()
    by_ds: dict[str, list[int]] = {}
    for name, v in rows:
        by_ds.setdefault(name, []).append(v)
    for name, versions in by_ds.items():
        assert sorted(versions) == list(range(1, len(versions) + 1)), name

    # Each completed run is COMPLETE and wrote exactly one version, linked from its output I/O.
    runs = {r.uuid: r for r in session.scalars(select(Run))}
    for run_id, j in writers.completed.items():
        run = runs[run_id]
        assert run.state == "COMPLETE" and run.job_version_id is not None
        written = session.scalars(select(DatasetVersion).where(
            DatasetVersion.run_id == run.id)).all()
        assert len(written) == 1 and written[0].dataset.name == f"d{(j + 3) % N}"
        link = session.scalar(select(RunIO.dataset_version_id).where(
            RunIO.run_id == run.id, RunIO.direction == "output"))
        assert link == written[0].id
    jobs = {j for j in writers.completed.values()}
    assert session.scalar(select(func.count()).select_from(LineageEdge)) == 3 * len(jobs)


# --- lost races: retried, then 503 ----------------------------------------------------------------


def lost_race(db_url: str) -> OperationalError:
    """What SQLAlchemy raises when the backend picks this transaction as a deadlock's victim."""
    if db_url.startswith("postgresql"):
        import psycopg

        return OperationalError("SELECT ...", {}, psycopg.errors.DeadlockDetected("deadlock"))
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


@pytest.fixture
def racing(monkeypatch, db_url):
    """Folding an event loses its race whenever ``plan["lose"](event, folds so far)`` is true.

    The event is folded first, so the rollback has writes to undo. No back-off sleeps.
    """
    from catalog import ingest

    monkeypatch.setattr(catalog_db, "RETRY_BACKOFF_S", 0.0)
    real, plan, calls = ingest.fold_event, {"lose": lambda event, n: False}, []

    def fold(unit, ev):
        calls.append(ev.body)
        real(unit, ev)
        if plan["lose"](ev.body, len(calls)):
            raise lost_race(db_url)

    monkeypatch.setattr(ingest, "fold_event", fold)
    return plan, calls


def stored(session, model, column):
    session.rollback()
    return sorted(session.scalars(select(column).select_from(model)))


def test_lost_race_is_retried_from_scratch(client, session, racing):
    plan, calls = racing
    plan["lose"] = lambda event, n: n < catalog_db.TRANSACTION_ATTEMPTS
    ev = run_event("COMPLETE", "j", outputs=[ds("out", schema=schema("a"))])
    r = client.post("/api/v1/lineage", json=ev)
    assert r.status_code == 201 and r.get_json()["status"] == "created"
    assert len(calls) == catalog_db.TRANSACTION_ATTEMPTS
    assert stored(session, LineageEvent, LineageEvent.job_name) == ["j"]
    assert stored(session, DatasetVersion, DatasetVersion.version) == [1]


def test_race_lost_every_time_is_503_with_retry_after(client, session, racing):
    plan, calls = racing
    plan["lose"] = lambda event, n: True
    ev = run_event("START", "j", outputs=[ds("out")])
    r = client.post("/api/v1/lineage", json=ev)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == str(catalog_db.RETRY_AFTER_S)
    body = r.get_json()
    assert body["error"] == "DatabaseBusy" and "retry" in body["message"]
    assert body["retryAfter"] == catalog_db.RETRY_AFTER_S
    assert len(calls) == catalog_db.TRANSACTION_ATTEMPTS
    assert stored(session, LineageEvent, LineageEvent.job_name) == []
    assert stored(session, Dataset, Dataset.name) == []


def test_batch_that_lost_a_race_is_retried_whole(client, session, racing):
    plan, calls = racing
    plan["lose"] = lambda event, n: n == 2  # the second event, the first time round
    events = [run_event("COMPLETE", name, outputs=[ds(f"out_{name}")]) for name in "abc"]
    r = client.post("/api/v1/lineage/batch", json=events)
    assert r.status_code == 201
    assert [x["status"] for x in r.get_json()["results"]] == ["created"] * 3
    assert len(calls) == 5  # a, b (lost), then a, b, c again
    assert stored(session, LineageEvent, LineageEvent.job_name) == ["a", "b", "c"]
    assert stored(session, DatasetVersion, DatasetVersion.version) == [1, 1, 1]


def test_batch_gives_each_failure_its_own_status(client, session, racing):
    plan, _ = racing

    def lose(event, n):
        if event["job"]["name"] == "broken":
            raise RuntimeError("a bug")
        return event["job"]["name"] == "busy"

    plan["lose"] = lose
    events = [run_event("COMPLETE", name, outputs=[ds(f"out_{name}")])
              for name in ("busy", "good", "broken")]
    r = client.post("/api/v1/lineage/batch", json=events)
    assert r.status_code == 207
    body = r.get_json()
    assert (body["accepted"], body["failed"]) == (1, 2)
    results = body["results"]
    assert [(x["status"], x.get("code")) for x in results] == [
        ("error", 503), ("created", None), ("error", 500)]
    assert results[0]["error"] == "DatabaseBusy"
    assert results[2] == {"index": 2, "status": "error", "code": 500,
                          "error": "InternalServerError", "message": "internal error"}
    assert stored(session, LineageEvent, LineageEvent.job_name) == ["good"]
    assert stored(session, Dataset, Dataset.name) == ["out_good"]


def test_bad_event_in_a_batch_rolls_back_alone(client, session, racing):
    """Events before and after a failing one keep everything; the failing one leaves nothing,
    in the database or in what later events of the batch see."""
    plan, _ = racing
    plan["lose"] = lambda event, n: event["run"]["facets"].get("boom") and 1 / 0
    rid = str(uuid.uuid4())
    a = [run_event(et, "j", run_id=rid, minutes=i, inputs=[ds("in", schema=schema("x"))],
                   outputs=[ds("out", schema=schema("a"))])
         for i, et in enumerate(("START", "COMPLETE"))]
    # Changes the output's schema, writes a version, then fails.
    broken = run_event("COMPLETE", "j", minutes=5, outputs=[ds("out", schema=schema("b"))],
                       run_facets={"boom": {"_producer": "p", "_schemaURL": "s"}})
    # Claims run rid for another job: refused after the job was created.
    thief = run_event("COMPLETE", "k", run_id=rid, minutes=6)
    after = run_event("COMPLETE", "j", minutes=10, outputs=[ds("out", schema=schema("a"))])
    r = client.post("/api/v1/lineage/batch", json=[a[0], broken, thief, a[1], after, broken])
    assert r.status_code == 207
    results = r.get_json()["results"]
    assert [(x["status"], x.get("code")) for x in results] == [
        ("created", None), ("error", 500), ("error", 422), ("created", None), ("created", None),
        ("error", 500)]
    assert results[2]["message"] == f"run {rid} belongs to job pipelines:j"
    session.rollback()
    assert len(stored(session, LineageEvent, LineageEvent.id)) == 3
    assert stored(session, Run, Run.state) == ["COMPLETE", "COMPLETE"]
    out = session.scalar(select(Dataset).where(Dataset.name == "out"))
    assert [f.name for f in out.fields] == ["a"]
    versions = session.execute(select(DatasetVersion.version, DatasetVersion.schema_fields)
                               .where(DatasetVersion.dataset_id == out.id)
                               .order_by(DatasetVersion.version)).all()
    assert [(v, [f["name"] for f in fields]) for v, fields in versions] == [(1, ["a"]), (2, ["a"])]
    assert out.current_version.version == 2
    assert stored(session, RunStateChange, RunStateChange.state) == [
        "COMPLETE", "COMPLETE", "START"]
    assert session.scalar(select(func.count()).select_from(LineageEdge)) == 2
    assert stored(session, Job, Job.name) == ["j"]
