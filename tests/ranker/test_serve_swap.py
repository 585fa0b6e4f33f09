"""Hot swap: the alias moves while clients are being served.

No request fails, and the version answering changes at one point in time: ordered by when the
process handed out versions, the old version's lists form a prefix; and no request sent after a
client saw the new version gets the old one. A version whose artifact fails its sha256 is not
swapped to.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass

from tests.ranker.serve_util import Serving, parquet_rows, train_version, wait_for


@dataclass
class Answer:
    sent: float
    received: float
    status: int | None  # None: no answer
    version: int | None = None
    served_at: int | None = None


def _hammer(url: str, answers: list, stop: threading.Event, seed: int) -> None:
    import requests

    rng = random.Random(seed)
    with requests.Session() as s:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                r = s.get(url + "/recommendations", timeout=30,
                          params={"user": rng.randrange(500, 560), "k": 5})
            except requests.RequestException:
                answers.append(Answer(sent, time.monotonic(), None))
                continue
            body = r.json() if r.status_code == 200 else {}
            answers.append(Answer(sent, time.monotonic(), r.status_code,
                                  body.get("model", {}).get("version"), body.get("servedAt")))


def test_alias_move_swaps_without_dropping_a_request(serve_stack, tmp_path):
    url, client, work, v1 = serve_stack
    # An alias without production's promotion gate: the tiny versions' metrics are noise.
    client.put("api/v1/models/ranker/aliases/live", {"version": v1["version"]})
    serving = Serving(url, work, tmp_path, model="ranker@live", **{"poll-seconds": 0.2})
    serving.start()
    answers: list[Answer] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_hammer, args=(serving.url, answers, stop, seed))
               for seed in range(4)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: len(answers) >= 20, "answers from the first version")
        v2 = train_version(work, client, "v2", seed=3)
        client.put("api/v1/models/ranker/aliases/live", {"version": v2["version"]})
        wait_for(lambda: sum(a.version == v2["version"] for a in answers) >= 30,
                 "answers from the promoted version")
        stop.set()
        for t in threads:
            t.join(timeout=60)

        assert [a for a in answers if a.status != 200] == []  # zero errors during the swap
        versions = [a.version for a in sorted(answers, key=lambda a: a.served_at)]
        n_old = versions.count(v1["version"])
        assert 0 < n_old < len(versions)
        assert versions == [v1["version"]] * n_old + [v2["version"]] * (len(versions) - n_old)
        first_new = min(a.received for a in answers if a.version == v2["version"])
        assert {a.version for a in answers if a.sent > first_new} == {v2["version"]}
        assert serving.get("/healthz").json()["counts"]["swaps"] == 1

        # A version whose artifact changed after registration is not swapped to.
        v3 = train_version(work, client, "v3", seed=5)
        with open(v3["artifactPath"], "ab") as fh:
            fh.write(b"\0")
        client.put("api/v1/models/ranker/aliases/live", {"version": v3["version"]})
        wait_for(lambda: serving.get("/healthz").json()["counts"]["swap_failures"] == 1,
                 "the tampered version to be refused")
        r = serving.get("/recommendations", user=500, k=3)
        assert r.status_code == 200 and r.json()["model"]["version"] == v2["version"]
        run_id = serving.get("/healthz").json()["runId"]
    finally:
        stop.set()
        rc = serving.stop(signal.SIGTERM)
        serving.close()
    assert rc == 0, serving.log.read_text()

    # The impressions agree: one version per list, the old ones first in serving order.
    rows = parquet_rows(serving.data_dir / "impressions",
                        "select distinct request_id, model_version, served_at from t "
                        "order by served_at")
    assert len(rows) == len(answers) + 1
    stored = [mv for _, mv, _ in rows]
    assert stored == [v1["version"]] * n_old + [v2["version"]] * (len(stored) - n_old)
    # Each micro-batch's lineage names the one model version its lists came from.
    by_version = {v["version"]: v["datasetVersion"]["version"] for v in (v1, v2)}
    versions = client.get("api/v1/namespaces/recsys/datasets/impressions/versions",
                          limit=100)["versions"]
    batches = [v for v in versions if v["createdByRun"]["parentRunId"] == run_id]
    assert {b["createdByRun"]["facets"]["microBatch"]["model_version"] for b in batches} == {
        v1["version"], v2["version"]}
    for b in batches:
        run = client.get(f"api/v1/jobs/runs/{b['createdByRun']['id']}")
        served_by = run["facets"]["microBatch"]["model_version"]
        model_in = [i["datasetVersionId"]["version"] for i in run["inputDatasetVersions"]
                    if i["datasetVersionId"]["name"] == "ranker"]
        assert model_in == [by_version[served_by]]
