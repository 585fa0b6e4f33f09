"""Crash safety: ``kill -9`` of the server mid-ingest, and of a pipeline or scoring run mid-step.

Whatever the server acknowledged survives its death, and nothing it was killed in the middle of
is half there. A producer killed mid-step is closed as ABORT by the reaper, never registers its
partial output, and the next run recovers with no manual clean-up.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter

import requests
from sqlalchemy import func, select

from catalog.models import Dataset, DatasetVersion, LineageEvent, Run, RunIO, RunStateChange
from catalog.services.ingest import canonical_hash
from tests.catalog.test_ingest_concurrency import make_run
from tests.live_server import Gunicorn

RUNS_PER_BATCH = 10
WRITERS = 4


class BatchWriters:
    """Threads posting batches until the server dies; what was acknowledged, what was not."""

    def __init__(self, url: str):
        self.url = url
        self.lock = threading.Lock()
        self.ticks = itertools.count()
        self.acked: dict[str, dict] = {}
        self.in_doubt: list[list[dict]] = []  # sent, no answer: the server died under them
        self.failures: list[str] = []

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as s:
            while True:
                batch = []
                for _ in range(RUNS_PER_BATCH):
                    with self.lock:
                        tick = next(self.ticks)
                    batch += make_run(rng, tick)[0]
                try:
                    r = s.post(self.url + "/api/v1/lineage/batch", json=batch, timeout=60)
                except requests.RequestException:
                    with self.lock:
                        self.in_doubt.append(batch)
                    return
                with self.lock:
                    if r.status_code != 201:
                        self.failures.append(f"{r.status_code} {r.text[:300]}")
                        return
                    self.acked.update((canonical_hash(ev), ev) for ev in batch)


def check_nothing_half_written(session) -> dict[str, int]:
    """Every stored event fully folded, every version backed by a stored COMPLETE."""
    session.rollback()
    stored = Counter(session.scalars(select(LineageEvent.run_uuid)))
    changes = dict(session.execute(select(Run.uuid, func.count(RunStateChange.id)).join(
        RunStateChange, RunStateChange.run_id == Run.id).group_by(Run.uuid)).all())
    assert changes == dict(stored)  # one state change per stored event, per run
    completes = set(session.scalars(select(LineageEvent.run_uuid).where(
        LineageEvent.event_type == "COMPLETE")))
    runs = {r.uuid: r for r in session.scalars(select(Run))}
    assert set(runs) == set(stored)
    for uuid, run in runs.items():
        assert (run.state == "COMPLETE") == (uuid in completes), uuid
    versions = session.execute(select(DatasetVersion.dataset_id, DatasetVersion.version,
                                      DatasetVersion.run_id, DatasetVersion.id)).all()
    by_run = Counter(run_id for _, _, run_id, _ in versions)
    for uuid in completes:
        run = runs[uuid]
        assert run.job_version_id is not None and by_run[run.id] == 1, uuid
        out = session.scalar(select(RunIO.dataset_version_id).where(
            RunIO.run_id == run.id, RunIO.direction == "output"))
        assert out is not None
    # Versions without a run are inputs first seen as read (observed), not half-written outputs.
    assert sum(n for run_id, n in by_run.items() if run_id is not None) == len(completes)
    by_ds: dict[int, list[int]] = {}
    for ds_id, version, _, _ in versions:
        by_ds.setdefault(ds_id, []).append(version)
    for ds_id, numbers in by_ds.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), ds_id
    # Each dataset's current version is one of its own (the latest by event time).
    current = dict(session.execute(select(Dataset.id, DatasetVersion.dataset_id).join(
        DatasetVersion, Dataset.current_version_id == DatasetVersion.id)).all())
    assert current == {ds_id: ds_id for ds_id in by_ds}
    return dict(stored)


def test_kill_9_during_batch_ingest_keeps_every_acknowledged_event(app, db_url, session,
                                                                   tmp_path):
    server = Gunicorn(db_url, tmp_path, workers=2)
    server.start()
    try:
        writers = BatchWriters(server.url)
        threads = [threading.Thread(target=writers.run, args=(seed,))
                   for seed in range(WRITERS)]
        for t in threads:
            t.start()
        time.sleep(3)
        server.kill()  # SIGKILL to the master and both workers, mid-batch
        for t in threads:
            t.join(timeout=60)
        assert writers.failures == []
        assert len(writers.acked) >= 2 * RUNS_PER_BATCH and writers.in_doubt
        session.rollback()
        stored = set(session.scalars(select(LineageEvent.event_hash)))
        assert set(writers.acked) <= stored  # acknowledged = stored
        check_nothing_half_written(session)

        # After a restart the producers re-send what was in doubt; everything lands once.
        server.start()
        sent = dict(writers.acked)
        with requests.Session() as s:
            for batch in writers.in_doubt:
                r = s.post(server.url + "/api/v1/lineage/batch", json=batch, timeout=60)
                assert r.status_code == 201, r.text[:300]
                sent.update((canonical_hash(ev), ev) for ev in batch)
    finally:
        server.stop()
    session.rollback()
    assert Counter(session.scalars(select(LineageEvent.event_hash))) == Counter(set(sent))
    check_nothing_half_written(session)
