"""The rest of finding 5: nested JSON that answered 500, CSV exports that handed formulas to
spreadsheets, a login page without CSP."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from catalog import csvsafe, jsoncodec
from catalog.models import LineageEvent
from tests.factories import run_event
from tests.security.conftest import bearer_client


@pytest.mark.parametrize("depth", [jsoncodec.MAX_DEPTH + 1, 1000, 5000, 100_000])
@pytest.mark.parametrize("path", ["/api/v1/lineage", "/api/v1/lineage/batch"])
def test_json_nested_too_deep_is_a_400_and_stores_nothing(make_app, depth, path):
    app = make_app()
    client = bearer_client(app, "pipeline")
    facet = '{"a":' * depth + "1" + "}" * depth
    event = run_event("START", "j")
    text = jsoncodec.dumps(event).replace('"facets":{}', f'"facets":{{"deep":{facet}}}', 1)
    body = text if path.endswith("lineage") else f"[{text}]"
    r = client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.get_json()["message"] == f"JSON nested deeper than {jsoncodec.MAX_DEPTH} levels"
    with app.extensions["catalog"].read_sessions() as s:
        assert s.scalar(select(func.count()).select_from(LineageEvent)) == 0


def test_depth_ignores_brackets_inside_strings():
    deep = "[" * 500 + "]" * 500
    tricky = ('{"a": "' + "[{" * 500 + '", "b": "\\"[[[", "c": "\\\\", "d": ['
              + "[" * 10 + "]" * 10 + "]}")
    assert jsoncodec.too_deep(deep.encode())
    assert not jsoncodec.too_deep(tricky.encode())
    assert not jsoncodec.too_deep(jsoncodec.dumps({"s": deep}).encode())
    assert jsoncodec.too_deep(("[" * 201 + "]" * 201).encode())
    assert not jsoncodec.too_deep(("[" * 200 + "]" * 200).encode())


def test_strings_are_cut_as_a_regular_expression_cuts_them():
    import random
    import re

    rng = random.Random(5)
    pattern = re.compile(rb'"[^"]*"')
    for _ in range(2000):
        kept = bytes(rng.choice(b'[]{}"') for _ in range(rng.randint(0, 30)))
        assert jsoncodec.without_strings(kept) == pattern.sub(b"", kept), kept


def test_a_deep_but_allowed_event_is_stored(make_app):
    app = make_app()
    client = bearer_client(app, "pipeline")
    inner = '{"a":' * 190 + "1" + "}" * 190
    facet = ('{"_producer":"https://example.com/p","_schemaURL":"https://example.com/s.json",'
             f'"tree":{inner}}}')
    text = jsoncodec.dumps(run_event("START", "j")).replace(
        '"facets":{}', f'"facets":{{"plan":{facet}}}', 1)
    r = client.post("/api/v1/lineage", data=text, headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.get_json()


FORMULAS = ["=HYPERLINK(\"https://evil.example\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("value", FORMULAS)
def test_cells_that_a_spreadsheet_would_run_are_made_inert(value):
    assert csvsafe.cell(value) == "'" + value
    assert csvsafe.cell("plain") == "plain" and csvsafe.cell(-5) == -5


def test_the_audit_export_neutralises_formulas(make_app):
    app = make_app()
    admin = bearer_client(app, "admin")
    namespace = "=HYPERLINK(\"https:||evil.example\";\"x\")"
    r = admin.put(f"/api/v1/namespaces/{namespace}/datasets/orders",
                  json={"description": "+cmd|' /C calc'!A0"})
    assert r.status_code in (200, 201), r.get_json()
    auditor = bearer_client(app, "auditor")
    r = auditor.get("/api/v1/audit/export", query_string={"format": "csv"})
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    header, entries = rows[0], rows[1:]
    key = header.index("entityKey")
    (entry,) = [e for e in entries if "HYPERLINK" in e[key]]
    assert entry[key] == "'" + namespace + "/orders"
    for row in entries:
        for value in row:
            assert not value.startswith(csvsafe.FORMULA_START), value


def test_every_page_has_the_csp_login_and_errors_included(make_app):
    app = make_app()
    client = app.test_client()
    admin = bearer_client(app, "admin")
    for r in (client.get("/login"), admin.get("/"), admin.get("/datasets/nope/nope"),
              admin.get("/pipelines")):
        assert r.mimetype == "text/html"
        csp = r.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"
