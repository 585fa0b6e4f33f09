"""Run ``catalog serve`` in a subprocess for tests that need a real HTTP server."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from catalog.client import CatalogClient
from tests.authutil import mint_token


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(db_url: str, log_dir: Path, **env):
    """Yield the base URL of a catalog server on ``db_url``; stop it afterwards.

    An admin token is minted for the server's database and exported as ``CATALOG_TOKEN`` while
    the server runs, so CatalogClient, the CLI and subprocesses send it, as a user would.
    """
    token = mint_token(db_url, "admin", name=f"live-{uuid.uuid4().hex[:8]}")
    saved = os.environ.get("CATALOG_TOKEN")
    os.environ["CATALOG_TOKEN"] = token
    port = free_port()
    log_path = Path(log_dir) / "serve.log"
    environ = {**os.environ, "CATALOG_DATABASE_URL": db_url,
               **{f"CATALOG_{k.upper()}": str(v) for k, v in env.items()}}
    with open(log_path, "wb") as log:  # a file, not a pipe: a full pipe would stall the server
        proc = subprocess.Popen(
            [sys.executable, "-m", "catalog.cli", "serve", "--port", str(port)],
            env=environ, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    probe = CatalogClient(url, retries=0, timeout=1)
    try:
        deadline = time.monotonic() + 30
        while not probe.health():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"catalog serve did not come up:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield url
    finally:
        if saved is None:
            os.environ.pop("CATALOG_TOKEN", None)
        else:
            os.environ["CATALOG_TOKEN"] = saved
        probe.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Gunicorn:
    """A gunicorn master and its workers in their own process group (so all can be killed)."""

    def __init__(self, db_url: str, log_dir: Path, workers: int = 4, **env):
        self.db_url, self.log_dir, self.workers, self.env = db_url, Path(log_dir), workers, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> str:
        """Start the server with the project's gunicorn settings; the base URL once it answers."""
        self.starts += 1
        log_path = self.log_dir / f"gunicorn-{self.starts}.log"
        environ = {**os.environ, "CATALOG_DATABASE_URL": self.db_url,
                   "CATALOG_BIND": f"127.0.0.1:{self.port}", "WEB_CONCURRENCY": str(self.workers),
                   **{f"CATALOG_{k.upper()}": str(v) for k, v in self.env.items()}}
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "python:catalog.gunicorn_conf"],
                env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        probe = CatalogClient(self.url, retries=0, timeout=2)
        try:
            deadline = time.monotonic() + 60
            while not probe.health():
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not come up:\n{log_path.read_text()}")
                time.sleep(0.1)
        finally:
            probe.close()
        return self.url

    def kill(self, sig: int = 9) -> None:
        """Send ``sig`` (default SIGKILL) to the master and every worker at once."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it takes too long."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@contextlib.contextmanager
def gunicorn_server(db_url: str, log_dir: Path, workers: int = 4, **env):
    """Yield a started :class:`Gunicorn` on ``db_url``; stop it afterwards.

    Like :func:`live_server`, exports a fresh admin token as ``CATALOG_TOKEN`` meanwhile.
    """
    token = mint_token(db_url, "admin", name=f"gunicorn-{uuid.uuid4().hex[:8]}")
    saved = os.environ.get("CATALOG_TOKEN")
    os.environ["CATALOG_TOKEN"] = token
    server = Gunicorn(db_url, log_dir, workers, **env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if saved is None:
            os.environ.pop("CATALOG_TOKEN", None)
        else:
            os.environ["CATALOG_TOKEN"] = saved
