"""Crash safety: ``kill -9`` of the server mid-ingest, and of a pipeline or scoring run mid-step.

Whatever the server acknowledged survives its death, and nothing it was killed in the middle of
is half there. A producer killed mid-step is closed as ABORT by the reaper, never registers its
partial output, and the next run recovers with no manual clean-up.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import requests
from sqlalchemy import func, select

from catalog.ingest import canonical_hash
from catalog.models import (
    Dataset,
    DatasetVersion,
    Job,
    LineageEvent,
    Run,
    RunIO,
    RunStateChange,
)
from pipelines.tables import fingerprint
from tests.catalog.test_ingest_concurrency import make_run
from tests.dbutil import wipe
from tests.live_server import Gunicorn, live_server

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
            s.headers["Authorization"] = f"Bearer {os.environ['CATALOG_TOKEN']}"
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
    for rid, run in runs.items():
        assert (run.state == "COMPLETE") == (rid in completes), rid
    versions = session.execute(select(DatasetVersion.dataset_id, DatasetVersion.version,
                                      DatasetVersion.run_id, DatasetVersion.id)).all()
    by_run = Counter(run_id for _, _, run_id, _ in versions)
    for rid in completes:
        run = runs[rid]
        assert run.job_version_id is not None and by_run[run.id] == 1, rid
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
                                                                   tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOG_TOKEN", app.config["TEST_TOKENS"]["admin"])
    server = Gunicorn(db_url, tmp_path, workers=2)
    server.start()
    try:
        writers = BatchWriters(server.url)
        threads = [threading.Thread(target=writers.run, args=(seed,))
                   for seed in range(WRITERS)]
        for t in threads:
            t.start()
        # Kill once some batches are acknowledged (a fixed sleep raced a loaded machine), and
        # while the writers are still sending, so some are in doubt.
        deadline = time.monotonic() + 60
        while len(writers.acked) < 2 * RUNS_PER_BATCH and time.monotonic() < deadline:
            time.sleep(0.05)
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
            s.headers["Authorization"] = f"Bearer {os.environ['CATALOG_TOKEN']}"
            for batch in writers.in_doubt:
                r = s.post(server.url + "/api/v1/lineage/batch", json=batch, timeout=60)
                assert r.status_code == 201, r.text[:300]
                sent.update((canonical_hash(ev), ev) for ev in batch)
    finally:
        server.stop()
    session.rollback()
    assert Counter(session.scalars(select(LineageEvent.event_hash))) == Counter(set(sent))
    check_nothing_half_written(session)


# --- a pipeline or scoring run killed mid-step -------------------------------------------------


def _reap_now(db_url: str, runner) -> list[dict]:
    from catalog.cli import main

    r = runner.invoke(main, ["runs", "reap", "--older-than", "0", "--json",
                             "--database-url", db_url])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["runs"]


def _open_runs(session) -> dict[str, tuple[str, str]]:
    session.rollback()
    return {rid: (job, state) for rid, job, state in session.execute(
        select(Run.uuid, Job.name, Run.state).join(Job, Run.job_id == Job.id)
        .where(Run.state.in_(("NEW", "START", "RUNNING"))))}


# A pipeline worker whose ``user_features`` step stalls (as on a slow disk) once its table is built
# and before it reports: the test kills it exactly there, mid-step, whatever the machine's speed.
STALLING_WORKER = """
import sys, time
from pathlib import Path
import pipelines.runner as runner
from pipelines.worker import main

real = runner._build
marker = Path(sys.argv[1])

def stalled(con, step):
    real(con, step)
    if step.name == "user_features" and not marker.exists():
        marker.write_text(step.name)
        time.sleep(300)

runner._build = stalled
sys.exit(main(sys.argv[2:]))
"""


def _worker(url: str, workdir: Path, run_id: str, log: Path,
            stall: Path | None = None) -> subprocess.Popen:
    args = ["--run-id", run_id, "--catalog-url", url, "--workdir", str(workdir),
            "--source", "synthetic", "--events", str(EVENTS)]
    cmd = ([sys.executable, "-c", STALLING_WORKER, str(stall)] if stall
           else [sys.executable, "-m", "pipelines.worker"])
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd + args, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=Path(__file__).resolve().parents[2])


EVENTS = 50_000


@pytest.fixture
def live_sqlite(sqlite_url, tmp_path):
    """A catalog server on the suite's (wiped) SQLite database, and a session on it."""
    from catalog.db import make_engine, make_sessionmaker

    engine = make_engine(sqlite_url, immediate=False)
    wipe(engine)
    with live_server(sqlite_url, tmp_path) as url:
        session = make_sessionmaker(engine)()
        yield url, session
        session.close()
    engine.dispose()


@pytest.mark.slow  # ~20 s: a real pipeline run, killed, then run again to the end
def test_pipeline_killed_mid_step_is_aborted_and_the_next_run_recovers(
        live_sqlite, sqlite_url, tmp_path, runner):
    url, session = live_sqlite
    work = tmp_path / "work"
    killed_id = str(uuid.uuid4())
    stall = tmp_path / "stalled"
    proc = _worker(url, work, killed_id, tmp_path / "killed.log", stall)
    # Wait until the stalled step is open in the catalog (its START is sent from the pipeline's
    # reporting thread, so it may land after the stall begins), then kill the worker outright.
    deadline = time.monotonic() + 120
    while not (stall.exists() and any(
            job == "feature_pipeline.user_features" for job, _ in _open_runs(session).values())):
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()
        assert time.monotonic() < deadline, "the stalled step never opened"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # A request the worker had already sent may still be finishing on the server: let it land
    # before taking stock, so the reaper and this test see the same open runs.
    time.sleep(1.0)
    open_before = _open_runs(session)
    assert killed_id in open_before and len(open_before) >= 2  # the pipeline and its step

    reaped = _reap_now(sqlite_url, runner)
    assert {r["run_id"] for r in reaped} == set(open_before)
    assert _open_runs(session) == {}
    aborted = {r.uuid: r for r in session.scalars(select(Run).where(
        Run.uuid.in_(list(open_before))))}
    for run in aborted.values():
        assert run.state == "ABORT" and run.error_message.startswith("run abandoned")
    # The step killed mid-way registered no output version.
    ids = [r.id for r in aborted.values()]
    assert session.scalar(select(func.count()).select_from(DatasetVersion).where(
        DatasetVersion.run_id.in_(ids))) == 0

    # The next run needs no clean-up: same workdir, new run id, to the end.
    again_id = str(uuid.uuid4())
    proc = _worker(url, work, again_id, tmp_path / "again.log")
    assert proc.wait(timeout=300) == 0, (tmp_path / "again.log").read_text()
    session.rollback()
    assert session.scalar(select(Run.state).where(Run.uuid == again_id)) == "COMPLETE"
    assert _open_runs(session) == {}
    # Every registered version of a feature table is the content now in the DuckDB file.
    con = duckdb.connect(str(work / "features.duckdb"), read_only=True)
    try:
        for name in ("events_clean", "user_features", "item_features", "interactions_split"):
            fp, _ = fingerprint(con, name)
            current = session.scalar(select(DatasetVersion.fingerprint).join(
                Dataset, Dataset.current_version_id == DatasetVersion.id).where(
                Dataset.name == name))
            assert current == fp, name
    finally:
        con.close()


# Scoring whose final write stalls (as on a slow disk) after the temporary file is written, so the
# test can kill it exactly there.
SLOW_SCORING = """
import sys, time
import pyarrow.parquet as pq
from catalog.client import CatalogClient
from ranker.registry import score_and_report

real = pq.write_table

def stalled(table, where, *args, **kwargs):
    real(table, where, *args, **kwargs)
    time.sleep(300)

pq.write_table = stalled
score_and_report(sys.argv[1], "ranker", CatalogClient(sys.argv[2]), k=3)
"""


@pytest.mark.slow  # ~15 s: trains a tiny model first
def test_scoring_killed_mid_write_registers_nothing_and_reruns(live_sqlite, sqlite_url,
                                                               tmp_path, runner):
    from catalog.client import CatalogClient
    from ranker.registry import score_and_report, train_and_register
    from ranker.train import TrainConfig
    from tests.ranker.conftest import cyclic_sequences, write_feature_db

    url, session = live_sqlite
    work = tmp_path / "work"
    write_feature_db(work, cyclic_sequences())
    client = CatalogClient(url)
    cfg = TrainConfig(max_epochs=1, batch_size=64, patience=1, threads=1,
                      model={"d_model": 16, "n_layers": 1, "max_len": 20})
    train_and_register(work, cfg, client)
    output, tmp = work / "recommendations.parquet", work / "recommendations.tmp"

    root = Path(__file__).resolve().parents[2]
    with open(tmp_path / "score.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", SLOW_SCORING, str(work), url], cwd=root,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not tmp.exists():
        assert proc.poll() is None, (tmp_path / "score.log").read_text()
        assert time.monotonic() < deadline, "scoring never wrote its output"
        time.sleep(0.02)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not output.exists()  # the partial output never took the real name
    (killed,) = [(rid, job) for rid, (job, _) in _open_runs(session).items()]
    assert killed[1] == "score_ranker"
    assert [r["run_id"] for r in _reap_now(sqlite_url, runner)] == [killed[0]]
    session.rollback()
    assert session.scalar(select(Run.state).where(Run.uuid == killed[0])) == "ABORT"
    assert session.scalar(select(func.count()).select_from(Dataset).where(
        Dataset.name == "recommendations")) == 0

    # The next scoring run overwrites the leftover and registers the complete file.
    result, run_id = score_and_report(work, "ranker", client, k=3)
    assert output.exists() and not tmp.exists() and result.rows == 3 * result.users
    session.rollback()
    assert session.scalar(select(Run.state).where(Run.uuid == run_id)) == "COMPLETE"
    con = duckdb.connect()
    try:
        con.execute(f"create view recs as select * from read_parquet('{output}')")
        fp, _ = fingerprint(con, "recs")
    finally:
        con.close()
    registered = session.scalars(select(DatasetVersion.fingerprint).join(
        Dataset, DatasetVersion.dataset_id == Dataset.id).where(
        Dataset.name == "recommendations")).all()
    assert registered == [fp]
    client.close()
