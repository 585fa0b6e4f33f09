"""Plain registration endpoints for datasets and models (no OpenLineage needed)."""

from __future__ import annotations

import pytest

from tests.factories import complete_run, ds

SHA = "a" * 64


def test_put_dataset_creates_then_versions_on_change(client):
    body = {"kind": "feature_table", "fields": [{"name": "user_id", "type": "BIGINT"}],
            "description": "User features", "tags": ["gold"], "owners": ["ml-team"],
            "sourceName": "duckdb", "rowCount": 10}
    r = client.put("/api/v1/namespaces/features/datasets/user_features", json=body)
    assert r.status_code == 200, r.get_json()
    d = r.get_json()
    assert (d["kind"], d["description"], d["tags"], d["sourceName"]) == (
        "feature_table", "User features", ["gold"], "duckdb")
    assert d["owners"] == [{"name": "ml-team", "type": None}]
    assert d["currentVersionNumber"] == 1 and d["rowCount"] == 10
    # Same schema again: metadata only, no new version.
    r = client.put("/api/v1/namespaces/features/datasets/user_features",
                   json={"fields": body["fields"], "description": "changed"})
    assert r.get_json()["currentVersionNumber"] == 1
    assert r.get_json()["description"] == "changed"
    # New fingerprint: new version.
    r = client.put("/api/v1/namespaces/features/datasets/user_features",
                   json={"fingerprint": "abc123"})
    assert r.get_json()["currentVersionNumber"] == 2


def test_put_dataset_bad_input_names_field_and_writes_nothing(client):
    cases = [
        ({"fields": [{"type": "INT"}]}, "fields[0].name"),
        ({"fields": "user_id"}, "fields"),
        ({"kind": "spreadsheet"}, "kind"),
        ({"kind": ["table"]}, "kind"),  # was a 500: a list is no dictionary key
        ({"type": {"a": 1}}, "kind"),
        ({"rowCount": -1}, "rowCount"),
        ({"tags": [1]}, "tags"),
        ({"colour": "red"}, "colour"),
    ]
    for body, field in cases:
        r = client.put("/api/v1/namespaces/x/datasets/y", json=body)
        assert r.status_code == 422, body
        assert r.get_json()["field"] == field
    assert client.get("/api/v1/namespaces/x/datasets/y").status_code == 404
    r = client.put("/api/v1/namespaces/x/datasets/y", json={"runId": "nope"})
    assert r.status_code == 404 and r.get_json()["field"] == "runId"
    assert client.get("/api/v1/namespaces").get_json()["totalCount"] == 0


def test_model_version_from_training_run_is_in_lineage(client):
    run_id = complete_run(client, "train_ranker", inputs=[ds("user_features")])
    r = client.post("/api/v1/models/ranker/versions", json={
        "runId": run_id, "artifactPath": "/w/ranker.pt", "sha256": SHA,
        "hyperparameters": {"d_model": 64}, "metrics": {"ndcg@10": 0.051}, "codeVersion": "abc"})
    assert r.status_code == 201, r.get_json()
    v = r.get_json()
    assert (v["version"], v["runId"], v["metrics"]) == (1, run_id, {"ndcg@10": 0.051})
    assert v["datasetVersion"]["namespace"] == "models"
    run = client.get(f"/api/v1/jobs/runs/{run_id}").get_json()
    outs = [o["datasetVersionId"] for o in run["outputDatasetVersions"]]
    assert outs == [{"namespace": "models", "name": "ranker",
                     "version": v["datasetVersion"]["version"]}]
    model_ds = client.get("/api/v1/namespaces/models/datasets/ranker").get_json()
    assert model_ds["kind"] == "model"


def test_model_versions_aliases_and_resolution(client):
    for _ in range(2):
        assert client.post("/api/v1/models/ranker/versions", json={}).status_code == 201
    r = client.put("/api/v1/models/ranker/aliases/candidate", json={"version": 1})
    assert r.status_code == 200 and r.get_json()["aliases"] == {"candidate": 1}
    assert client.get("/api/v1/models/ranker/versions/candidate").get_json()["version"] == 1
    assert client.get("/api/v1/models/ranker/versions/latest").get_json()["version"] == 2
    client.put("/api/v1/models/ranker/aliases/candidate", json={"version": 2})
    m = client.get("/api/v1/models/ranker").get_json()
    assert m["aliases"] == {"candidate": 2}
    assert [v["aliases"] for v in m["versions"]] == [[], ["candidate"]]
    assert client.put("/api/v1/models/ranker/aliases/candidate",
                      json={"version": 9}).status_code == 404
    assert client.put("/api/v1/models/ranker/aliases/Prod!", json={"version": 1}).status_code == 422
    # Without a training run there is no data to vouch for: production refuses it.
    r = client.put("/api/v1/models/ranker/aliases/production", json={"version": 2})
    assert r.status_code == 409
    assert r.get_json()["reasons"] == [
        "version has no training run, so its training data cannot be checked"]
    assert client.get("/api/v1/models/ranker/versions/staging").status_code == 404
    assert client.get("/api/v1/models/nope").status_code == 404


def test_model_version_validation(client):
    cases = [
        ({"sha256": "xyz"}, "sha256"),
        ({"metrics": {"ndcg": "high"}}, "metrics.ndcg"),
        ({"hyperparameters": [1]}, "hyperparameters"),
        ({"weights": 1}, "weights"),
    ]
    for body, field in cases:
        r = client.post("/api/v1/models/ranker/versions", json=body)
        assert r.status_code == 422 and r.get_json()["field"] == field, body
    r = client.post("/api/v1/models/ranker/versions", json={"runId": "missing"})
    assert r.status_code == 404
    assert client.get("/api/v1/models").get_json()["totalCount"] == 0
    r = client.put("/api/v1/models/bad name", json={})
    assert r.status_code == 422 and r.get_json()["field"] == "name"


@pytest.mark.parametrize("key", ["artifactPath", "codeVersion", "description", "namespace"])
def test_a_model_versions_text_fields_must_be_text(client, key):
    """Were stored as sent (a number, true) and answered against the document's schema; the
    conformance fuzzing found it."""
    r = client.post("/api/v1/models/ranker/versions", json={key: -3261})
    assert r.status_code == 422 and r.get_json()["field"] == key
    assert client.get("/api/v1/models/ranker").status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"owners": [{"name": "", "type": [None]}]}, "owners[0]"),  # found by the fuzzer: a 500
    ({"owners": [{"name": "ml", "type": [None]}]}, "owners[0].type"),
    ({"owners": [{"name": "ml", "type": {"t": 1}}]}, "owners[0].type"),
    ({"sourceName": ["duckdb"]}, "sourceName"),
    ({"sourceName": "duckdb", "sourceUri": 7}, "sourceUri"),
])
def test_owner_and_source_values_of_the_wrong_type_are_refused(client, body, field):
    r = client.put("/api/v1/namespaces/shop/datasets/owned", json=body)
    assert r.status_code == 422 and r.get_json()["field"] == field, r.get_json()
    assert client.get("/api/v1/namespaces/shop/datasets/owned").status_code == 404


def test_put_model_refuses_a_description_that_is_not_text_and_writes_nothing(client):
    # Found by the longer fuzzer: a list or an object here was a 500 from the database driver.
    for bad in ([None], {"a": 1}, 5):
        r = client.put("/api/v1/models/passing", json={"description": bad})
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["field"] == "description"
    assert client.get("/api/v1/models/passing").status_code == 404
    r = client.put("/api/v1/models/passing", json={"description": "ok"})
    assert r.status_code == 200 and r.get_json()["description"] == "ok"
