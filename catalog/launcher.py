"""Starting the worker of a run requested through the API, outside any transaction.

:func:`start_run` records the run (one transaction, :func:`catalog.services.pipelines.request_run`),
then starts ``python -m <CATALOG_WORKER_MODULE>`` with the run's arguments in the run's own folder,
then records the process (a second transaction). The worker's command is a server setting, never
data: a registered pipeline names no program. The catalog does not import the worker's package;
it only runs it, as an operator would.

The worker gets the run-scoped token in ``CATALOG_TOKEN`` and none of the server's secrets (no
database URL, no cookie key); its log is its owner's only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from catalog.config import Settings
from catalog.db import session_scope
from catalog.errors import Unavailable
from catalog.models import PipelineExecution
from catalog.services import pipelines as svc

# Environment the worker must not inherit: it talks to the catalog over HTTP only.
SECRETS = ("CATALOG_DATABASE_URL", "CATALOG_SECRET_KEY")

# Workers this process started and has not yet seen exit: kept so that each is waited for
# (no zombie processes) and no Popen is dropped while its child still runs.
_WORKERS: list[subprocess.Popen] = []


def reap() -> None:
    """Wait for (reap) the workers that have exited since the last call."""
    _WORKERS[:] = [p for p in _WORKERS if p.poll() is None]


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


def launch(request: svc.LaunchRequest, module: str) -> tuple[int, Path]:
    """Start the worker; its process id and log file."""
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env["CATALOG_TOKEN"] = request.token
    log_path = request.workdir / f"worker-{request.run_id}.log"
    reap()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as log:
        proc = subprocess.Popen(worker_argv(request, module), stdout=log,
                                stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=request.workdir)
    _WORKERS.append(proc)
    return proc.pid, log_path


def start_run(sessions: sessionmaker[Session], name: str, body: object, *, settings: Settings,
              actor: str) -> PipelineExecution:
    """Request a run, start its worker, and return the run's record (pid included).

    A worker that cannot start fails its run at once (and revokes its token): 503.
    """
    with session_scope(sessions) as session:
        execution, request = svc.request_run(session, name, body, settings=settings,
                                             actor=actor)
        session.expunge(execution)
    try:
        pid, log_path = launch(request, settings.worker_module)
    except OSError as exc:
        with session_scope(sessions) as session:
            svc.fail_launch(session, request, f"the worker could not start: {exc}")
        raise Unavailable(f"the run's worker could not start: {exc.strerror or exc}") from None
    with session_scope(sessions) as session:
        svc.record_launch(session, request.run_id, pid, log_path)
    execution.pid, execution.log_path = pid, str(log_path)
    return execution
