"""Marquez's ``/api/v1/search`` answered by the pages' full-text index: the same hits as the
``/search`` page, name fragments, filter, sort, paging, ``asOf`` and 400s naming the parameter.

Each test runs on SQLite (FTS5) and PostgreSQL (tsvector) through the ``client`` fixture.
"""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime

import pytest

from tests.factories import complete_run, ds, facet, schema

API = "/api/v1/search"


def _put(client, name: str, ns: str = "shop", **body) -> None:
    r = client.put(f"/api/v1/namespaces/{ns}/datasets/{name}", json=body)
    assert r.status_code == 200, r.get_json()


def _api(client, q: str, **params) -> dict:
    r = client.get(API, query_string={"q": q, "limit": 100, **params})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _names(body: dict) -> list[str]:
    return [h["name"] for h in body["results"]]


def _page(client, q: str) -> tuple[set[tuple[str, str]], int]:
    """(kind, name) of every hit on the search page (one page holds them all here), and its
    total."""
    text = client.get("/search", query_string={"q": q}).get_data(as_text=True)
    hits = re.findall(r'<a class="hit" href="/(datasets|jobs)/[^"]*">([^<]*)</a>', text)
    total = int(re.search(r'id="results-h"[^>]*>([\d,]+) results?', text).group(1)
                .replace(",", ""))
    return {("DATASET" if k == "datasets" else "JOB", html.unescape(n)) for k, n in hits}, total


@pytest.fixture
def catalog(client):
    """Datasets and jobs whose names, columns, descriptions, tags and owners share words."""
    doc = facet("DocumentationDatasetFacet", description="Cleaned behaviour events")
    complete_run(client, "build_user_features",
                 inputs=[ds("events.parquet", ns="s3://lake")],
                 outputs=[ds("user_features", documentation=doc,
                             schema=schema("user_id", "session_count"))])
    complete_run(client, "score_items", inputs=[ds("user_features")],
                 outputs=[ds("item_scores", schema=schema("item_id", "score"))])
    _put(client, "orders", description="orders placed", tags=["gold"], owners=["data-platform"],
         fields=[{"name": "user_id"}])
    _put(client, "userfeatures_legacy", description="old copy")
    return client


@pytest.mark.parametrize("q", ["features", "user_feat", "user", "events", "lake", "gold",
                               "data-platform", "session", "clean behaviour", "score",
                               "eatures", "zzzz"])
def test_api_and_page_find_the_same_hits(catalog, q):
    body = _api(catalog, q)
    page_hits, page_total = _page(catalog, q)
    assert {(h["type"], h["name"]) for h in body["results"]} == page_hits
    assert body["totalCount"] == page_total == len(page_hits)


def test_words_match_word_beginnings_in_names_split_at_punctuation(catalog):
    # "features" begins a word of user_features and build_user_features, not of
    # "userfeatures_legacy" (one word there: a fragment inside a word finds nothing).
    assert _names(_api(catalog, "features")) == ["build_user_features", "user_features"]
    assert _names(_api(catalog, "user_feat")) == ["build_user_features", "user_features"]
    assert _names(_api(catalog, "userfeat")) == ["userfeatures_legacy"]
    assert _names(_api(catalog, "eatures")) == []
    # Every word must match: "user" alone also finds orders (its column user_id).
    assert _names(_api(catalog, "user")) == [
        "build_user_features", "orders", "user_features", "userfeatures_legacy"]
    assert _names(_api(catalog, "user score")) == []
    # Paths and namespaces split at '/', '.', ':' too.
    body = _api(catalog, "events parquet")
    assert [(h["type"], h["namespace"], h["name"], h["nodeId"]) for h in body["results"]] == [
        ("DATASET", "s3://lake", "events.parquet", "dataset:s3://lake:events.parquet")]
    assert _names(_api(catalog, "lake")) == ["events.parquet"]
    # Descriptions, column names, tags and owners; case does not matter.
    assert _names(_api(catalog, "CLEANED Behav")) == ["user_features"]
    assert _names(_api(catalog, "session_count")) == ["user_features"]
    assert _names(_api(catalog, "gold")) == _names(_api(catalog, "data-platform")) == ["orders"]
    # No letters or digits: nothing, not everything.
    assert _api(catalog, "%") == {"totalCount": 0, "results": []}
    assert _api(catalog, "__") == {"totalCount": 0, "results": []}


def test_result_shape(catalog):
    body = _api(catalog, "score_items")
    assert body["totalCount"] == 1
    (hit,) = body["results"]
    assert set(hit) == {"type", "name", "namespace", "updatedAt", "nodeId"}
    assert (hit["type"], hit["name"], hit["namespace"], hit["nodeId"]) == (
        "JOB", "score_items", "pipelines", "job:pipelines:score_items")
    job = catalog.get("/api/v1/namespaces/pipelines/jobs/score_items").get_json()
    assert hit["updatedAt"] == job["updatedAt"]


def test_filter_keeps_datasets_or_jobs(catalog):
    assert _names(_api(catalog, "score")) == ["item_scores", "score_items"]
    assert _names(_api(catalog, "item")) == ["item_scores", "score_items"]
    assert _names(_api(catalog, "item", filter="DATASET")) == ["item_scores"]
    assert _names(_api(catalog, "item", filter="job")) == ["score_items"]
    assert _api(catalog, "item", filter="JOB")["results"][0]["type"] == "JOB"
    assert _names(_api(catalog, "item OR build")) == []  # no operators: "or" is a word


def test_sort_by_name_and_by_latest_update(client):
    for name in ("b_walrus", "c_walrus", "a_walrus"):
        _put(client, name)
        time.sleep(0.01)
    complete_run(client, "walrus_job")
    time.sleep(0.01)
    _put(client, "c_walrus", description="changed last")
    by_name = _api(client, "walrus")
    assert _names(by_name) == ["a_walrus", "b_walrus", "c_walrus", "walrus_job"]
    assert _names(_api(client, "walrus", sort="name")) == _names(by_name)
    by_update = _api(client, "walrus", sort="UPDATE_AT")
    assert _names(by_update) == ["c_walrus", "walrus_job", "a_walrus", "b_walrus"]
    times = [h["updatedAt"] for h in by_update["results"]]
    assert times == sorted(times, reverse=True)


def test_limit_and_offset_page_through_an_exact_total(client):
    names = [f"walrus_{i:02d}" for i in range(7)]
    for name in names:
        _put(client, name)
    pages = [client.get(API, query_string={"q": "walrus", "limit": 3, "offset": o}).get_json()
             for o in (0, 3, 6, 9)]
    assert [p["totalCount"] for p in pages] == [7, 7, 7, 7]
    assert [_names(p) for p in pages] == [names[:3], names[3:6], names[6:], []]
    by_update = [client.get(API, query_string={"q": "walrus", "sort": "UPDATE_AT", "limit": 4,
                                               "offset": o}).get_json() for o in (0, 4)]
    assert sorted(_names(by_update[0]) + _names(by_update[1])) == names
    default = client.get(API, query_string={"q": "walrus"}).get_json()
    assert len(default["results"]) == 7 and default["totalCount"] == 7  # default limit is 10


def _now() -> str:
    time.sleep(0.01)
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    return stamp


def test_as_of_keeps_what_existed_by_then(client):
    _put(client, "early_walrus")
    t1 = _now()
    # Its output's version carries the event's time (2026-01-01), before any row was created.
    complete_run(client, "walrus_job", outputs=[ds("walrus_out")])
    t2 = _now()
    _put(client, "late_walrus")
    assert _names(_api(client, "walrus")) == [
        "early_walrus", "late_walrus", "walrus_job", "walrus_out"]
    assert _names(_api(client, "walrus", asOf=t1)) == ["early_walrus", "walrus_out"]
    assert _names(_api(client, "walrus", asOf=t2)) == [
        "early_walrus", "walrus_job", "walrus_out"]
    assert _names(_api(client, "walrus", asOf="2026-01-01T00:05:00Z")) == ["walrus_out"]
    assert _api(client, "walrus", asOf="2000-01-01T00:00:00Z") == {
        "totalCount": 0, "results": []}
    assert _names(_api(client, "walrus", asOf=t2, filter="JOB")) == ["walrus_job"]
    assert _api(client, "walrus", asOf=t1, limit=1, offset=1)["totalCount"] == 2


@pytest.mark.parametrize("params, field", [
    ({}, "q"),
    ({"q": ""}, "q"),
    ({"q": "   "}, "q"),
    ({"q": "walrus", "filter": "TABLE"}, "filter"),
    ({"q": "walrus", "sort": "RELEVANCE"}, "sort"),
    ({"q": "walrus", "limit": "0"}, "limit"),
    ({"q": "walrus", "limit": "ten"}, "limit"),
    ({"q": "walrus", "offset": "-1"}, "offset"),
    ({"q": "walrus", "asOf": "yesterday"}, "asOf"),
])
def test_bad_parameters_are_400_naming_the_parameter(client, params, field):
    r = client.get(API, query_string=params)
    assert r.status_code == 400 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["error"] == "BadRequest" and body["field"] == field
    assert f"'{field}'" in body["message"]
