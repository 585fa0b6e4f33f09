"""The OpenAPI document describes exactly the routes the app serves under /api/, each with its
request and response schemas, error bodies and credentials."""

from __future__ import annotations

import re

from openapi_spec_validator import validate as validate_spec


def _routes(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
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


def test_every_operation_has_schemas_for_its_answers_and_names_its_credentials(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer",
                                     "description": schemes["bearerAuth"]["description"]}
    assert schemes["cookieAuth"]["in"] == "cookie" and schemes["cookieAuth"]["name"] == "session"
    assert doc["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
    error_refs = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = (method, path)
            ok = {c: r for c, r in op["responses"].items() if c.startswith("2")}
            assert ok, where
            for r in ok.values():
                assert all(m["schema"] for m in r["content"].values()), where
            errors = {c: r for c, r in op["responses"].items() if not c.startswith("2")}
            public = op.get("security") == []
            assert public or {"400", "401", "403", "503"} <= set(errors), where
            for r in errors.values():
                error_refs.add(r["$ref"])
            body = op.get("requestBody")
            if body is not None:
                assert body["content"]["application/json"]["schema"], where
                assert {"413", "415"} <= set(errors), where
    for name in (r.rsplit("/", 1)[-1] for r in error_refs):
        schema = doc["components"]["responses"][name]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name
    assert doc["components"]["schemas"]["Error"]["required"] == ["error", "message"]
