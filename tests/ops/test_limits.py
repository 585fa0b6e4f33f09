"""Limits: body size (413), page size and lineage depth caps (400), batch size, statement timeout.

Every refusal is JSON naming the problem.
"""

from __future__ import annotations

import gzip
import json

import pytest
from sqlalchemy import text

from catalog.db import make_engine
from tests.authutil import as_admin
from tests.factories import ds, run_event


def test_body_over_the_limit_is_413_json_naming_it(make_app):
    client = make_app(max_body_bytes=2000).test_client()
    big = run_event("START", "j", run_facets={"pad": {"_producer": "p", "_schemaURL": "s",
                                                       "x": "y" * 3000}})
    r = client.post("/api/v1/lineage", json=big)
    assert r.status_code == 413
    body = r.get_json()
    assert body["error"] == "PayloadTooLarge" and body["limit"] == 2000
    assert "exceeds the limit of 2000 bytes" in body["message"]
    assert client.post("/api/v1/lineage", json=run_event("START", "j")).status_code == 201


def test_gzip_bomb_is_413_after_bounded_decompression(make_app):
    client = make_app(max_body_bytes=10_000).test_client()
    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    assert len(bomb) < 10_000
    r = client.post("/api/v1/lineage/batch", data=bomb,
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 413 and r.get_json()["error"] == "PayloadTooLarge"
    assert "decompressed body exceeds 10000 bytes" in r.get_json()["message"]


def test_page_size_cap_is_400_naming_limit(make_app):
    client = make_app(max_page_size=20).test_client()
    assert client.get("/api/v1/namespaces?limit=20").status_code == 200
    r = client.get("/api/v1/namespaces?limit=21")
    assert r.status_code == 400
    assert r.get_json() == {"error": "BadRequest", "field": "limit",
                            "message": "query parameter 'limit' must be between 1 and 20"}
    r = client.get("/api/v1/events/lineage?offset=99999999999999999999")
    assert r.status_code == 400 and r.get_json()["field"] == "offset"


def test_lineage_depth_cap_is_400_naming_depth(make_app):
    client = make_app(max_lineage_depth=3).test_client()
    client.post("/api/v1/lineage", json=run_event("COMPLETE", "j", outputs=[ds("out")]))
    node = "dataset:shop:out"
    assert client.get("/api/v1/lineage", query_string={"nodeId": node, "depth": 3}
                      ).status_code == 200
    for path in ("/api/v1/lineage", "/api/v1/lineage/upstream", "/api/v1/lineage/downstream",
                 "/api/v1/column-lineage"):
        r = client.get(path, query_string={"nodeId": node, "depth": 4})
        assert r.status_code == 400, path
        assert r.get_json()["field"] == "depth"
        assert r.get_json()["message"] == "query parameter 'depth' must be between 0 and 3"


def test_batch_over_the_event_cap_is_400(make_app):
    client = make_app(max_batch_events=3).test_client()
    r = client.post("/api/v1/lineage/batch", json=[run_event("START", f"j{i}") for i in range(4)])
    assert r.status_code == 400
    assert r.get_json()["message"] == "batch holds 4 events; the limit is 3"


def test_nul_characters_are_400_not_a_database_error(client):
    r = client.get("/api/v1/search", query_string={"q": "a\x00b"})
    assert r.status_code == 400 and r.get_json()["field"] == "q"
    r = client.get("/api/v1/namespaces/a%00b")
    assert r.status_code == 400 and "NUL" in r.get_json()["message"]
    ev = run_event("START", "j\x00k")
    r = client.post("/api/v1/lineage", data=json.dumps(ev), content_type="application/json")
    assert r.status_code == 400 and "NUL" in r.get_json()["message"]
    assert client.get("/api/v1/namespaces").get_json()["totalCount"] == 0


# --- statement timeout (PostgreSQL; SQLite has none, see README) --------------------------------


@pytest.fixture
def pg_app(postgresql_url):
    from catalog.app import create_app

    apps = []

    def build(**overrides):
        app = as_admin(create_app({"database_url": postgresql_url, **overrides}))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["catalog"].engine.dispose()


def test_statement_timeout_is_set_on_every_connection(pg_app):
    for setting, shown in ((30_000, "30s"), (1234, "1234ms")):
        app = pg_app(statement_timeout_ms=setting)
        with app.extensions["catalog"].engine.connect() as conn:
            assert conn.scalar(text("SHOW statement_timeout")) == shown
    app = pg_app(statement_timeout_ms=0)
    with app.extensions["catalog"].engine.connect() as conn:
        assert conn.scalar(text("SHOW statement_timeout")) == "0"


def test_query_past_the_timeout_is_503_json(pg_app, monkeypatch):
    from catalog.read import browse

    client = pg_app(statement_timeout_ms=200).test_client()

    def slow(session, limit, offset):
        session.execute(text("SELECT pg_sleep(2)"))
        return [], 0

    monkeypatch.setattr(browse, "list_namespaces", slow)
    r = client.get("/api/v1/namespaces")
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    body = r.get_json()
    assert body["error"] == "QueryTimeout" and "statement timeout" in body["message"]


def test_migrations_engine_has_no_statement_timeout(postgresql_url):
    # A long migration must not be cut off by the service's query timeout.
    engine = make_engine(postgresql_url)
    with engine.connect() as conn:
        assert conn.scalar(text("SHOW statement_timeout")) == "0"
    engine.dispose()
