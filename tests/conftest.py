"""Shared fixtures: the database suite runs once on SQLite and once on PostgreSQL.

PostgreSQL is required, never skipped: set CATALOG_TEST_PG_URL to a server URL (default: the local
server at 127.0.0.1:5432). Each test session creates and drops its own database there.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from catalog import db as catalog_db
from tests.authutil import client_class, mint_token
from tests.dbutil import wipe
from tests.runutil import close_runs
from tests.wsgi_client import in_process_client

PG_SERVER_URL = os.environ.get(
    "CATALOG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _pg_admin(url: str):
    import psycopg

    u = make_url(url)
    return psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password,
        dbname=u.database or "postgres", autocommit=True, connect_timeout=5,
    )


@pytest.fixture(scope="session")
def postgresql_url():
    """URL of a fresh, migrated PostgreSQL database for this test session."""
    name = f"catalog_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        conn = _pg_admin(PG_SERVER_URL)
    except Exception as exc:  # noqa: BLE001 - any connection failure is fatal here
        pytest.fail(f"PostgreSQL unreachable at {PG_SERVER_URL}: {exc}", pytrace=False)
    conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    catalog_db.upgrade(url)
    yield url
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    """URL of a fresh, migrated SQLite file for this test session."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'catalog.db'}"
    catalog_db.upgrade(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_url(request):
    """Each database test runs against both backends."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def engine(db_url):
    eng = catalog_db.make_engine(db_url)
    yield eng
    eng.dispose()


def _with_admin_client(application):
    """Make ``application.test_client()`` send an admin token (tests predating auth rely on it).

    The token is kept in ``application.config["TEST_TOKENS"]["admin"]``.
    """
    token = mint_token(application, "admin")
    application.config["TEST_TOKENS"] = {"admin": token}
    application.test_client_class = client_class(token)
    return application


@pytest.fixture
def app(engine, db_url):
    """A catalog app over an empty, migrated database; its test clients are admin."""
    from catalog.app import create_app

    wipe(engine)
    application = _with_admin_client(create_app({"database_url": db_url}))
    yield application
    close_runs(application)
    application.extensions["catalog"].engine.dispose()
    application.extensions["catalog"].read_engine.dispose()


@pytest.fixture
def client(app):
    """An admin's test client."""
    return app.test_client()


@pytest.fixture
def anon_client(app):
    """A test client sending no credentials."""
    return client_class(None)(app, app.response_class, use_cookies=True)


@pytest.fixture
def client_as(app):
    """``client_as(role)``: a test client with a fresh token of that role."""
    def make(role: str):
        tokens = app.config["TEST_TOKENS"]
        if role not in tokens:
            tokens[role] = mint_token(app, role)
        return client_class(tokens[role])(app, app.response_class, use_cookies=True)
    return make


@pytest.fixture
def session(app):
    """A reading session on the app's database (on SQLite it never blocks the app's writers).

    Call ``session.rollback()`` to see writes made after its first query.
    """
    factory = app.extensions["catalog"].read_sessions
    s = factory()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


# --- end-to-end fixtures for pipelines and the ranker ----------------------------------------
# The pipeline and ranker code is the same whatever database the catalog uses; the catalog suite
# covers both backends, so these end-to-end tests run on SQLite only to keep the suite short.

SHARED = Path(os.environ.get("CATALOG_TEST_SHARED_DATA")
              or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture
def catalog_app(sqlite_url):
    from catalog.app import create_app
    from catalog.db import make_engine
    engine = make_engine(sqlite_url)
    wipe(engine)
    engine.dispose()
    app = _with_admin_client(create_app({"database_url": sqlite_url}))
    yield app
    close_runs(app)
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()


@pytest.fixture
def catalog(catalog_app):
    """(CatalogClient, Flask test client) over the same app."""
    client = in_process_client(catalog_app)
    yield client, catalog_app.test_client()
    client.close()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data beside the project; the tests that need it fail if it is missing."""
    assert SHARED.is_dir(), f"shared data not found at {SHARED}"
    return SHARED
