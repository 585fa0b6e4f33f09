"""Pages through the Flask test client, on SQLite and PostgreSQL: content, escaping, errors."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlalchemy import select

from catalog.models import AuditEntry
from tests.web.webdata import RAW, RAW_NS, XSS, populate

# Steward edits' entries (the fixture's model registration is audited too).
DATASET_AUDIT = select(AuditEntry).where(AuditEntry.entity_type == "dataset")


@pytest.fixture
def filled(client):
    """The test client over a catalog holding the small recommendation loop."""
    return client, populate(client)


def _text(r) -> str:
    return r.get_data(as_text=True)


def _token(client, path="/datasets/shop/events_clean") -> str:
    r = client.get(path)
    return re.search(r'name="csrf_token" value="([^"]+)"', _text(r)).group(1)


def test_every_page_renders_its_entity(filled):
    client, ids = filled
    expect = {
        "/": ["recocatalog", "Recently written", "events_clean"],
        "/datasets/shop/events_clean": ["data-platform", "not_null", "unique", "12,345",
                                        "pipeline.clean", "pipeline.features", "Versions (2)"],
        f"/datasets/{RAW_NS}/{RAW}": ["Raw click and purchase events", "ingest.events"],
        "/datasets/shop/user_features": ["ranker", "Models trained on it"],
        "/datasets/shop/recommendations": ["Scored by model", "/models/ranker"],
        "/jobs/pipelines/pipeline.clean": ["Runs", ids["clean_run"][:8], "events_clean"],
        f"/runs/{ids['clean_run']}": ['state-completed">COMPLETED<', "events.parquet", "v2"],
        "/models": ["ranker"],
        "/models/ranker": ["valid.ndcg@10", "0.3100", "user_features", "ranker.score"],
        "/lineage?node=dataset:shop:user_features&depth=4": [
            "List view", "pipeline.features", "events_clean", "Column-level lineage", "clicks"],
        "/health": ["Coverage of", "Failing checks", "Unused"],
        "/trace/datasets/shop/user_features": ["events.parquet", "Raw source", "pipeline.clean"],
        "/trace/models/ranker/1": ["user_features", "events_clean"],
    }
    for path, needles in expect.items():
        r = client.get(path)
        assert r.status_code == 200, (path, _text(r)[:500])
        assert r.headers["Content-Type"].startswith("text/html")
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        for n in needles:
            assert n in _text(r), (path, n)


def test_html_in_user_text_is_inert(filled):
    client, _ = filled
    for path in ("/datasets/shop/events_clean", "/search?q=cleaned"):
        body = _text(client.get(path))
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in body, path
        assert XSS not in body and "<img src=x" not in body


def test_unknown_entities_are_404_pages(filled):
    client, _ = filled
    for path in ("/datasets/shop/nope", "/datasets/nope", "/jobs/pipelines/nope",
                 "/runs/00000000-0000-0000-0000-000000000000", "/models/nope",
                 "/trace/datasets/shop/nope", "/trace/models/ranker/9",
                 "/lineage?node=dataset:shop:nope"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["Content-Type"].startswith("text/html"), path
        assert "not" in _text(r).lower()


def test_bad_parameters_are_400_pages(filled):
    client, _ = filled
    assert client.get("/datasets/shop/events_clean?depth=x").status_code == 400
    assert client.get("/search?q=a&quality=green").status_code == 400
    r = client.get("/trace/datasets/shop/user_features?as_of=yesterday")
    assert r.status_code == 400 and "as_of" in _text(r)
    assert client.get("/lineage?node=garbage").status_code == 400


def test_search_matches_words_and_counts_facets(filled):
    client, _ = filled
    body = _text(client.get("/search?q=events"))
    assert "3 results" in body
    hits = re.findall(r'class="hit" href="([^"]+)"', body)
    assert set(hits) == {"/jobs/pipelines/ingest.events", f"/datasets/{RAW_NS}/{RAW}",
                         "/datasets/shop/events_clean"}
    body = _text(client.get("/search?q=events&kind=job"))
    assert "1 result" in body and "/jobs/pipelines/ingest.events" in body
    # Column names, owners and prefixes are searched too.
    assert "/datasets/shop/events_clean" in _text(client.get("/search?q=sess"))
    assert "1 result" in _text(client.get("/search?q=data-platform"))
    body = _text(client.get("/search?q=&owner=data-platform"))
    assert "1 result" in body
    assert "0 results" in _text(client.get("/search?q=zzzzunknown"))


def test_search_paginates(client):
    for i in range(25):
        r = client.put(f"/api/v1/namespaces/bulk/datasets/table_{i:02d}",
                       json={"description": "bulk loaded"})
        assert r.status_code == 200
    pages = [_text(client.get(f"/search?q=bulk+loaded&page={p}")) for p in (1, 2)]
    assert "25 results" in pages[0] and "Page 1 of 2" in pages[0]
    hits = [re.findall(r'class="hit" href="([^"]+)"', p) for p in pages]
    assert [len(h) for h in hits] == [20, 5]
    assert sorted(hits[0] + hits[1]) == [f"/datasets/bulk/table_{i:02d}" for i in range(25)]


def test_schema_diff_between_versions(filled):
    client, _ = filled
    body = _text(client.get("/datasets/shop/events_clean?from=1&to=2"))
    assert re.search(r'class="added">added <code>session_id</code>', body)
    assert "no version 7" in _text(client.get("/datasets/shop/events_clean?from=1&to=7"))


def test_edit_without_csrf_token_is_refused(filled):
    client, _ = filled
    r = client.post("/datasets/shop/events_clean/-/edit", data={"description": "hacked"})
    assert r.status_code == 403 and "CSRF token" in _text(r)
    r = client.post("/datasets/shop/events_clean/-/edit",
                    data={"description": "hacked", "csrf_token": "forged"})
    assert r.status_code == 403
    assert "hacked" not in _text(client.get("/datasets/shop/events_clean"))


def test_edit_is_saved_indexed_and_audited(filled, session):
    client, _ = filled
    token = _token(client)
    r = client.post("/datasets/shop/events_clean/-/edit", data={
        "csrf_token": token, "description": "Deduplicated shop events, zebrafish",
        "owners": "team:recsys\nalice", "tags": "gold, pii.user_id", "freshness_hours": "24"})
    assert r.status_code == 303
    body = _text(client.get(r.headers["Location"]))
    assert "Deduplicated shop events" in body and "recsys" in body and "pii.user_id" in body
    assert "24 h" in body
    assert "/datasets/shop/events_clean" in _text(client.get("/search?q=zebrafish"))
    assert "1 result" in _text(client.get("/search?q=&tag=gold"))
    # The newest dataset.update (tests sharing the module's data may have edited before).
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "dataset.update").order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert entry.actor == "token:test-admin" and entry.entity_key == "shop/events_clean"
    assert entry.before["description"].startswith("Cleaned events")
    assert entry.after == {"description": "Deduplicated shop events, zebrafish",
                           "freshnessHours": 24, "owners": ["alice", "team:recsys"],
                           "tags": ["gold", "pii.user_id"]}
    assert entry.before["owners"] == ["TEAM:data-platform"]
    # Saving the same values again changes and records nothing.
    client.post("/datasets/shop/events_clean/-/edit", data={
        "csrf_token": token, "description": "Deduplicated shop events, zebrafish",
        "owners": "team:recsys\nalice", "tags": "gold, pii.user_id", "freshness_hours": "24"})
    session.rollback()
    assert len(session.scalars(DATASET_AUDIT).all()) == 1


def test_invalid_edit_shows_errors_inline(filled, session):
    client, _ = filled
    r = client.post("/datasets/shop/events_clean/-/edit", data={
        "csrf_token": _token(client), "description": "ok", "tags": "good, <bad>",
        "freshness_hours": "soon"})
    assert r.status_code == 422
    body = _text(r)
    assert 'id="tags-error"' in body and "&lt;bad&gt;" in body
    assert 'id="freshness_hours-error"' in body
    assert 'aria-invalid="true"' in body
    assert session.scalars(DATASET_AUDIT).all() == []


def test_column_descriptions_are_saved_and_audited(filled, session):
    client, _ = filled
    r = client.post("/datasets/shop/events_clean/-/columns", data={
        "csrf_token": _token(client), "col:user_id": "Shop account id", "col:item_id": ""})
    assert r.status_code == 303
    assert "Shop account id" in _text(client.get("/datasets/shop/events_clean"))
    entry = session.scalars(DATASET_AUDIT).one()
    assert entry.action == "dataset.columns.update"
    assert entry.after == {"columns": {"user_id": "Shop account id"}}
    r = client.post("/datasets/shop/events_clean/-/columns", data={
        "csrf_token": _token(client), "col:nope": "x"})
    assert r.status_code == 422 and "not a column" in _text(r)


def test_trace_exports_json_and_csv(filled):
    client, ids = filled
    r = client.get("/trace/datasets/shop/user_features?format=json")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    doc = json.loads(r.data)
    got = [(v["distance"], v["dataset"], v["version"], v["raw_source"]) for v in doc["versions"]]
    assert got == [(0, "user_features", 1, False), (1, "events_clean", 2, False),
                   (2, RAW, 1, True)]
    assert doc["versions"][1]["run_id"] == ids["clean_run"]
    # Run states in the API's words (Marquez's RunState), not the stored COMPLETE.
    assert [v["run_state"] for v in doc["versions"]] == ["COMPLETED"] * 3
    assert len(doc["edges"]) == 2
    r = client.get("/trace/datasets/shop/user_features?format=csv")
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [row["dataset"] for row in rows] == ["user_features", "events_clean", RAW]
    assert rows[1]["quality"] == "passing" and rows[1]["run_state"] == "COMPLETED"
    # Version 1 of the cleaned table failed `unique` on item_id.
    doc = json.loads(client.get("/trace/datasets/shop/events_clean?version=1&format=json").data)
    assert doc["versions"][0]["failed_checks"] == ["unique(item_id)"]
    assert client.get("/trace/datasets/shop/user_features?format=xml").status_code == 400


def test_trace_as_of_picks_the_version_of_that_time(filled):
    client, _ = filled
    doc = json.loads(client.get(
        "/trace/datasets/shop/events_clean?as_of=2026-01-01T00:15&format=json").data)
    assert doc["start"]["version"] == 1
    assert client.get("/trace/datasets/shop/events_clean?as_of=2025-01-01T00:00").status_code \
        == 404


def test_lineage_graph_json_layers(filled):
    client, _ = filled
    doc = client.get("/lineage/graph.json?node=dataset:shop:events_clean&depth=2").get_json()
    layer = {n["name"]: n["layer"] for n in doc["nodes"]}
    assert layer == {"raw/events.parquet": -2, "pipeline.clean": -1, "events_clean": 0,
                     "pipeline.features": 1, "user_features": 2}
    start = doc["nodes"][doc["start"]]
    assert start["name"] == "events_clean" and start["status"] == "passing"
    names = [n["name"] for n in doc["nodes"]]
    edges = {(names[a], names[b]) for a, b in doc["edges"]}
    assert ("pipeline.clean", "events_clean") in edges
    assert ("events_clean", "pipeline.features") in edges
    # As of before the features job first ran, there is no downstream.
    doc = client.get("/lineage/graph.json?node=dataset:shop:events_clean&depth=2"
                     "&as_of=2026-01-01T00:25").get_json()
    assert max(n["layer"] for n in doc["nodes"]) == 0


def test_health_lists_failing_stale_and_unused(filled):
    client, _ = filled
    token = _token(client)
    client.post("/datasets/shop/user_features/-/edit", data={
        "csrf_token": token, "freshness_hours": "1"})
    body = _text(client.get("/health?unused_days=1"))
    stale = body.split('id="stale-h"')[1].split("</section>")[0]
    assert "user_features" in stale and "overdue" in stale
    assert "Coverage of 5 datasets" in body
    failing = body.split('id="fail-h"')[1].split("</section>")[0]
    assert "Failing checks (0)" in failing


def test_static_assets_are_served(client):
    for path, needle in (("/assets/style.css", "lineage-svg"), ("/assets/lineage.js",
                                                                 "data-ready")):
        with client.get(path) as r:  # closes the served file
            assert r.status_code == 200 and needle in r.get_data(as_text=True)
    assert 'href="/assets/style.css"' in client.get("/models").get_data(as_text=True)
