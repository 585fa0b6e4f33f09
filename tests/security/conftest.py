"""Fixtures of the attacker's tests: apps with chosen settings, and a worker launcher that records
what the server would have started instead of starting it."""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field

import pytest

from catalog.app import create_app
from tests.authutil import client_class, mint_token
from tests.dbutil import wipe
from tests.pipeline_defs import register_pipeline
from tests.runutil import close_runs, wait_for


@pytest.fixture
def make_app(engine, db_url, monkeypatch):
    """``make_app(pipeline=False, **settings)``: a catalog app over the empty test database with
    those settings (and none of the environment's addresses); its ``test_client()`` sends no
    credentials. ``pipeline``: the feature pipeline has registered itself."""
    for name in ("CATALOG_SELF_URL", "CATALOG_PUBLIC_URL", "CATALOG_DATA_DIR",
                 "CATALOG_TRUSTED_HOSTS", "CATALOG_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    made = []

    def make(*, pipeline: bool = False, **settings):
        if not made:
            wipe(engine)
        application = create_app({"database_url": db_url, "token_cache_seconds": 0, **settings})
        application.test_client_class = client_class(None)
        if pipeline:  # the pipeline registers itself, as it would before its first run
            register_pipeline(application, mint_token(application, "pipeline",
                                                        name=f"registrar-{len(made)}"))
        made.append(application)
        return application

    yield make
    for application in made:
        close_runs(application)
        application.extensions["catalog"].engine.dispose()
        application.extensions["catalog"].read_engine.dispose()


def bearer_client(application, role: str, name: str | None = None):
    """A test client sending a fresh token of ``role``; the token is its ``.token``."""
    token = mint_token(application, role, name=name)
    c = client_class(token)(application, application.response_class, use_cookies=True)
    c.token = token
    return c


@dataclass
class Launch:
    """One worker the server asked to start."""

    argv: list[str]
    env: dict[str, str]
    cwd: str

    def arg(self, name: str) -> str | None:
        """The value after ``--name`` in argv."""
        flag = f"--{name}"
        return self.argv[self.argv.index(flag) + 1] if flag in self.argv else None


@dataclass
class Launches:
    """Workers the server asked to start during a test (none actually started)."""

    started: list[Launch] = field(default_factory=list)
    processes: list[FakeProcess] = field(default_factory=list)
    # (pid, signal) sent to a worker's process group.
    signals: list[tuple[int, int]] = field(default_factory=list)

    def wait(self, count: int, timeout: float = 30) -> list[Launch]:
        """The starts once there are ``count`` (the server's pool starts workers after the
        request has returned)."""
        wait_for(lambda: len(self.started) >= count, timeout,
                 f"{count} worker start(s); saw {len(self.started)}")
        return self.started


class FakeProcess:
    """A worker that runs until told to exit (or signalled, like a real one)."""

    _next_pid = 999_000

    def __init__(self):
        FakeProcess._next_pid += 1
        self.pid = FakeProcess._next_pid
        self.returncode: int | None = None
        self._exited = threading.Event()

    def exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._exited.set()

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired("fake-worker", timeout)
        return self.returncode


@pytest.fixture
def launches(monkeypatch) -> Launches:
    """Record worker starts instead of starting processes; every fake worker exits (status 0)
    at the end of the test."""
    from catalog import launcher

    record = Launches()

    done = threading.Event()

    def fake_popen(argv, *, env=None, cwd=None, **kwargs):
        proc = FakeProcess()
        if done.is_set():  # started by a pool after the test: it exits at once
            proc.exit(0)
        record.processes.append(proc)
        record.started.append(Launch(list(argv), dict(env or {}), str(cwd)))
        return proc

    def fake_signal(proc, sig):
        record.signals.append((proc.pid, sig))
        proc.exit(-sig)

    monkeypatch.setattr(launcher.subprocess, "Popen", fake_popen)
    monkeypatch.setattr(launcher, "signal_group", fake_signal)
    yield record
    done.set()
    for proc in record.processes:
        proc.exit(0)
