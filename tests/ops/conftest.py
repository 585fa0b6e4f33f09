"""Fixtures for the operations tests: apps with overridden settings on the suite's databases."""

from __future__ import annotations

import pytest

from tests.dbutil import wipe


@pytest.fixture
def make_app(engine, db_url):
    """Build catalog apps on the (wiped) test database with settings overridden."""
    from catalog.app import create_app

    wipe(engine)
    apps = []

    def build(**overrides):
        app = create_app({"database_url": db_url, **overrides})
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["catalog"].stopping.set()
        app.extensions["catalog"].engine.dispose()
        app.extensions["catalog"].read_engine.dispose()
