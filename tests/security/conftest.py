"""Fixtures of the attacker's tests: apps with chosen settings, and a worker launcher that records
what the server would have started instead of starting it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from catalog.app import create_app
from tests.authutil import client_class, mint_token
from tests.dbutil import wipe
from tests.pipeline_defs import register_pipeline


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


class _FakeProcess:
    pid = 999_999

    def poll(self):
        return None


@pytest.fixture
def launches(monkeypatch) -> Launches:
    """Record worker starts instead of starting processes."""
    from catalog import launcher

    record = Launches()

    def fake_popen(argv, *, env=None, cwd=None, **kwargs):
        record.started.append(Launch(list(argv), dict(env or {}), str(cwd)))
        return _FakeProcess()

    monkeypatch.setattr(launcher.subprocess, "Popen", fake_popen)
    yield record
    launcher._WORKERS[:] = [p for p in launcher._WORKERS if not isinstance(p, _FakeProcess)]
