"""The governed loop end to end: a user-id tag on raw events reaches the training inputs and the
recommendation lists through the pipeline's and the scorer's column lineage, and gates promotion."""

from __future__ import annotations

from pipelines.report import Reporter
from pipelines.service import land_and_run
from ranker.registry import compress_and_register, score_and_report, train_and_register
from ranker.train import TrainConfig

TINY = TrainConfig(max_epochs=1, batch_size=64, threads=1, patience=1,
                   model={"d_model": 16, "n_layers": 1, "max_len": 20})
RAW = "/api/v1/namespaces/recsys/datasets/raw_events"


def test_user_id_tag_gates_promotion_and_reaches_recommendations(tmp_path, catalog):
    client, http = catalog
    land_and_run(tmp_path, "synthetic", reporter=Reporter(client), events=3_000, seed=3)
    _, version = train_and_register(tmp_path, TINY, client, dataset="synthetic")
    suggested = http.post(f"{RAW}/classifications/detect").get_json()["suggested"]
    assert ("user_id", "pii.user_id") in {(s["field"], s["tag"]) for s in suggested}
    assert http.put(f"{RAW}/fields/user_id/classifications/pii.user_id").status_code == 200

    r = http.put("/api/v1/models/ranker/aliases/production", json={"version": version["version"]})
    assert r.status_code == 409
    reason = ("training input recsys:interactions_split.user_id carries pii.user_id (inherited "
              "from recsys:raw_events.user_id) without an approved exemption")
    assert reason in r.get_json()["reasons"]
    # A compressed copy learned from the same data: it answers for it too.
    _, small = compress_and_register(tmp_path, "ranker@1", client, method="int8", users=50)
    r = http.put("/api/v1/models/ranker/aliases/production", json={"version": small["version"]})
    assert r.status_code == 409 and reason in r.get_json()["reasons"]
    r = http.post("/api/v1/models/ranker/exemptions",
                  json={"tag": "pii.*", "reason": "pseudonymous ids, reviewed"})
    assert r.status_code == 201
    r = http.put("/api/v1/models/ranker/aliases/production", json={"version": small["version"]})
    assert reason not in (r.get_json().get("reasons") or [])
    r = http.put("/api/v1/models/ranker/aliases/production", json={"version": version["version"]})
    assert r.status_code == 200, r.get_json()

    score_and_report(tmp_path, "ranker@production", client, k=3)
    recs = http.get("/api/v1/namespaces/recsys/datasets/recommendations/classifications")
    cols = {c["field"]: c for c in recs.get_json()["columns"]}
    assert cols["user_id"]["inherited"] == [{"tag": "pii.user_id", "source": {
        "namespace": "recsys", "dataset": "raw_events", "field": "user_id"}}]
    assert "item_id" not in cols
