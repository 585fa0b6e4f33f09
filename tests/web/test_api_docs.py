"""/api/docs: Swagger UI from npm's swagger-ui-dist (``make install`` puts it in node_modules/),
under the pages' Content-Security-Policy, and a clear 503 while it is not installed.

The files must be installed for these tests, as Chromium is for the browser tests: `make dev`
and `make test` install them. (The browser test in test_browser.py drives the page itself.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from catalog.app import create_app
from catalog.auth import CSP
from catalog.config import DEFAULT_API_DOCS_DIR
from tests.authutil import as_admin
from tests.dbutil import wipe

PACKAGE = Path(__file__).resolve().parents[2] / "package.json"


def test_swagger_ui_is_installed_from_npm_not_committed():
    assert Path(DEFAULT_API_DOCS_DIR, "swagger-ui-bundle.js").is_file(), (
        f"{DEFAULT_API_DOCS_DIR} is missing: `make dev` installs it (npm ci)")
    assert '"swagger-ui-dist"' in PACKAGE.read_text()
    assert (PACKAGE.parent / "package-lock.json").is_file()


def test_page_loads_its_assets_under_the_pages_csp(client):
    r = client.get("/api/docs", headers={"Accept": "text/html"})
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert r.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in CSP and "unsafe-eval" not in CSP
    html = r.get_data(as_text=True)
    assert '<div id="swagger-ui" data-spec="/api/v1/openapi.json">' in html
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', html)
    assert "<script>" not in html and "style=" not in html  # no inline script or style
    scripts = re.findall(r'<script src="([^"]+)"></script>', html)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)">', html)
    assert scripts == ["/api/docs/assets/swagger-ui-bundle.js", "/assets/api-docs.js"]
    assert styles == ["/api/docs/assets/swagger-ui.css"]
    bodies = {}
    for url in (*scripts, *styles):
        with client.get(url) as asset:
            assert asset.status_code == 200, url
            kinds = ("text/css",) if url.endswith(".css") else ("text/javascript",
                                                                  "application/javascript")
            assert asset.mimetype in kinds, (url, asset.mimetype)
            assert asset.headers["X-Content-Type-Options"] == "nosniff"
            bodies[url] = asset.get_data()
    assert b"SwaggerUIBundle" in bodies[scripts[0]] and len(bodies[scripts[0]]) > 500_000
    assert b"SwaggerUIBundle(" in bodies[scripts[1]] and b"X-CSRF-Token" in bodies[scripts[1]]
    assert bodies[styles[0]].startswith(b".swagger-ui")


def test_assets_are_public_and_only_the_named_files(anon_client):
    with anon_client.get("/api/docs/assets/swagger-ui.css") as r:
        assert r.status_code == 200
    for name in ("index.html", "package.json", "swagger-ui.js.map", "..", "%2E%2E"):
        r = anon_client.get(f"/api/docs/assets/{name}")
        assert r.status_code == 404 and r.get_json()["field"] == "name", name
        assert "swagger-ui.css" in r.get_json()["message"]
    r = anon_client.get("/api/docs/assets/..%2Fpackage.json")  # no such route: a slash
    assert r.status_code == 404 and r.get_json()["error"] == "NotFound"


def test_assets_are_cached_and_revalidated(anon_client):
    first = anon_client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert first.headers["Cache-Control"] == "public, max-age=3600" and first.headers["ETag"]
    again = anon_client.get("/api/docs/assets/swagger-ui-bundle.js",
                            headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""


def test_a_stranger_is_sent_to_log_in_and_a_program_gets_401(anon_client):
    r = anon_client.get("/api/docs", headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/api/docs"
    r = anon_client.get("/api/docs", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.get_json()["error"] == "Unauthorized"


@pytest.fixture
def without_ui(engine, db_url, tmp_path):
    """An admin's client of an app whose Swagger UI folder is empty."""
    wipe(engine)
    app = as_admin(create_app({"database_url": db_url,
                               "api_docs_dir": str(tmp_path / "nothing-here")}))
    yield app.test_client()
    app.extensions["catalog"].engine.dispose()
    app.extensions["catalog"].read_engine.dispose()


def test_not_installed_is_a_503_that_says_what_to_do(without_ui):
    for url in ("/api/docs", "/api/docs/assets/swagger-ui-bundle.js"):
        r = without_ui.get(url, headers={"Accept": "text/html"})
        assert r.status_code == 503 and r.mimetype == "application/json", url
        body = r.get_json()
        assert body["error"] == "Unavailable"
        assert "make install" in body["message"] and "CATALOG_API_DOCS_DIR" in body["message"]
