"""A live ``catalog ranker serve`` process for tests, and what they read back from it.

The process runs in its own session (process group), so a test can SIGTERM or SIGKILL the
gunicorn master and its worker together, as an orchestrator would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import requests

from catalog.client import CatalogClient
from ranker.registry import train_and_register
from ranker.train import TrainConfig
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(max_epochs=1, batch_size=64, patience=1, threads=1,
            model={"d_model": 16, "n_layers": 1, "max_len": 20})


def train_version(workdir: Path, client: CatalogClient, out: str, seed: int = 42) -> dict:
    """Train a tiny model into ``workdir/<out>`` and register it; the version's JSON."""
    cfg = TrainConfig(**TINY, seed=seed, out_dir=str(workdir / out))
    _, version = train_and_register(workdir, cfg, client)
    return version


def wait_for(predicate, what: str, timeout: float = 60.0, every: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` if too late."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


class Serving:
    """``catalog ranker serve`` in a subprocess; ``start`` waits until it answers /readyz."""

    def __init__(self, catalog_url: str, workdir: Path, log_dir: Path, *, model="ranker@production",
                 data_dir: Path | None = None, **options):
        self.catalog_url, self.workdir, self.log_dir = catalog_url, workdir, Path(log_dir)
        self.model = model
        self.data_dir = data_dir or self.log_dir / "serving"
        self.options = {"flush-seconds": 60, "heartbeat-seconds": 60, "poll-seconds": 0,
                        "threads": 4, **options}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.http = requests.Session()

    @property
    def log(self) -> Path:
        return self.log_dir / f"serve-{self.starts}.log"

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "recocatalog.cli", "ranker", "serve", "--model",
                self.model, "--workdir", str(self.workdir), "--data-dir", str(self.data_dir),
                "--port", str(self.port), "--catalog-url", self.catalog_url]
        for key, value in self.options.items():
            args += [f"--{key}", str(value)]
        return args

    def start(self) -> str:
        self.starts += 1
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=ROOT)

        def ready():
            assert self.proc.poll() is None, f"serve exited:\n{self.log.read_text()}"
            try:
                return self.http.get(self.url + "/readyz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, "the serving process to be ready", timeout=90, every=0.1)
        return self.url

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.url + path, params=params, timeout=30)

    def post(self, path: str, body) -> requests.Response:
        return self.http.post(self.url + path, json=body, timeout=30)

    def send(self, sig: int) -> None:
        """Send ``sig`` to the master and its worker at once."""
        os.killpg(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the whole process group; its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.send(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            self.proc.wait()
            raise

    def close(self) -> None:
        self.http.close()
        if self.proc is not None and self.proc.poll() is None:
            self.stop(signal.SIGKILL)


def parquet_rows(folder: Path, query: str = "select * from t", params=()) -> list[tuple]:
    """Rows of every ``part-*.parquet`` under ``folder`` as view ``t`` (none: [])."""
    if not any(Path(folder).glob("part-*.parquet")):
        return []
    con = duckdb.connect()
    try:
        con.read_parquet(str(Path(folder) / "part-*.parquet")).create_view("t")
        return con.execute(query, list(params)).fetchall()
    finally:
        con.close()


def run_events(client: CatalogClient, run_id: str) -> list[dict]:
    """The catalog's stored events of one run, oldest first."""
    events = client.get("api/v1/events/lineage", limit=1000)["events"]
    mine = [e for e in events if e["run"]["runId"] == run_id]
    return sorted(mine, key=lambda e: e["eventTime"])
