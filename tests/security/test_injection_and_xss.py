"""Hostile input is inert: SQL and script payloads in every query parameter and text field are
stored and returned verbatim as JSON, never executed; credentials never reach logs or errors."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import text

from catalog.api.openapi import document
from tests.authutil import form_csrf
from tests.factories import complete_run, ds, facet, schema

PAYLOADS = [
    "' OR '1'='1",
    "x'; DROP TABLE datasets; --",
    "1 UNION SELECT token_hash FROM api_tokens --",
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "%' OR 1=1 --",
]


def _table_counts(session) -> dict:
    session.rollback()
    return {t: session.scalar(text(f"SELECT count(*) FROM {t}"))
            for t in ("datasets", "namespaces", "api_tokens", "audit_log", "dataset_fields")}


def _get_operations():
    """(path template, [query parameter names]) of every GET in the OpenAPI document."""
    for path, ops in document()["paths"].items():
        if "get" in ops:
            yield path, [p["name"] for p in ops["get"]["parameters"] if p["in"] == "query"]


def _seed(client):
    client.put("/api/v1/namespaces/shop/datasets/orders",
               json={"fields": [{"name": "user_id"}], "description": "orders"})


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_every_query_parameter_and_path_are_inert(client, session, payload):
    _seed(client)
    before = _table_counts(session)
    for path, params in _get_operations():
        for in_path in (payload, "orders"):
            url = re.sub(r"{(\w+)}", in_path.replace("\\", "\\\\"), path)
            url = url.replace("/namespaces/orders", "/namespaces/shop")
            query = {p: payload for p in params}
            r = client.get(url, query_string=query)
            assert r.status_code < 500, (url, query, r.get_data(as_text=True)[:300])
            if path == "/api/docs":  # Swagger UI's page: HTML reflecting nothing it was sent
                assert r.mimetype == "text/html" and payload not in r.get_data(as_text=True)
            else:
                assert r.mimetype in ("application/json", "application/x-ndjson",
                                      "text/csv"), url
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert _table_counts(session) == before


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_in_every_text_field_are_stored_verbatim(client, session, payload):
    r = client.put(f"/api/v1/namespaces/shop/datasets/{payload}", json={
        "description": payload, "owners": [payload], "tags": [payload],
        "physicalName": payload, "sourceName": payload,
        "fields": [{"name": payload, "type": payload, "description": payload}]})
    assert r.status_code == 200, r.get_json()
    got = client.get(f"/api/v1/namespaces/shop/datasets/{payload}").get_json()
    assert got["name"] == got["description"] == got["physicalName"] == payload
    assert got["owners"] == [{"name": payload, "type": None}] and got["tags"] == [payload]
    assert got["fields"][0]["name"] == got["fields"][0]["description"] == payload
    complete_run(client, payload, ns=payload, outputs=[ds(payload, ns=payload, schema=schema(
        payload), documentation=facet("DocumentationDatasetFacet", description=payload))])
    hits = client.get("/api/v1/search", query_string={"q": payload}).get_json()["results"]
    assert {h["name"] for h in hits} >= {payload}
    r = client.post("/api/v1/models/ranker/exemptions",
                    json={"tag": "pii.email", "reason": payload})
    assert r.status_code == 201 and r.get_json()["reason"] == payload
    entries = client.get("/api/v1/audit", query_string={"entityKey": f"shop/{payload}"})
    assert entries.get_json()["entries"][0]["after"]["description"] == payload
    counts = _table_counts(session)
    assert counts["datasets"] >= 2 and counts["api_tokens"] == 1


def test_login_page_escapes_what_it_reflects(app, anon_client):
    r = anon_client.get("/login", query_string={"next": '/x"><script>alert(1)</script>'})
    assert b"<script>alert(1)</script>" not in r.data
    r = anon_client.post("/login", data={"name": "<script>alert(1)</script>", "password": "p",
                                         "csrf_token": form_csrf(anon_client.get("/login"))})
    assert r.status_code == 401 and b"<script>" not in r.data


def test_tokens_never_reach_logs_or_error_bodies(app, client, anon_client, caplog,
                                                 monkeypatch):
    token = app.config["TEST_TOKENS"]["admin"]
    caplog.set_level(logging.DEBUG)
    bodies = []
    bodies.append(client.get("/api/v1/namespaces/nope").get_data(as_text=True))
    bodies.append(anon_client.get("/api/v1/namespaces",
                                  headers={"Authorization": f"Bearer {token}x"}).get_data(True))
    bodies.append(anon_client.get("/api/v1/namespaces",
                                  headers={"Authorization": f"Token {token}"}).get_data(True))

    from catalog.read import browse

    def boom(*args, **kwargs):
        raise RuntimeError("database exploded")

    monkeypatch.setattr(browse, "list_namespaces", boom)
    r = client.get("/api/v1/namespaces")
    assert r.status_code == 500 and r.get_json()["message"] == "internal error"
    bodies.append(r.get_data(as_text=True))
    assert "database exploded" in caplog.text  # the failure itself is logged...
    for body in bodies:
        assert token not in body and token[4:] not in body
    assert token not in caplog.text and "Authorization" not in caplog.text  # ...never the token


def test_live_server_log_never_shows_the_token(sqlite_url, tmp_path, catalog):
    import os

    import requests

    from tests.live_server import live_server

    with live_server(sqlite_url, tmp_path) as url:
        token = os.environ["CATALOG_TOKEN"]
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{url}/api/v1/namespaces", headers=headers, timeout=5).ok
        r = requests.get(f"{url}/api/v1/namespaces", timeout=5,
                         headers={"Authorization": f"Bearer {token}-wrong"})
        assert r.status_code == 401 and token not in r.text
    log = (tmp_path / "serve.log").read_text()
    # The app's JSON request lines are there (one per request, path without query string).
    assert log.count('"path":"/api/v1/namespaces"') == 2 and '"status":401' in log
    assert token not in log
