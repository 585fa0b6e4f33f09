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
