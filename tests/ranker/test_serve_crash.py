"""The serving process stopped mid-batch under load: nothing it acknowledged is lost.

Clients request lists and post feedback until the process dies under them. SIGTERM: the process
finishes its in-flight requests, flushes its journal and exits; every acknowledged list is in
Parquet at once. SIGKILL (master and worker at once, as the catalog's crash tests do): the
acknowledged lists are only in the fsynced journal; the next process flushes the dead one's
segments and closes its run as ABORT. Either way each acknowledged list lands exactly once.
"""

from __future__ import annotations

import random
import signal
import threading
from collections import Counter

import pytest
import requests

from tests.ranker.serve_util import Serving, parquet_rows, run_events, wait_for

USERS = list(range(500, 560)) + [9_000_001, 9_000_002]  # the cyclic users, two unknown


class Clients:
    """Threads requesting lists and posting feedback until the server goes away."""

    def __init__(self, url: str):
        self.url = url
        self.lock = threading.Lock()
        self.acked: dict[str, tuple[int, list[int]]] = {}  # request id -> user, items
        self.feedback: list[tuple[str, int]] = []  # acknowledged (request id, item)
        self.in_doubt = 0  # sent, no answer: the server died under them
        self.failures: list[str] = []

    def run(self, seed: int) -> None:
        rng = random.Random(seed)
        with requests.Session() as s:
            while True:
                try:
                    r = s.get(self.url + "/recommendations", timeout=30,
                              params={"user": rng.choice(USERS), "k": rng.randint(1, 8)})
                except requests.RequestException:
                    with self.lock:
                        self.in_doubt += 1
                    return
                if r.status_code != 200:
                    with self.lock:
                        self.failures.append(f"{r.status_code} {r.text[:200]}")
                    return
                body = r.json()
                with self.lock:
                    self.acked[body["requestId"]] = (body["user"], body["items"])
                if body["items"] and rng.random() < 0.3:
                    item = rng.choice(body["items"])
                    try:
                        r = s.post(self.url + "/feedback", timeout=30, json={
                            "requestId": body["requestId"], "item": item,
                            "type": rng.choice(["click", "cart", "fav", "buy"])})
                    except requests.RequestException:
                        with self.lock:
                            self.in_doubt += 1
                        return
                    if r.status_code != 201:
                        with self.lock:
                            self.failures.append(f"{r.status_code} {r.text[:200]}")
                        return
                    with self.lock:
                        self.feedback.append((body["requestId"], item))


def _lists(serving: Serving) -> dict[str, tuple[int, list[int]]]:
    rows = parquet_rows(serving.data_dir / "impressions",
                        "select request_id, user_id, item_id, rank from t "
                        "order by request_id, rank")
    out: dict[str, tuple[int, list[int]]] = {}
    for rid, user, item, rank in rows:
        user_, items = out.setdefault(rid, (user, []))
        assert rank == len(items) + 1, rid  # each list once, ranks 1..k
        items.append(item)
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopped_mid_batch_under_load_loses_nothing_acknowledged(serve_stack, tmp_path, sig):
    url, client, work, _ = serve_stack
    serving = Serving(url, work, tmp_path, **{"flush-seconds": 600, "flush-rows": 1_000_000})
    serving.start()
    first_run = serving.get("/healthz").json()["runId"]
    clients = Clients(serving.url)
    threads = [threading.Thread(target=clients.run, args=(seed,)) for seed in range(4)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: len(clients.acked) >= 40 and len(clients.feedback) >= 5,
                 "some acknowledged lists and feedback")
        # Mid-batch: nothing is flushed yet, clients are still sending.
        assert parquet_rows(serving.data_dir / "impressions") == []
        rc = serving.stop(sig)
        for t in threads:
            t.join(timeout=60)
        assert clients.failures == []
        assert len(clients.acked) >= 40

        journal = serving.data_dir / "journal"
        if sig == signal.SIGTERM:
            assert rc == 0, serving.log.read_text()
            assert list(journal.iterdir()) == []  # flushed, lock released
        else:
            assert rc == -signal.SIGKILL
            assert parquet_rows(serving.data_dir / "impressions") == []
            assert list(journal.glob("*.jsonl")) and list(journal.glob("*.lock"))
            serving.start()  # a new process finds the dead one's journal and flushes it
            wait_for(lambda: not list(journal.glob("*.jsonl")),
                     "the dead process's journal to be flushed")

        served = _lists(serving)
        for rid, (user, items) in clients.acked.items():
            assert served.get(rid) == (user, items), rid
        # Anything else was sent when the process died: in doubt, at most one per client.
        assert len(set(served) - set(clients.acked)) <= clients.in_doubt <= len(threads)
        events = Counter(parquet_rows(serving.data_dir / "events",
                                      "select request_id, cast(item_id as BIGINT) from t"))
        assert events >= Counter(clients.feedback)
        assert events.total() - len(clients.feedback) <= clients.in_doubt

        # The catalog holds a version per flushed segment, parented to the run that served it.
        first = run_events(client, first_run)
        if sig == signal.SIGTERM:
            assert first[-1]["eventType"] == "COMPLETE"
        else:
            assert first[-1]["eventType"] == "ABORT"
            message = first[-1]["run"]["facets"]["errorMessage"]["message"]
            assert message.startswith("serving process ") and "ended without shutting down" in (
                message)
            assert serving.stop() == 0
            assert list(journal.iterdir()) == []
        versions = client.get("api/v1/namespaces/recsys/datasets/impressions/versions",
                              limit=100)["versions"]
        mine = [v for v in versions if v["createdByRun"]["parentRunId"] == first_run]
        # A version is the folder after a batch: the last one holds every row.
        last = max(mine, key=lambda v: v["versionNumber"])
        assert last["rowCount"] == sum(len(i) for _, i in served.values())
    finally:
        serving.close()
