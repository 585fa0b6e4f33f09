"""Marquez's namespace and tag writes, and its tag and source reads: input checks, audit, asOf.

(The client itself drives them against a live server in ``test_marquez_python.py``.)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import complete_run, ds, facet, schema


def _audit(client, entity_type: str) -> list[str]:
    r = client.get("/api/v1/audit", query_string={"entityType": entity_type})
    return [e["action"] for e in r.get_json()["entries"]]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({}, "ownerName", "ownerName is required"),
    ({"ownerName": "  "}, "ownerName", "ownerName is required"),
    ({"ownerName": "x" * 257}, "ownerName", "1-256 characters"),
    ({"ownerName": "team", "description": 5}, "description", "description must be a string"),
    (["team"], "", "body must be a JSON object"),
])
def test_namespace_body_problems_are_named(client, body, field, words):
    r = client.put("/api/v1/namespaces/marketing", json=body)
    assert r.status_code == 422 and r.get_json()["field"] == field, r.get_json()
    assert words in r.get_json()["message"]
    assert client.get("/api/v1/namespaces/marketing").status_code == 404
    assert _audit(client, "namespace") == []


def test_namespace_name_and_content_type_are_checked(client):
    r = client.put(f"/api/v1/namespaces/{'n' * 513}", json={"ownerName": "team"})
    assert (r.status_code, r.get_json()["field"]) == (422, "namespace")
    r = client.put("/api/v1/namespaces/marketing", data="ownerName=team",
                   content_type="application/x-www-form-urlencoded")
    assert (r.status_code, r.get_json()["field"]) == (415, "Content-Type")


def test_an_unchanged_namespace_is_audited_once(client):
    for _ in range(2):
        r = client.put("/api/v1/namespaces/s3://bucket", json={"ownerName": "team"})
        assert r.status_code == 200 and r.get_json()["name"] == "s3://bucket"
    assert _audit(client, "namespace") == ["namespace.create"]
    # A namespace an event created is described, not re-created.
    complete_run(client, "land", outputs=[ds("raw", ns="lake")])
    client.put("/api/v1/namespaces/lake", json={"ownerName": "data-eng", "description": "Raw"})
    got = client.get("/api/v1/namespaces/lake").get_json()
    assert (got["ownerName"], got["description"]) == ("data-eng", "Raw")
    assert _audit(client, "namespace") == ["namespace.create", "namespace.update"]


def test_tag_writes_check_names_and_bodies(client):
    for url in ("/api/v1/tags/bad%20tag", "/api/v1/tags/-x"):
        r = client.put(url, json={})
        assert (r.status_code, r.get_json()["field"]) == (422, "tag"), url
    r = client.put("/api/v1/tags/PII", json={"description": ["no"]})
    assert (r.status_code, r.get_json()["field"]) == (422, "description")
    r = client.put("/api/v1/tags/PII", json=[])
    assert (r.status_code, r.get_json()["field"]) == (422, "")
    # No body at all is a tag without description (Marquez's client sends one; curl may not).
    assert client.put("/api/v1/tags/PII").get_json() == {"name": "PII", "description": None}
    assert client.put("/api/v1/tags/PII", json={"description": None}).status_code == 200
    assert client.put("/api/v1/tags/PII", json={"description": "personal"}).status_code == 200
    assert _audit(client, "tag") == ["tag.create", "tag.update"]
    body = client.get("/api/v1/tags?limit=1").get_json()
    assert body == {"tags": [{"name": "PII", "description": "personal"}], "totalCount": 1}


def test_tagging_a_dataset_shows_in_its_past_and_present(client):
    complete_run(client, "land", outputs=[ds("raw", schema=schema("user_id", "item"))])
    r = client.post("/api/v1/namespaces/shop/datasets/raw/tags/gold")
    assert r.status_code == 200 and r.get_json()["tags"] == ["gold"]
    r = client.post("/api/v1/namespaces/shop/datasets/raw/fields/item/tags/catalog.item")
    assert [f["tags"] for f in r.get_json()["fields"]] == [[], ["catalog.item"]]
    now = datetime.now(UTC).isoformat()
    past = client.get("/api/v1/namespaces/shop/datasets/raw", query_string={"asOf": now})
    assert past.get_json()["tags"] == ["gold"]
    r = client.post("/api/v1/namespaces/shop/datasets/raw/tags/no%20spaces")
    assert (r.status_code, r.get_json()["field"]) == (422, "tag")
    assert _audit(client, "dataset") == ["dataset.tag", "dataset.field.tag"]


def test_tag_writes_are_for_stewards(client_as):
    for role, code in (("steward", 200), ("admin", 200), ("pipeline", 403), ("viewer", 403)):
        r = client_as(role).put("/api/v1/tags/PII", json={"description": role})
        assert r.status_code == code, role


def test_sources_list_and_lookup(client):
    for i, name in enumerate(("warehouse", "lake/raw")):
        src = {**facet("DatasourceDatasetFacet"), "name": name, "uri": f"s3://bucket-{i}/x"}
        complete_run(client, f"job{i}", outputs=[ds(f"d{i}", dataSource=src)])
    body = client.get("/api/v1/sources").get_json()
    assert [(s["name"], s["type"], s["connectionUrl"]) for s in body["sources"]] == [
        ("lake/raw", "S3", "s3://bucket-1/x"), ("warehouse", "S3", "s3://bucket-0/x")]
    assert body["totalCount"] == 2
    assert client.get("/api/v1/sources?offset=1").get_json()["sources"][0]["name"] == "warehouse"
    assert client.get("/api/v1/sources/lake/raw").get_json()["name"] == "lake/raw"
    r = client.get("/api/v1/sources/nope")
    assert r.status_code == 404 and r.get_json() == {
        "error": "NotFound", "message": "source 'nope' not found", "field": "source"}


def test_job_column_lineage_refuses_a_malformed_id(client):
    r = client.get("/api/v1/column-lineage", query_string={"nodeId": "job:nocolon"})
    assert (r.status_code, r.get_json()["field"]) == (400, "nodeId")
    assert "job:NS:NAME" in r.get_json()["message"]

