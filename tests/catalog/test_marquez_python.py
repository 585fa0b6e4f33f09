"""Marquez's own Python client (marquez-python 0.50.0), unchanged, against a live catalog server.

Every read method of the client, column lineage from a dataset, a field and a job included, and
its legacy writes (namespaces, tags, tagging a dataset or a field). The client is configured as
its docs say (``MARQUEZ_URL``, ``MARQUEZ_API_KEY`` read by ``Clients.new_client()``); writes go
through the catalog's roles and land in its audit trail like the catalog's own.
"""

from __future__ import annotations

import pytest
import requests
from marquez_client import Clients
from marquez_client.errors import APIError

from tests.factories import complete_run, ds, facet, schema
from tests.live_server import live_server
from tests.ops.catalog_data import populate

WAREHOUSE = "postgresql://db.example:5432/shop"


@pytest.fixture(scope="module")
def server(db_url, tmp_path_factory):
    """A ``catalog serve`` subprocess on the test database for the whole module."""
    with live_server(db_url, tmp_path_factory.mktemp("marquez")) as url:
        yield url


@pytest.fixture
def catalog(app, client, server, monkeypatch) -> str:
    """The server's URL over a populated catalog (``app`` empties the tables first); one more
    run reports where its output lives (OpenLineage's dataSource facet)."""
    monkeypatch.setenv("CATALOG_TOKEN", app.config["TEST_TOKENS"]["admin"])
    populate(client)
    complete_run(client, "export", inputs=[ds("clean")], minutes=40, outputs=[ds(
        "orders", schema=schema("id"),
        dataSource={**facet("DatasourceDatasetFacet"), "name": "warehouse", "uri": WAREHOUSE})])
    return server


def marquez(monkeypatch, url: str, token: str):
    """The client as Marquez's docs make it: from MARQUEZ_URL and MARQUEZ_API_KEY."""
    monkeypatch.setenv("MARQUEZ_URL", url)
    monkeypatch.setenv("MARQUEZ_API_KEY", token)
    return Clients.new_client()


def status_of(exc: pytest.ExceptionInfo) -> tuple[int, dict]:
    """The HTTP status and JSON body behind the client's APIError."""
    cause = exc.value.__cause__
    assert isinstance(cause, requests.HTTPError)
    return cause.response.status_code, cause.response.json()


def test_reads(catalog, app, monkeypatch):
    mq = marquez(monkeypatch, catalog, app.config["TEST_TOKENS"]["admin"])

    names = [n["name"] for n in mq.list_namespaces()["namespaces"]]
    assert {"shop", "pipelines", "features"} <= set(names) and names == sorted(names)
    assert mq.get_namespace("shop")["name"] == "shop"

    listed = mq.list_datasets("shop")
    assert [d["name"] for d in listed["datasets"]] == ["clean", "orders", "raw"]
    clean = mq.get_dataset("shop", "clean")
    # The failed run's schema (a, b, c) is the current one; its output no version.
    assert [f["name"] for f in clean["fields"]] == ["a", "b", "c"]
    versions = mq.list_dataset_versions("shop", "clean")["versions"]
    assert len(versions) == 1 and versions[0]["version"] == clean["currentVersion"]
    one = mq.get_dataset_version("shop", "clean", clean["currentVersion"])
    assert one["createdByRun"]["state"] == "COMPLETED"

    jobs = {j["name"]: j for j in mq.list_jobs("pipelines")["jobs"]}
    assert {"land", "clean", "train", "still_running", "export"} <= set(jobs)
    assert mq.get_job("pipelines", "clean")["latestRun"]["state"] == "FAILED"
    runs = mq.list_job_runs("pipelines", "clean")["runs"]
    assert [r["state"] for r in runs] == ["FAILED", "COMPLETED"]
    assert mq.get_job_run(runs[1]["id"])["outputVersions"][0]["name"] == "clean"

    sources = mq.list_sources()["sources"]
    assert [(s["name"], s["type"], s["connectionUrl"]) for s in sources] == [
        ("warehouse", "POSTGRESQL", WAREHOUSE)]
    assert mq.get_source("warehouse")["connectionUrl"] == WAREHOUSE
    assert mq.get_dataset("shop", "orders")["sourceName"] == "warehouse"
    assert mq.list_tags()["tags"] == [{"name": "gold", "description": None}]


def _graph(answer: dict) -> dict[str, list[str]]:
    """Column lineage as {field node: its input field nodes}."""
    return {n["id"]: sorted(e["origin"] for e in n["inEdges"]) for n in answer["graph"]}


def test_column_lineage_from_a_dataset_a_field_and_a_job(catalog, app, monkeypatch):
    mq = marquez(monkeypatch, catalog, app.config["TEST_TOKENS"]["admin"])
    expected = {"datasetField:shop:clean:b": ["datasetField:shop:raw:a"],
                "datasetField:shop:raw:a": []}
    assert _graph(mq.get_column_lineage_by_dataset("shop", "clean")) == expected
    assert _graph(mq.get_column_lineage_by_dataset_field("shop", "clean", "b")) == expected
    # A job's node: the fields of the datasets it writes (clean writes shop/clean).
    by_job = mq.get_column_lineage_by_job("pipelines", "clean")
    assert _graph(by_job) == expected
    (b,) = [n for n in by_job["graph"] if n["id"] == "datasetField:shop:clean:b"]
    assert b["data"]["inputFields"][0]["field"] == "a"
    # Downstream too: raw.a feeds clean.b.
    down = mq.get_column_lineage_by_job("pipelines", "land", with_downstream=True)
    assert _graph(down) == expected
    # A job writing no field with column lineage answers an empty graph; an unknown job 404.
    assert mq.get_column_lineage_by_job("pipelines", "train") == {"graph": []}
    with pytest.raises(APIError) as exc:
        mq.get_column_lineage_by_job("pipelines", "nope")
    assert status_of(exc) == (404, {"error": "NotFound", "field": "nodeId",
                                    "message": "node 'job:pipelines:nope' not found"})


def _audit(client, entity_type: str, key: str = "") -> list[tuple]:
    """(action, key, actor, before, after) of the audit trail's entries about an entity type."""
    query = {"entityType": entity_type, "entityKey": key}
    entries = client.get("/api/v1/audit", query_string=query).get_json()["entries"]
    return [(e["action"], e["entityKey"], e["actor"], e["before"], e["after"]) for e in entries]


def test_legacy_writes_as_a_steward_are_audited(catalog, app, client, client_as, monkeypatch):
    client_as("steward")  # mints the steward's token
    mq = marquez(monkeypatch, catalog, app.config["TEST_TOKENS"]["steward"])

    made = mq.create_namespace("marketing", "team-a", "Campaign data")
    assert (made["name"], made["ownerName"], made["description"]) == (
        "marketing", "team-a", "Campaign data")
    again = mq.create_namespace("marketing", "team-b")
    assert (again["ownerName"], again["description"]) == ("team-b", None)
    assert mq.get_namespace("marketing")["ownerName"] == "team-b"
    assert _audit(client, "namespace") == [
        ("namespace.create", "marketing", "token:test-steward", None,
         {"ownerName": "team-a", "description": "Campaign data"}),
        ("namespace.update", "marketing", "token:test-steward",
         {"ownerName": "team-a", "description": "Campaign data"},
         {"ownerName": "team-b", "description": None}),
    ]

    assert mq.create_tag("PII", "personal data") == {"name": "PII",
                                                     "description": "personal data"}
    # (Sorted here: PostgreSQL's collation may order "gold" before "PII".)
    assert sorted(mq.list_tags()["tags"], key=lambda t: t["name"]) == [
        {"name": "PII", "description": "personal data"}, {"name": "gold", "description": None}]
    assert mq.tag_dataset("shop", "clean", "PII")["tags"] == ["PII"]
    tagged = mq.tag_dataset_field("shop", "clean", "a", "SENSITIVE")
    assert [(f["name"], f["tags"]) for f in tagged["fields"]] == [("a", ["SENSITIVE"]),
                                                                  ("b", []), ("c", [])]
    # Tagging again changes nothing and records nothing.
    assert mq.tag_dataset("shop", "clean", "PII")["tags"] == ["PII"]
    assert mq.get_dataset("shop", "clean")["fields"][0]["tags"] == ["SENSITIVE"]
    assert sorted(t["name"] for t in mq.list_tags()["tags"]) == ["PII", "SENSITIVE", "gold"]

    assert _audit(client, "tag") == [
        ("tag.create", "PII", "token:test-steward", None, {"description": "personal data"})]
    dataset_changes = [(a, k, who, b["tags"], [f["tags"] for f in b["fields"]],
                        after["tags"], [f["tags"] for f in after["fields"]])
                       for a, k, who, b, after in _audit(client, "dataset", "shop/clean")]
    assert dataset_changes == [
        ("dataset.tag", "shop/clean", "token:test-steward", [], [[], [], []], ["PII"],
         [[], [], []]),
        ("dataset.field.tag", "shop/clean", "token:test-steward", ["PII"], [[], [], []],
         ["PII"], [["SENSITIVE"], [], []]),
    ]


def test_legacy_writes_need_the_role_and_name_what_is_wrong(catalog, app, client_as,
                                                            monkeypatch):
    client_as("viewer")
    viewer = marquez(monkeypatch, catalog, app.config["TEST_TOKENS"]["viewer"])
    for write in (lambda: viewer.create_tag("PII"),
                  lambda: viewer.create_namespace("marketing", "team-a"),
                  lambda: viewer.tag_dataset("shop", "clean", "PII"),
                  lambda: viewer.tag_dataset_field("shop", "clean", "a", "PII")):
        with pytest.raises(APIError) as exc:
            write()
        code, body = status_of(exc)
        assert (code, body["error"], body["permission"]) == (403, "Forbidden", "metadata.write")
    assert viewer.list_tags()["tags"] == [{"name": "gold", "description": None}]

    client_as("steward")
    steward = marquez(monkeypatch, catalog, app.config["TEST_TOKENS"]["steward"])
    with pytest.raises(APIError) as exc:
        steward.tag_dataset("shop", "nope", "PII")
    assert status_of(exc) == (404, {"error": "NotFound", "field": "dataset",
                                    "message": "dataset shop:nope not found"})
    with pytest.raises(APIError) as exc:
        steward.tag_dataset_field("shop", "clean", "zzz", "PII")
    assert status_of(exc) == (404, {"error": "NotFound", "field": "field",
                                    "message": "dataset shop:clean has no field 'zzz'"})
    with pytest.raises(APIError) as exc:
        steward.create_tag("not ok!")
    code, body = status_of(exc)
    assert (code, body["field"]) == (422, "tag") and "'not ok!'" in body["message"]
