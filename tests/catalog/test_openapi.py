"""The OpenAPI document describes exactly the routes the app serves."""

from __future__ import annotations

import re

from openapi_spec_validator import validate as validate_spec


def _routes(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-zA-Z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            out.add((path, method.lower()))
    return out


def test_document_covers_every_route_and_nothing_else(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert documented == _routes(app)


def test_document_is_valid_openapi(client):
    validate_spec(client.get("/api/v1/openapi.json").get_json())


def test_path_parameters_are_declared(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for op in ops.values():
            declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert declared == names, (path, declared)
