"""Fixtures of the run queue's tests: a queue of their own on the real Redis, and `catalog worker`
processes.

Redis is required, never skipped (`make test` starts it): set CATALOG_TEST_REDIS_URL to another
server. Each test gets a queue named for it alone, and every key of it is deleted afterwards, so
test runs in parallel on one Redis never meet.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REDIS_URL = os.environ.get("CATALOG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]
# The stand-in worker program (tests/runqueue/stub_worker.py).
STUB = "tests.runqueue.stub_worker"


@dataclass(frozen=True)
class RedisQueue:
    """A queue of this test's own on the test Redis."""

    url: str
    name: str
    redis: object

    def job_ids(self) -> list[str]:
        """Run ids waiting on the queue, in order."""
        from rq import Queue

        return Queue(self.name, connection=self.redis).get_job_ids()


def _delete_queue(conn, name: str) -> None:
    from rq import Queue

    q = Queue(name, connection=conn)
    ids = set(q.get_job_ids())
    for registry in (q.started_job_registry, q.finished_job_registry, q.failed_job_registry,
                     q.canceled_job_registry, q.deferred_job_registry,
                     q.scheduled_job_registry):
        ids |= set(registry.get_job_ids())
    keys = set()
    for pattern in [f"*{name}*", *(f"rq:*{job_id}*" for job_id in ids)]:
        keys |= set(conn.scan_iter(match=pattern, count=1000))
    if keys:
        conn.delete(*keys)
    conn.srem("rq:queues", f"rq:queue:{name}")
    for member in conn.smembers("rq:workers"):
        if name.encode() in member:
            conn.srem("rq:workers", member)


@pytest.fixture
def redis_queue():
    """A fresh queue on the test Redis, deleted with its jobs afterwards; fails when Redis is
    unreachable."""
    import redis

    conn = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        conn.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        pytest.fail(f"Redis unreachable at {REDIS_URL} (`make test` starts it): {exc}",
                    pytrace=False)
    name = f"catalog-test-{uuid.uuid4().hex[:12]}"
    yield RedisQueue(REDIS_URL, name, conn)
    _delete_queue(conn, name)
    conn.close()


@pytest.fixture
def stub_env(monkeypatch):
    """Server and worker processes started by the test can run the stand-in worker program."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


@contextlib.contextmanager
def queue_worker(db_url: str, queue: RedisQueue, log: Path, *args: str, **env):
    """A `catalog worker` process on ``queue`` (its own process group), stopped afterwards."""
    environ = {**os.environ, "CATALOG_DATABASE_URL": db_url, "CATALOG_QUEUE_URL": queue.url,
               "CATALOG_QUEUE_NAME": queue.name, "PYTHONPATH": str(ROOT),
               **{f"CATALOG_{k.upper()}": str(v) for k, v in env.items()}}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "catalog.cli", "worker", *args],
                                env=environ, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=ROOT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def queued_app(engine, db_url, redis_queue, tmp_path):
    """``queued_app(**settings)``: an in-process catalog over the empty test database whose runs
    go to this test's Redis queue, the feature pipeline registered."""
    from catalog.app import create_app
    from tests.authutil import client_class, mint_token
    from tests.dbutil import wipe
    from tests.pipeline_defs import register_pipeline
    from tests.runutil import close_runs

    made = []

    def make(**settings):
        if not made:
            wipe(engine)
        app = create_app({"database_url": db_url, "token_cache_seconds": 0,
                          "queue_url": redis_queue.url, "queue_name": redis_queue.name,
                          "work_dir": str(tmp_path / "work"), "self_url": "http://127.0.0.1:9",
                          **settings})
        app.test_client_class = client_class(None)
        register_pipeline(app, mint_token(app, "pipeline", name=f"registrar-{len(made)}"))
        made.append(app)
        return app

    yield make
    for app in made:
        close_runs(app)
        app.extensions["catalog"].engine.dispose()
        app.extensions["catalog"].read_engine.dispose()
