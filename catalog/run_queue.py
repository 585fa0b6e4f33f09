"""The queue between a run request and the worker that runs it: Redis (RQ), or the server's pool.

A request (:func:`start_run`) records the run, NEW, in one transaction, then puts its id on the
queue. With ``CATALOG_QUEUE_URL`` that is an RQ queue in Redis, and ``catalog worker`` processes
on any host take runs off it (:func:`work`); without it, each server process has its own
:class:`LocalPool`: a bounded set of supervisor threads, so ``make run`` needs no broker. Either
way a run is run by :func:`catalog.launcher.execute`, under the same confinement, and the
database decides what runs: a message naming a run that was cancelled, taken or never requested
is dropped.

The broker carries run ids only, never a token or a path: parameters come from the database and
are checked again by the taker. Jobs are JSON (never pickle), and a worker runs no function but
:func:`run_job`, so a Redis that someone else can write to cannot make a worker run their code.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from catalog import launcher
from catalog.config import Settings
from catalog.db import in_transaction, session_scope
from catalog.errors import ConfigError, Unavailable
from catalog.models import PipelineExecution
from catalog.services import executions
from catalog.services import pipelines as svc

log = logging.getLogger(__name__)

# The one function a worker runs for a job (see RunJob).
JOB_FUNCTION = "catalog.run_queue.run_job"
# Finished and failed jobs stay visible to `rq info` this long (seconds); the catalog keeps runs.
JOB_RESULT_TTL = 7 * 24 * 3600


def taker_name(suffix: str = "") -> str:
    """``<host>:<pid>`` (and a suffix): who took a run."""
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"


class RunQueue(Protocol):
    """Where a recorded run waits for a supervisor."""

    def submit(self, run_id: str, pipeline: str) -> None:
        """Queue the run (after the transaction recording it committed)."""

    def remove(self, run_id: str) -> bool:
        """Take a cancelled run off the queue, if it is still there; whether it was."""

    def close(self, timeout: float | None = None) -> bool:
        """Stop: no more runs are taken here (waiting up to ``timeout`` for runs in hand); whether
        none is left in hand."""


class LocalPool:
    """The embedded queue: ``size`` supervisor threads of this server process, started on first
    use, taking runs in order. Runs that wait in the database, NEW and untaken (this process
    restarted, or another one died), are picked up again by :meth:`resume`."""

    def __init__(self, sessions: sessionmaker[Session], read_sessions: sessionmaker[Session],
                 settings: Settings):
        self.sessions, self.read_sessions, self.settings = sessions, read_sessions, settings
        self.size = settings.max_api_runs
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        # Runs being executed by a pool thread, or waiting for one: not submitted twice.
        self._pending: set[str] = set()

    def _start(self) -> None:
        with self._lock:
            if self._threads or self._stopping.is_set():
                return
            for i in range(self.size):
                thread = threading.Thread(target=self._loop, args=(f"/pool-{i}",),
                                          name=f"catalog-run-pool-{i}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _loop(self, suffix: str) -> None:
        sup = launcher.Supervisor(self.sessions, self.read_sessions, self.settings,
                                  taker_name(suffix), stopping=self._stopping)
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            try:
                launcher.execute(sup, run_id)
            except Exception:  # noqa: BLE001 - one run's failure must not stop the pool
                log.exception("run %s: its supervisor failed", run_id)
            finally:
                with self._lock:
                    self._pending.discard(run_id)

    def submit(self, run_id: str, pipeline: str) -> None:
        with self._lock:
            if run_id in self._pending:
                return
            self._pending.add(run_id)
        self._start()
        self._queue.put(run_id)

    def remove(self, run_id: str) -> bool:
        # The thread that gets to it finds it cancelled and drops it.
        return False

    def resume(self) -> int:
        """Queue the runs that wait in the database; how many."""
        with session_scope(self.read_sessions) as session:
            waiting = executions.waiting_runs(session)
        for run_id, pipeline in waiting:
            self.submit(run_id, pipeline)
        return len(waiting)

    def close(self, timeout: float | None = None) -> bool:
        """Stop taking runs; wait up to ``timeout`` for the supervisors of running ones. Whether
        every supervisor has stopped."""
        self._stopping.set()
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in threads)

    def idle(self) -> bool:
        """Whether no run is running or waiting here."""
        with self._lock:
            return not self._pending


def _rq():
    """RQ's pieces the catalog uses, imported when a broker is configured."""
    import redis
    import rq
    from rq.serializers import JSONSerializer

    return redis, rq, JSONSerializer


def _run_job_class():
    from rq.job import Job

    class RunJob(Job):
        """A job that can only run a catalog run: its function is :func:`run_job` or nothing,
        and it has no callbacks, whatever the message in Redis names."""

        @property
        def func(self):
            if self.func_name != JOB_FUNCTION:
                raise Unavailable(f"refused job {self.id}: it names {self.func_name!r}; a "
                                  f"catalog worker runs {JOB_FUNCTION} only")
            return run_job

        @property
        def success_callback(self):
            return None

        @property
        def failure_callback(self):
            return None

        @property
        def stopped_callback(self):
            return None

    return RunJob


def connect(url: str):
    """A Redis connection for ``url`` (nothing is sent yet)."""
    redis, _, _ = _rq()
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def broker_name(url: str) -> str:
    """The broker's address without credentials, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}" \
        f"{parts.path}"


class RedisRunQueue:
    """An RQ queue in Redis: ``catalog worker``s on any host take its runs."""

    def __init__(self, url: str, name: str):
        redis, rq, serializer = _rq()
        self.url, self.name = url, name
        self.connection = connect(url)
        self.queue = rq.Queue(name, connection=self.connection, serializer=serializer,
                              job_class=_run_job_class())
        self._errors = (redis.exceptions.RedisError, OSError)

    def submit(self, run_id: str, pipeline: str) -> None:
        try:
            self.queue.enqueue(JOB_FUNCTION, run_id, pipeline, job_id=run_id, job_timeout=-1,
                               result_ttl=JOB_RESULT_TTL, failure_ttl=JOB_RESULT_TTL,
                               description=f"{pipeline} run {run_id}")
        except self._errors as exc:
            raise Unavailable(f"the run queue at {broker_name(self.url)} cannot be reached: "
                              f"{exc}") from None

    def remove(self, run_id: str) -> bool:
        try:
            job = self.queue.fetch_job(run_id)
            if job is None or job.get_status(refresh=False) not in ("queued", "deferred",
                                                                    "scheduled"):
                return False
            job.cancel()
            return True
        except self._errors as exc:  # the taker drops it anyway: the database says cancelled
            log.warning("run %s: could not take it off the queue: %s", run_id, exc)
            return False

    def waiting(self) -> list[str]:
        """Run ids on the queue, in order."""
        return self.queue.get_job_ids()

    def close(self, timeout: float | None = None) -> bool:
        self.connection.close()
        return True


def make_queue(settings: Settings, sessions: sessionmaker[Session],
               read_sessions: sessionmaker[Session]) -> RunQueue:
    """The queue ``settings`` name: Redis with CATALOG_QUEUE_URL, else a :class:`LocalPool`."""
    if settings.queue_url:
        return RedisRunQueue(settings.queue_url, settings.queue_name)
    return LocalPool(sessions, read_sessions, settings)


def start_run(state, name: str, body: object, *, actor: str) -> PipelineExecution:
    """Record a run of pipeline ``name`` (NEW) and queue it; its record.

    A run that cannot be queued (the broker is away) fails at once: 503.
    """
    with session_scope(state.sessions) as session:
        execution = svc.request_run(session, name, body, settings=state.settings, actor=actor)
        session.expunge(execution)
    try:
        state.run_queue.submit(execution.run_uuid, name)
    except Unavailable as exc:
        message = exc.message
        in_transaction(state.sessions, lambda s: executions.fail_queueing(
            s, execution.run_uuid, message))
        raise
    return execution


def cancel_run(state, name: str, run_id: str, *, actor: str) -> str:
    """Cancel a run (ABORT now, token revoked) and take it off the queue if it waits there;
    ``queued`` or ``running`` (its supervisor stops the worker)."""
    was = in_transaction(state.sessions,
                         lambda s: executions.cancel_run(s, name, run_id, actor=actor))
    if was == "queued":
        state.run_queue.remove(run_id)
    return was


# --- catalog worker ---------------------------------------------------------------------------

# The supervisor of the `catalog worker` in this process (run_job runs in it), and the jobs it
# has run.
_SUPERVISOR: launcher.Supervisor | None = None
_JOBS_RUN = 0


def run_job(run_id: str, pipeline: str) -> str:
    """The RQ job: run ``run_id`` to its end in this ``catalog worker``."""
    global _JOBS_RUN
    if _SUPERVISOR is None:
        raise ConfigError("run_job runs inside `catalog worker` only")
    _JOBS_RUN += 1
    outcome = launcher.execute(_SUPERVISOR, run_id)
    log.info("run %s of %s: %s", run_id, pipeline, outcome)
    return outcome


def work(settings: Settings, sessions: sessionmaker[Session],
         read_sessions: sessionmaker[Session], *, burst: bool = False) -> int:
    """Take runs off ``settings``' queue one at a time and run each to its end; with ``burst``,
    return once the queue is empty. The number of jobs taken (each a run, or a message for one
    that was cancelled or already taken)."""
    global _SUPERVISOR, _JOBS_RUN
    redis, rq, serializer = _rq()
    connection = connect(settings.queue_url)
    try:
        connection.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        raise Unavailable(f"the run queue at {broker_name(settings.queue_url)} cannot be "
                          f"reached: {exc}") from None
    job_class = _run_job_class()
    q = rq.Queue(settings.queue_name, connection=connection, serializer=serializer,
                 job_class=job_class)
    worker = rq.SimpleWorker([q], connection=connection, serializer=serializer,
                             job_class=job_class,
                             name=f"{settings.queue_name}-{taker_name().replace(':', '-')}")

    last_beat = [0.0]

    def tick() -> None:
        """Keep RQ's heartbeat for the job in hand (every 10 s: its TTL is 90 s)."""
        now = time.monotonic()
        if now - last_beat[0] < 10:
            return
        last_beat[0] = now
        job = worker.get_current_job()
        if job is not None:
            worker.maintain_heartbeats(job)

    _SUPERVISOR = launcher.Supervisor(sessions, read_sessions, settings, taker_name(), tick=tick)
    _JOBS_RUN = 0
    try:
        worker.work(burst=burst, logging_level="INFO")
    finally:
        _SUPERVISOR = None
        connection.close()
    return _JOBS_RUN
