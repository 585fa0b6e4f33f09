"""Served events reach the pipeline: ``catalog ranker land-events``, then the next run.

The quick test lands two served parts into synthetic raw events in-process; the slow one runs
the whole loop through live processes: pipeline -> train -> serve -> feedback -> land -> pipeline,
and traces the purchase back through the catalog.
"""

from __future__ import annotations

import json
import signal

import duckdb
import pytest

from catalog.client import CatalogClient
from pipelines.report import Reporter
from pipelines.service import land_and_run
from pipelines.sources.synthetic import SyntheticConfig, generate
from ranker.serve.batches import event_rows, write_part
from ranker.serve.landing import land_and_report, pending_parts
from recocatalog.cli import main
from tests.ranker.serve_util import Serving, train_version


def _event(user, item, behavior, at_us, **link):
    return {"kind": "event", "user": user, "item": item, "behavior": behavior,
            "ts": at_us // 1_000_000, "model": "ranker", "model_version": 1,
            "received_at_us": at_us, **link}


def _raw(workdir):
    return duckdb.execute("select * from read_parquet(?) order by source_row",
                          [str(workdir / "raw" / "events.parquet")]).fetchall()


def test_land_events_appends_served_parts_as_a_new_raw_version(tmp_path, catalog):
    client, http = catalog
    generate(tmp_path, SyntheticConfig(events=2_000, seed=3))
    before = _raw(tmp_path)
    item = int(before[0][2])
    category = next(r[3] for r in before if r[2] == str(item) and r[3] is not None)
    data = tmp_path / "serving"
    write_part(event_rows([_event(7, item, "pv", 1_800_000_000_000_000)]),
               data / "events" / "part-1.parquet")
    write_part(event_rows([_event(8, item, "buy", 1_800_000_001_000_000, request_id="a" * 32,
                                  rank=3, feedback="buy")]),
               data / "events" / "part-2.parquet")

    result = land_and_report(tmp_path, data, client)
    assert (result["parts"], result["rows"]) == (2, 2)
    after = _raw(tmp_path)
    assert after[:len(before)] == before
    next_row = max(r[0] for r in before) + 1
    assert after[len(before):] == [
        (next_row, "7", str(item), category, "pv", "1800000000"),
        (next_row + 1, "8", str(item), category, "buy", "1800000001")]
    assert pending_parts(data) == [] and len(list((data / "events" / "landed").iterdir())) == 2
    # Nothing left: a second landing is a no-op.
    assert land_and_report(tmp_path, data, client)["parts"] == 0
    assert _raw(tmp_path) == after

    run = http.get(f"/api/v1/jobs/runs/{result['run_id']}").get_json()
    reads = sorted(i["datasetVersionId"]["name"] for i in run["inputDatasetVersions"])
    assert reads == ["raw_events", "served_events"]
    raw = http.get("/api/v1/namespaces/recsys/datasets/raw_events").get_json()
    assert raw["rowCount"] == len(after)


@pytest.mark.slow  # ~60 s: two pipeline runs, a training, a serving process
def test_a_purchase_served_online_reaches_the_next_pipeline_run(tmp_path, sqlite_url, runner):
    from catalog.db import make_engine
    from tests.dbutil import wipe
    from tests.live_server import live_server

    engine = make_engine(sqlite_url, immediate=False)
    wipe(engine)
    engine.dispose()
    work = tmp_path / "work"
    with live_server(sqlite_url, tmp_path) as url:
        client = CatalogClient(url)
        land_and_run(work, "synthetic", reporter=Reporter(client), events=4_000, seed=5)
        version = train_version(work, client, "v1")
        client.put("api/v1/models/ranker/aliases/live", {"version": version["version"]})
        con = duckdb.connect(str(work / "features.duckdb"), read_only=True)
        (user,) = con.execute("select min(user_id) from interactions_split").fetchone()
        con.close()

        serving = Serving(url, work, tmp_path, model="ranker@live")
        serving.start()
        try:
            body = serving.get("/recommendations", user=user, k=5).json()
            assert body["strategy"] == "personalised"
            bought = body["items"][0]
            r = serving.post("/feedback", {"requestId": body["requestId"], "item": bought,
                                           "type": "buy"})
            assert r.status_code == 201
        finally:
            assert serving.stop(signal.SIGTERM) == 0
            serving.close()

        r = runner.invoke(main, ["ranker", "land-events", "--workdir", str(work), "--data-dir",
                                 str(serving.data_dir), "--catalog-url", url, "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["rows"] == 1
        land_and_run(work, "synthetic", reporter=Reporter(client), land=False)

        con = duckdb.connect(str(work / "features.duckdb"), read_only=True)
        rows = con.execute("select behavior from interactions_split where user_id = ? and "
                           "item_id = ?", [user, bought]).fetchall()
        con.close()
        assert rows == [("buy",)]

        # The features now descend from the purchase, and it from the list and the model.
        trace = client.get("trace/datasets/recsys/interactions_split", format="json")
        names = {(v["namespace"], v["dataset"]) for v in trace["versions"]}
        assert {("recsys", "served_events"), ("recsys", "impressions"),
                ("models", "ranker"), ("recsys", "raw_events")} <= names
        client.close()
