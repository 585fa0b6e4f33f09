"""Governance over the API: audited changes, the audit endpoints, classifications inherited along
column lineage, detector suggestions, the PII promotion gate, and metadata as of a past time."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

from sqlalchemy import select

from catalog.models import AuditEntry
from tests.factories import complete_run, ds, facet, schema

RAW = "/api/v1/namespaces/shop/datasets/raw_users"


def _cl(**fields):
    """A columnLineage facet from {out: [(input dataset, field, type, subtype, masking)]}."""
    return facet("ColumnLineageDatasetFacet", fields={
        out: {"inputFields": [
            {"namespace": "shop", "name": src, "field": f,
             "transformations": [{"type": t, "subtype": sub, "masking": mask}]}
            for src, f, t, sub, mask in srcs]}
        for out, srcs in fields.items()})


def _setup_lineage(client):
    """raw_users -> user_features -> user_scores, with identity, masked and aggregated columns."""
    r = client.put(RAW, json={"fields": [{"name": "user_id", "type": "BIGINT"},
                                         {"name": "email", "type": "VARCHAR"},
                                         {"name": "country", "type": "VARCHAR"}]})
    assert r.status_code == 200, r.get_json()
    complete_run(client, "features", inputs=[ds("raw_users")], outputs=[ds(
        "user_features",
        schema=schema("user_id", "email_hash", "n_emails", "country"),
        columnLineage=_cl(
            user_id=[("raw_users", "user_id", "DIRECT", "IDENTITY", False)],
            email_hash=[("raw_users", "email", "DIRECT", "TRANSFORMATION", True)],
            n_emails=[("raw_users", "email", "DIRECT", "AGGREGATION", False)],
            country=[("raw_users", "country", "DIRECT", "IDENTITY", False),
                     ("raw_users", "user_id", "INDIRECT", "GROUP_BY", False)],
        ))])
    complete_run(client, "scores", inputs=[ds("user_features")], minutes=5, outputs=[ds(
        "user_scores", schema=schema("user_id", "score"),
        columnLineage=_cl(user_id=[("user_features", "user_id", "DIRECT", "IDENTITY", False)],
                          score=[("user_features", "n_emails", "DIRECT", "TRANSFORMATION",
                                  False)]))])


def _tag(client, dataset, field, tag):
    return client.put(f"/api/v1/namespaces/shop/datasets/{dataset}/fields/{field}"
                      f"/classifications/{tag}", json={"reason": "contains personal data"})


def test_dataset_changes_are_audited_with_before_and_after(client, session):
    client.put("/api/v1/namespaces/shop/datasets/orders", json={"description": "v1"})
    client.put("/api/v1/namespaces/shop/datasets/orders",
               json={"description": "v2", "owners": ["team:data"], "tags": ["gold"]})
    client.put("/api/v1/namespaces/shop/datasets/orders", json={"description": "v2"})
    entries = client.get("/api/v1/audit?entityType=dataset&entityKey=shop/orders").get_json()
    actions = [(e["action"], e["actor"]) for e in entries["entries"]]
    assert actions == [("dataset.create", "token:test-admin"),
                       ("dataset.update", "token:test-admin")]  # the no-op PUT adds nothing
    update = entries["entries"][1]
    assert update["before"]["description"] == "v1" and update["before"]["owners"] == []
    assert update["after"]["description"] == "v2"
    assert update["after"]["owners"] == [{"name": "team:data", "type": None}]
    assert update["after"]["tags"] == ["gold"]


def test_audit_api_filters_pages_and_exports(client, client_as):
    for i in range(3):
        client.put(f"/api/v1/namespaces/shop/datasets/d{i}", json={"description": "x"})
    steward = client_as("steward")
    steward.put(f"{RAW}", json={})  # refused: stewards do not register datasets
    page = client.get("/api/v1/audit?limit=2").get_json()
    assert [e["entityKey"] for e in page["entries"]] == ["shop/d0", "shop/d1"]
    assert page["hasMore"] is True
    rest = client.get("/api/v1/audit?limit=2&offset=2").get_json()
    assert [e["entityKey"] for e in rest["entries"]] == ["shop/d2"] and not rest["hasMore"]
    assert client.get("/api/v1/audit?actor=nobody").get_json()["entries"] == []
    later = client.get("/api/v1/audit?since=2999-01-01T00:00:00Z").get_json()["entries"]
    assert later == []
    r = client.get("/api/v1/audit?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z")
    assert r.status_code == 400 and r.get_json()["field"] == "since"

    lines = client.get("/api/v1/audit/export?format=jsonl").get_data(as_text=True).splitlines()
    exported = [json.loads(x) for x in lines]
    assert [e["seq"] for e in exported] == [1, 2, 3]
    assert exported[0]["hash"] == page["entries"][0]["hash"]
    r = client.get("/api/v1/audit/export?format=csv&entityKey=shop/d1")
    assert r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [row["entityKey"] for row in rows] == ["shop/d1"]
    assert json.loads(rows[0]["after"])["description"] == "x"
    assert client.get("/api/v1/audit/export?format=xml").status_code == 400


def test_tags_follow_lineage_unless_masked_aggregated_or_indirect(client):
    _setup_lineage(client)
    assert _tag(client, "raw_users", "user_id", "pii.user_id").status_code == 200
    assert _tag(client, "raw_users", "email", "pii.email").status_code == 200
    feats = client.get("/api/v1/namespaces/shop/datasets/user_features/classifications")
    cols = {c["field"]: c for c in feats.get_json()["columns"]}
    assert cols["user_id"]["tags"] == []
    assert cols["user_id"]["inherited"] == [{"tag": "pii.user_id", "source": {
        "namespace": "shop", "dataset": "raw_users", "field": "user_id"}}]
    # Masked, aggregated and group-key-only columns inherit nothing.
    assert set(cols) == {"user_id"}
    scores = client.get("/api/v1/namespaces/shop/datasets/user_scores/classifications")
    cols = {c["field"]: c for c in scores.get_json()["columns"]}
    assert set(cols) == {"user_id"}
    assert cols["user_id"]["inherited"][0]["source"]["dataset"] == "raw_users"
    raw = client.get(f"{RAW}/classifications").get_json()
    assert {c["field"]: c["tags"] for c in raw["columns"]} == {
        "email": ["pii.email"], "user_id": ["pii.user_id"]}


def test_classification_errors_and_roles(client, client_as):
    _setup_lineage(client)
    assert _tag(client, "raw_users", "nope", "pii.email").status_code == 404
    r = _tag(client, "raw_users", "email", "PII")
    assert r.status_code == 422 and r.get_json()["field"] == "tag"
    r = _tag(client_as("viewer"), "raw_users", "email", "pii.email")
    assert r.status_code == 403 and r.get_json()["permission"] == "classifications.write"
    assert _tag(client_as("steward"), "raw_users", "email", "pii.email").status_code == 200
    r = client.delete(f"{RAW}/fields/email/classifications/pii.email")
    assert r.status_code == 200 and r.get_json()["columns"] == []
    assert client.delete(f"{RAW}/fields/email/classifications/pii.email").status_code == 404


def test_detectors_suggest_and_stewards_decide(client, session):
    _setup_lineage(client)
    r = client.post(f"{RAW}/classifications/detect")
    assert r.status_code == 200
    found = {(s["field"], s["tag"]) for s in r.get_json()["suggested"]}
    assert found == {("user_id", "pii.user_id"), ("email", "pii.email")}
    listing = client.get(f"{RAW}/classifications").get_json()
    assert listing["columns"] == []  # suggestions are not applied
    assert {s["status"] for s in listing["suggestions"]} == {"suggested"}
    assert _tag(client, "raw_users", "user_id", "pii.user_id").status_code == 200
    assert client.delete(f"{RAW}/fields/email/classifications/pii.email").status_code == 200
    again = client.post(f"{RAW}/classifications/detect").get_json()
    assert again["suggested"] == []  # accepted and rejected ones are not suggested again
    listing = client.get(f"{RAW}/classifications").get_json()
    assert listing["suggestions"] == []
    assert [c["tags"] for c in listing["columns"]] == [["pii.user_id"]]
    session.rollback()
    actions = session.scalars(select(AuditEntry.action).where(
        AuditEntry.entity_type == "column_classification").order_by(AuditEntry.seq)).all()
    assert actions == ["classification.suggest", "classification.suggest",
                       "classification.accept", "classification.reject"]


def _model_on_features(client):
    run_id = complete_run(client, "train", inputs=[ds("user_features")], minutes=10)
    r = client.post("/api/v1/models/ranker/versions",
                    json={"runId": run_id, "metrics": {"valid.ndcg": 0.3}})
    assert r.status_code == 201


def test_pii_reaching_training_inputs_blocks_production_until_exempted(client, client_as,
                                                                       session):
    _setup_lineage(client)
    _model_on_features(client)
    _tag(client, "raw_users", "user_id", "pii.user_id")
    r = client.put("/api/v1/models/ranker/aliases/production", json={"version": 1})
    assert r.status_code == 409
    reasons = r.get_json()["reasons"]
    assert reasons == ["training input shop:user_features.user_id carries pii.user_id "
                       "(inherited from shop:raw_users.user_id) without an approved exemption"]
    audit = client.get("/api/v1/audit?entityType=model&entityKey=ranker").get_json()["entries"]
    refused = [e for e in audit if e["action"] == "model.promote_refused"]
    assert refused[0]["after"]["reasons"] == reasons and refused[0]["after"]["version"] == 1

    # Pipelines may not approve exemptions; stewards may.
    body = {"tag": "pii.user_id", "reason": "ids are pseudonymous; DPO ticket 42"}
    assert client_as("pipeline").post("/api/v1/models/ranker/exemptions",
                                      json=body).status_code == 403
    r = client_as("steward").post("/api/v1/models/ranker/exemptions", json=body)
    assert r.status_code == 201 and r.get_json()["approvedBy"] == "token:test-steward"
    exemption = r.get_json()["id"]
    r = client.put("/api/v1/models/ranker/aliases/production", json={"version": 1})
    assert r.status_code == 200 and r.get_json()["aliases"] == {"production": 1}

    # Revoked, the exemption no longer covers a new promotion.
    client.delete(f"/api/v1/models/ranker/exemptions/{exemption}")
    r = client.put("/api/v1/models/ranker/aliases/staging", json={"version": 1})
    assert r.status_code == 200  # only production is gated
    r = client.put("/api/v1/models/ranker/aliases/production", json={"version": 1})
    assert r.status_code == 409
    session.rollback()
    actions = session.scalars(select(AuditEntry.action).where(
        AuditEntry.entity_type.in_(["model", "policy_exemption"])).order_by(AuditEntry.seq)).all()
    assert actions == ["model.create", "model_version.create", "model.promote_refused",
                       "exemption.approve", "model.alias", "exemption.revoke", "model.alias",
                       "model.promote_refused"]


def test_exemption_must_say_why(client):
    r = client.post("/api/v1/models/ranker/exemptions", json={"tag": "pii.email"})
    assert r.status_code == 422 and r.get_json()["field"] == "reason"
    r = client.post("/api/v1/models/ranker/exemptions", json={"tag": "gold", "reason": "x"})
    assert r.status_code == 422 and r.get_json()["field"] == "tag"


def _now() -> str:
    time.sleep(0.01)
    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    return stamp


def test_dataset_metadata_and_tags_as_of_a_past_time(client):
    _setup_lineage(client)
    client.put(RAW, json={"description": "first", "owners": ["ann"]})
    t1 = _now()
    _tag(client, "raw_users", "email", "pii.email")
    client.put(RAW, json={"description": "second", "owners": ["bob"], "tags": ["gold"]})
    t2 = _now()
    client.delete(f"{RAW}/fields/email/classifications/pii.email")

    then = client.get(f"{RAW}?asOf={t1}").get_json()
    assert then["description"] == "first" and then["owners"] == [{"name": "ann", "type": None}]
    assert then["tags"] == [] and then["asOf"].startswith(t1[:19])
    assert {f["name"]: f["tags"] for f in then["fields"]}["email"] == []
    later = client.get(f"{RAW}?asOf={t2}").get_json()
    assert later["description"] == "second" and later["tags"] == ["gold"]
    assert {f["name"]: f["tags"] for f in later["fields"]}["email"] == ["pii.email"]
    now = client.get(RAW).get_json()
    assert {f["name"]: f["tags"] for f in now["fields"]}["email"] == []
    tags_then = client.get(f"{RAW}/classifications?asOf={t2}").get_json()
    assert [c["tags"] for c in tags_then["columns"]] == [["pii.email"]]
    r = client.get(f"{RAW}?asOf=2000-01-01T00:00:00Z")
    assert r.status_code == 404 and r.get_json()["field"] == "asOf"
    assert client.get(f"{RAW}?asOf=yesterday").status_code == 400


def test_search_as_of_hides_datasets_registered_later(client):
    client.put("/api/v1/namespaces/shop/datasets/early_table", json={})
    t = _now()
    client.put("/api/v1/namespaces/shop/datasets/late_table", json={})
    names = lambda r: sorted(h["name"] for h in r.get_json()["results"])  # noqa: E731
    assert names(client.get("/api/v1/search?q=_table")) == ["early_table", "late_table"]
    assert names(client.get(f"/api/v1/search?q=_table&asOf={t}")) == ["early_table"]
