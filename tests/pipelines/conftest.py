"""Fixtures for pipeline tests: a catalog app on SQLite and a client that reaches it in-process.

The pipeline code is the same whatever database the catalog uses; the catalog's own suite covers
both backends, so these end-to-end tests run on SQLite only to keep the suite short.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.wsgi_client import in_process_client

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def catalog_app(sqlite_url):
    from catalog.app import create_app
    from catalog.db import make_engine
    from tests.dbutil import wipe

    engine = make_engine(sqlite_url)
    wipe(engine)
    engine.dispose()
    app = create_app({"database_url": sqlite_url})
    yield app
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
