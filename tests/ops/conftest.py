"""Fixtures for the operations tests: apps with overridden settings on the suite's databases."""

from __future__ import annotations

import pytest

from tests.authutil import as_admin
from tests.dbutil import wipe


@pytest.fixture
def make_app(engine, db_url):
    """Build catalog apps on the (wiped) test database with settings overridden."""
    from catalog.app import create_app

    wipe(engine)
    apps = []

    def build(**overrides):
        app = as_admin(create_app({"database_url": db_url, **overrides}))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["catalog"].stopping.set()
        app.extensions["catalog"].engine.dispose()
        app.extensions["catalog"].read_engine.dispose()


@pytest.fixture
def fresh_pg():
    """Create empty PostgreSQL databases on demand (unmigrated); drop them afterwards."""
    import os
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(os.environ.get(
        "CATALOG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    conn = psycopg.connect(host=server.host, port=server.port or 5432, user=server.username,
                           password=server.password, dbname=server.database or "postgres",
                           autocommit=True, connect_timeout=5)
    names = []

    def create() -> str:
        name = f"catalog_ops_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        conn.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return server.set(database=name).render_as_string(hide_password=False)

    yield create
    for name in names:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()
