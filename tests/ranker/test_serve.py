"""``catalog ranker serve``: a live gunicorn serving process against a live catalog.

One tiny model (60 users cycling through 30 items), registered and promoted; the serving process
answers, refuses bad input, journals impressions and feedback, and on SIGTERM flushes them to
Parquet and reports them to the catalog with their lineage and the serving run's life.
"""

from __future__ import annotations

import signal
from pathlib import Path

import duckdb
import numpy as np
import torch

from catalog.cli_contract import ExitCode
from ranker import data as rdata
from ranker.checkpoint import load_checkpoint
from ranker.score import top_k
from ranker.serve.batches import dataset_facts
from recocatalog.cli import main
from tests.ranker.serve_util import Serving, parquet_rows, run_events, train_version, wait_for


def _history(work: Path) -> dict[int, set[int]]:
    con = duckdb.connect(str(work / "features.duckdb"), read_only=True)
    try:
        rows = con.execute("select user_id, item_id from interactions_split").fetchall()
    finally:
        con.close()
    seen: dict[int, set[int]] = {}
    for u, i in rows:
        seen.setdefault(u, set()).add(i)
    return seen


def _expected_lists(work: Path, checkpoint: Path, k: int) -> dict[int, list[int]]:
    """Each user's top-k as the batch scorer computes it, one user at a time."""
    model, ckpt = load_checkpoint(checkpoint)
    data = rdata.load(work / "features.duckdb")
    assert np.array_equal(ckpt["item_ids"].numpy(), data.item_ids)
    seqs, behs = rdata.full_histories(data)
    out = {}
    with torch.no_grad():
        for u, uid in enumerate(data.user_ids[:8]):
            items, _ = top_k(model, [seqs[u]], [behs[u]], k)
            out[int(uid)] = [int(data.item_ids[i - 1]) for i in items[0].tolist()]
    return out


def _popular(work: Path, k: int) -> list[int]:
    con = duckdb.connect(str(work / "features.duckdb"), read_only=True)
    try:
        return [r[0] for r in con.execute(
            "select item_id from interactions_split group by item_id "
            "order by count(*) desc, item_id limit ?", [k]).fetchall()]
    finally:
        con.close()


BAD_REQUESTS = [
    ({"user": "500", "k": "0"}, 400, "k"),
    ({"user": "500", "k": "101"}, 400, "k"),
    ({"user": "500", "k": "ten"}, 400, "k"),
    ({"user": "-3"}, 400, "user"),
    ({"user": "5e3"}, 400, "user"),
    ({"user": "1" * 19}, 400, "user"),
    ({}, 400, "user"),
    ({"user": "500", "sort": "price"}, 400, "sort"),
]


def test_serves_lists_refuses_bad_input_and_reports_everything_on_sigterm(serve_stack,
                                                                         tmp_path):
    url, client, work, version = serve_stack
    serving = Serving(url, work, tmp_path, **{"heartbeat-seconds": 0.3})
    serving.start()
    try:
        health = serving.get("/healthz").json()
        assert health["model"] == {"name": "ranker", "version": 1, "ref": "ranker@production"}
        run_id = health["runId"]

        # Known users: the batch scorer's list, nothing the user has seen.
        seen = _history(work)
        expected = _expected_lists(work, Path(version["artifactPath"]), 5)
        served = {}
        for user, items in expected.items():
            r = serving.get("/recommendations", user=user, k=5)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["strategy"] == "personalised" and body["model"]["version"] == 1
            assert body["items"] == items and len(body["scores"]) == 5
            assert body["scores"] == sorted(body["scores"], reverse=True)
            assert not set(body["items"]) & seen[user]
            assert r.headers["X-Request-Id"] == body["requestId"]
            served[body["requestId"]] = (user, body["items"], "personalised")

        # An unknown user gets the popularity list, labelled as such.
        r = serving.get("/recommendations", user=424242, k=4)
        body = r.json()
        assert body["strategy"] == "popularity" and body["items"] == _popular(work, 4)
        served[body["requestId"]] = (424242, body["items"], "popularity")

        # Bad input: 4xx JSON naming the problem.
        for params, status, field in BAD_REQUESTS:
            r = serving.get("/recommendations", **params)
            assert (r.status_code, r.json().get("field")) == (status, field), (params, r.text)
            assert r.json()["error"] == "BadRequest" and r.json()["message"]
        r = serving.http.get(serving.url + "/recommendations?user=500&user=501")
        assert r.status_code == 400 and r.json()["field"] == "user"
        assert serving.get("/nowhere").status_code == 404
        assert serving.post("/recommendations", {}).status_code == 405
        posts = [
            ("/events", {"user": 424242, "item": 1003}, 400, "behavior"),
            ("/events", {"user": 424242, "item": 1003, "behavior": "like"}, 400, "behavior"),
            ("/events", {"user": 424242, "item": 1003, "behavior": "pv", "x": 1}, 400, "x"),
            ("/events", {"user": "u1", "item": 1003, "behavior": "pv"}, 400, "user"),
            ("/events", {"user": 424242, "item": 999999, "behavior": "pv"}, 422, "item"),
            ("/feedback", {"requestId": "nope", "item": 1, "type": "buy"}, 400, "requestId"),
            ("/feedback", {"requestId": "0" * 32, "item": 1, "type": "buy"}, 404, "requestId"),
            ("/feedback", {"requestId": body["requestId"], "item": 1001, "type": "buy"}, 422,
             "item"),
            ("/feedback", {"requestId": body["requestId"], "item": body["items"][0],
                           "type": "return"}, 400, "type"),
        ]
        for path, payload, status, field in posts:
            r = serving.post(path, payload)
            assert (r.status_code, r.json().get("field")) == (status, field), (payload, r.text)
        r = serving.http.post(serving.url + "/events", data="user=1", timeout=10,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400 and "JSON" in r.json()["message"]

        # An event posted now joins the history: the next list is personalised and leaves it out.
        r = serving.post("/events", {"user": 424242, "item": 1003, "behavior": "pv"})
        assert r.status_code == 201
        r = serving.get("/recommendations", user=424242, k=29)
        body = r.json()
        assert body["strategy"] == "personalised" and 1003 not in body["items"]
        assert len(body["items"]) == 29  # every item but the one seen
        served[body["requestId"]] = (424242, body["items"], "personalised")

        # Feedback on a list: linked to it by request id, with the item's rank.
        fb_rid, (fb_user, fb_items, _) = next(iter(served.items()))
        r = serving.post("/feedback", {"requestId": fb_rid, "item": fb_items[1], "type": "buy"})
        assert r.status_code == 201, r.text
        assert r.json() == {"requestId": fb_rid, "user": fb_user, "item": fb_items[1],
                            "type": "buy", "behavior": "buy", "rank": 2, "modelVersion": 1}

        # The serving run reports RUNNING with its counts while it serves.
        def running_with_counts():
            events = run_events(client, run_id)
            return [e for e in events if e["eventType"] == "RUNNING"
                    and e["run"]["facets"]["serving"]["requests"] == len(served)]
        wait_for(running_with_counts, "a RUNNING event with the request count")
        # Nothing flushed yet: everything served is only in the journal.
        assert parquet_rows(serving.data_dir / "impressions") == []
    finally:
        rc = serving.stop(signal.SIGTERM)
    assert rc == 0, serving.log.read_text()

    # After SIGTERM: every list is in Parquet, one row per (list, item), ranks 1..k.
    rows = parquet_rows(serving.data_dir / "impressions",
                        "select request_id, user_id, item_id, rank, strategy, model, "
                        "model_version from t order by request_id, rank")
    got: dict[str, tuple] = {}
    for rid, user, item, rank, strategy, model, mv in rows:
        u, items, s = got.setdefault(rid, (user, [], strategy))
        assert (rank, model, mv) == (len(items) + 1, "ranker", 1)
        items.append(item)
    assert got == {rid: (u, items, s) for rid, (u, items, s) in served.items()}
    assert list((serving.data_dir / "journal").iterdir()) == []
    events = parquet_rows(serving.data_dir / "events",
                          "select user_id, item_id, behavior, request_id, impression_rank, "
                          "feedback, model_version from t order by received_at")
    assert events == [("424242", "1003", "pv", None, None, None, 1),
                      (str(fb_user), str(fb_items[1]), "buy", fb_rid, 2, "buy", 1)]

    # The catalog: the serving run's life, with counts.
    states = [e["eventType"] for e in run_events(client, run_id)]
    assert states[0] == "START" and states[-1] == "COMPLETE"
    assert set(states[1:-1]) == {"RUNNING"} and len(states) >= 3
    run = client.get(f"api/v1/jobs/runs/{run_id}")
    assert run["state"] == "COMPLETED"
    counts = run["facets"]["serving"]
    assert counts["requests"] == len(served) and counts["feedback"] == 1
    assert counts["events"] == 1 and counts["popularity"] == 1
    assert counts["rejected"] == len(BAD_REQUESTS) + 1 + 2 + len(posts) + 1
    assert counts["flushed_impression_rows"] == len(rows)
    assert {i["datasetVersionId"]["name"] for i in run["inputDatasetVersions"]} == {
        "ranker", "interactions_split"}

    # The impressions version: its run is a child of the serving run, and reads the exact
    # model version served and the feature table the histories came from.
    imp = client.get("api/v1/namespaces/recsys/datasets/impressions")
    assert imp["currentVersionNumber"] == 1 and imp["rowCount"] == len(rows)
    (imp_version,) = client.get(
        "api/v1/namespaces/recsys/datasets/impressions/versions")["versions"]
    assert imp_version["fingerprint"] == dataset_facts(serving.data_dir, "impressions")[0]
    flush_run = client.get(f"api/v1/jobs/runs/{imp_version['createdByRun']['id']}")
    assert flush_run["parentRunId"] == run_id
    assert flush_run["jobVersion"]["name"] == "serve_ranker.impressions"
    inputs = {i["datasetVersionId"]["name"]: i["datasetVersionId"]["version"]
              for i in flush_run["inputDatasetVersions"]}
    assert inputs["ranker"] == version["datasetVersion"]["version"]
    assert "interactions_split" in inputs

    # The served events version reads the impressions version its feedback answers.
    ev_versions = client.get(
        "api/v1/namespaces/recsys/datasets/served_events/versions")["versions"]
    assert len(ev_versions) == 1
    assert ev_versions[0]["fingerprint"] == dataset_facts(serving.data_dir, "served_events")[0]
    assert ev_versions[0]["fingerprint"] != imp_version["fingerprint"]
    ev_run = client.get(f"api/v1/jobs/runs/{ev_versions[0]['createdByRun']['id']}")
    ev_inputs = {i["datasetVersionId"]["name"]: i["datasetVersionId"]["version"]
                 for i in ev_run["inputDatasetVersions"]}
    assert ev_inputs["impressions"] == imp_version["version"]
    assert ev_inputs["ranker"] == version["datasetVersion"]["version"]

    # The auditor's trace follows the purchase back: events -> impressions -> model -> features.
    trace = client.get("trace/datasets/recsys/served_events", format="json")
    names = {(v["namespace"], v["dataset"]): v["distance"] for v in trace["versions"]}
    assert names[("recsys", "impressions")] == 1 and names[("models", "ranker")] == 1
    assert names[("recsys", "interactions_split")] == 2


def test_refuses_to_start_on_a_changed_artifact(serve_stack, runner, tmp_path):
    url, client, work, _ = serve_stack
    bad = train_version(work, client, "tampered", seed=7)
    with open(bad["artifactPath"], "ab") as fh:
        fh.write(b"\0")
    args = ["ranker", "serve", "--workdir", str(work), "--catalog-url", url,
            "--data-dir", str(tmp_path / "d"), "--port", "1"]
    r = runner.invoke(main, [*args, "--model", f"ranker@{bad['version']}"])
    assert r.exit_code == ExitCode.BAD_INPUT, r.output
    assert r.stderr == (f"error: ranker version {bad['version']}: {bad['artifactPath']} does "
                        "not match its registered sha256; refusing to use it\n")
    r = runner.invoke(main, [*args, "--model", "ranker@staging"])
    assert r.exit_code == ExitCode.REFUSED and "(404)" in r.stderr
    r = runner.invoke(main, [*args, "--model", "ranker@production",
                             "--workdir", str(tmp_path / "empty")])
    assert r.exit_code == ExitCode.BAD_INPUT and "no features.duckdb" in r.stderr

