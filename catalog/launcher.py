"""Running one queued run to its end: take it, start its worker confined, supervise it, record it.

:func:`execute` is what every supervisor does with a run it got from a queue, the server's own
pool and ``catalog worker`` alike (:mod:`catalog.run_queue`): take the run (one transaction,
:func:`catalog.services.executions.take_run`: checks, folder, token, RUNNING), start
``python -m <CATALOG_WORKER_MODULE>`` with the run's arguments in the run's own folder, then
watch it: check in every ``poll_seconds`` (stopping it when the run is cancelled), and when it
exits record how (a worker that died without ending its run ends it FAIL, or ABORT if killed).

The worker's command is a server setting, never data: a registered pipeline names no program.
The catalog does not import the worker's package; it only runs it, as an operator would. The
worker gets the run-scoped token in ``CATALOG_TOKEN`` and none of the server's secrets (no
database URL, cookie key or broker URL); its log is its owner's only; it runs in a session of its
own (so the whole of it can be stopped) and dies with its supervisor (Linux: a parent-death
signal), so a supervisor killed outright leaves no worker reporting behind it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from catalog.config import Settings
from catalog.db import in_transaction
from catalog.services import executions as svc

log = logging.getLogger(__name__)

# Environment the worker must not inherit: it talks to the catalog over HTTP only.
SECRETS = ("CATALOG_DATABASE_URL", "CATALOG_SECRET_KEY", "CATALOG_QUEUE_URL")

# Workers started by this process and not yet seen to exit, whichever supervisor watches them.
_WORKERS: list[subprocess.Popen] = []
_WORKERS_LOCK = threading.Lock()

_PR_SET_PDEATHSIG = 1
# Looked up once here: between fork and exec the child only calls it.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the worker, before it runs: SIGKILL it when the thread that started it dies."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


def running() -> list[subprocess.Popen]:
    """The workers this process started that are still running."""
    with _WORKERS_LOCK:
        return list(_WORKERS)


def worker_argv(request: svc.LaunchRequest, module: str) -> list[str]:
    """The worker's command line for ``request``."""
    p = request.params
    argv = [sys.executable, "-m", module, "--run-id", request.run_id,
            "--catalog-url", request.catalog_url, "--workdir", str(request.workdir),
            "--source", p["source"], "--events", str(p["events"]), "--seed", str(p["seed"])]
    if request.data_root is not None:
        argv += ["--data-root", str(request.data_root)]
    for key in ("input", "attributes"):
        if key in p:
            argv += [f"--{key}", p[key]]
    return argv


def launch(request: svc.LaunchRequest, module: str) -> tuple[subprocess.Popen, Path]:
    """Start the worker in its folder; the process and its log file."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env["CATALOG_TOKEN"] = request.token
    log_path = request.workdir / f"worker-{request.run_id}.log"
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as out:
        proc = subprocess.Popen(worker_argv(request, module), stdout=out,
                                stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=request.workdir,
                                preexec_fn=_die_with_parent)
    with _WORKERS_LOCK:
        _WORKERS.append(proc)
    return proc, log_path


def signal_group(proc: subprocess.Popen, sig: int) -> None:
    """Send ``sig`` to the worker and everything it started (its own session, pgid = pid)."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass  # it exited meanwhile


@dataclass
class Supervisor:
    """What a supervisor needs: the database, its settings, its name, and its pace."""

    sessions: sessionmaker[Session]
    # Check-ins read here (on SQLite they must not take the write lock).
    read_sessions: sessionmaker[Session]
    settings: Settings
    # "<host>:<pid>" (and a pool thread's name): recorded as the run's taken_by.
    name: str
    # How often the worker is checked on: its exit, a cancellation.
    poll_seconds: float = 0.5
    # How long a worker may take to exit after SIGTERM (a cancellation) before SIGKILL.
    grace_seconds: float = 10.0
    # Called at every check-in (``catalog worker`` keeps its broker heartbeat with it).
    tick: Callable[[], None] = field(default=lambda: None)
    # Set to give up waiting for a free slot (the process is stopping).
    stopping: threading.Event = field(default_factory=threading.Event)

    def beat_seconds(self) -> float:
        """How often the heartbeat is written: a quarter of the lease, at least every second."""
        return max(1.0, self.settings.run_lease_seconds / 4)


def execute(sup: Supervisor, run_id: str) -> str:
    """Take ``run_id``, run its worker to the end, record it; what became of it (the run's final
    state, or why nothing ran)."""
    while True:
        take = in_transaction(sup.sessions,
                              lambda s: svc.take_run(s, run_id, sup.settings, sup.name))
        if take.status != "wait":
            break
        sup.tick()
        if sup.stopping.wait(max(sup.poll_seconds, 1.0)):
            return f"not taken: {take.reason}"
    if take.request is None:
        log.info("run %s not taken: %s", run_id, take.reason)
        return f"not taken: {take.reason}"
    request = take.request
    try:
        proc, log_path = launch(request, sup.settings.worker_module)
    except OSError as exc:
        message = f"the worker could not start: {exc.strerror or exc}"
        in_transaction(sup.sessions, lambda s: svc.fail_launch(s, request, message))
        log.error("run %s: %s", run_id, message)
        return "FAIL"
    in_transaction(sup.sessions, lambda s: svc.record_launch(s, run_id, proc.pid, log_path))
    try:
        code = supervise(sup, run_id, proc)
    finally:
        if proc.poll() is None:  # the supervisor itself is being stopped: so is its worker
            signal_group(proc, signal.SIGKILL)
            proc.wait()
        with _WORKERS_LOCK:
            if proc in _WORKERS:
                _WORKERS.remove(proc)
    final = in_transaction(sup.sessions, lambda s: svc.finish_run(s, run_id, code))
    log.info("run %s: worker exited with %s; run %s", run_id, code, final)
    return final or "gone"


def supervise(sup: Supervisor, run_id: str, proc: subprocess.Popen) -> int:
    """Watch the worker until it exits; its exit status.

    A cancelled run's worker gets SIGTERM, then SIGKILL after ``grace_seconds``; so does one that
    ended its run but lingers that long. A check-in that fails (database away) is retried at the
    next one: the worker keeps running meanwhile.
    """
    beat_every = sup.beat_seconds()
    next_beat = time.monotonic() + beat_every
    term_at: float | None = None
    ended_at: float | None = None
    while True:
        try:
            return proc.wait(timeout=sup.poll_seconds)
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        beat = now >= next_beat
        try:
            if beat:
                seen = in_transaction(sup.sessions, lambda s: svc.check_in(s, run_id, beat=True))
                next_beat = now + beat_every
            else:
                with sup.read_sessions() as s:
                    seen = svc.check_in(s, run_id, beat=False)
        except Exception:  # noqa: BLE001 - the worker keeps running; check again next time
            log.exception("run %s: check-in failed", run_id)
            continue
        sup.tick()
        if seen.cancelled and term_at is None:
            log.info("run %s was cancelled: stopping its worker (pid %s)", run_id, proc.pid)
            signal_group(proc, signal.SIGTERM)
            term_at = now
        elif seen.state in ("COMPLETE", "FAIL", "ABORT") and ended_at is None:
            ended_at = now  # the worker ended its run; it should exit by itself
        elif ended_at is not None and term_at is None and now - ended_at > sup.grace_seconds:
            signal_group(proc, signal.SIGTERM)
            term_at = now
        if term_at is not None and now - term_at > sup.grace_seconds:
            signal_group(proc, signal.SIGKILL)
