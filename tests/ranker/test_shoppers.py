"""The demo's simulated shoppers, and ``catalog demo`` (what ``make run`` runs) end to end.

The quick tests pin the shoppers' response model; the slow one runs the demo command as a user
would, waits for its last line, and checks that the loop went through the serving process: the
lists were served and answered over HTTP, the answers landed as raw events, and the features the
second pipeline run built trace back through them to the model.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from catalog import db as catalog_db
from ranker.feedback import FeedbackConfig
from ranker.registry import JOB_NAMESPACE
from ranker.serve.shoppers import answers, uniform
from tests.live_server import free_port
from tests.ranker.serve_util import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_uniform_is_reproducible_and_spread():
    draws = [uniform(11, u, 7, "click") for u in range(20_000)]
    assert draws == [uniform(11, u, 7, "click") for u in range(20_000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert abs(sum(draws) / len(draws) - 0.5) < 0.01
    assert sum(d < 0.1 for d in draws) / len(draws) == pytest.approx(0.1, abs=0.01)
    assert uniform(11, 1, 7, "click") != uniform(12, 1, 7, "click")


def test_answers_follow_position_and_taste():
    items = list(range(100, 110))
    cfg = FeedbackConfig()
    users = range(20_000)
    clicks_by_rank = [0] * len(items)
    for user in users:
        for item, kind in answers(user, items, {}, {}, cfg):
            if kind == "click":
                clicks_by_rank[items.index(item)] += 1
    # P(click at rank r) = 0.30 * 0.85^(r-1), each draw independent.
    for rank, clicks in enumerate(clicks_by_rank, start=1):
        assert clicks / len(users) == pytest.approx(0.30 * 0.85 ** (rank - 1), abs=0.012)

    # The favourite category doubles the chance; carts and purchases only follow a click.
    favourite = {u: 1 for u in users}
    category = {100: 1}
    liked = sum(any(i == 100 and k == "click" for i, k in answers(u, items, favourite, category,
                                                                  cfg)) for u in users)
    assert liked / len(users) == pytest.approx(0.60, abs=0.015)
    for user in range(2000):
        seen = []
        for item, kind in answers(user, items, favourite, category, cfg):
            assert kind != "cart" or (item, "click") in seen
            assert kind != "buy" or (item, "cart") in seen
            seen.append((item, kind))

    assert answers(5, items, {}, {}, replace(cfg, p_click_top=0.0)) == []
    everyone = answers(5, items, {}, {}, replace(cfg, p_click_top=1.0, rank_decay=1.0))
    assert [i for i, k in everyone if k == "click"] == items


@pytest.mark.slow  # ~2-3 min: two pipeline runs, a training, scoring, two serving processes
def test_the_demo_serves_online_and_its_shoppers_feedback_reaches_the_features(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    catalog_db.upgrade(url)
    port, serve_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "recocatalog.cli", "demo", "--port", str(port),
             "--serve-port", str(serve_port), "--events", "6000", "--shoppers", "100",
             "--workdir", str(tmp_path / "demo"), "--database-url", url],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
            env={k: v for k, v in os.environ.items() if k != "CATALOG_TOKEN"})
    try:
        wait_for(lambda: "recommendations at http" in log.read_text()
                 or demo.poll() is not None, "the demo's last line", timeout=600, every=0.5)
        text = log.read_text()
        assert demo.poll() is None, text[-3000:]
        token = re.search(r"API token \(admin\): (\S+)", text).group(1)
        lists = re.search(r"([\d,]+) lists \((\d+) popularity lists for new users\); (\d+) "
                          r"clicks, (\d+) carts, (\d+) purchases -> (\d+) served events", text)
        assert lists, text[-3000:]
        n_lists, n_popular, clicks, carts, buys, landed = (
            int(g.replace(",", "")) for g in lists.groups())
        assert (n_lists, n_popular) == (102, 2)  # 100 known users (of 150) and 100 // 50 new
        assert clicks > 0 and landed == clicks + carts + buys

        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        base = f"http://127.0.0.1:{port}/api/v1"
        # The serving process is a job with runs: the demo's (COMPLETE) and the one left up.
        runs = api.get(f"{base}/namespaces/{JOB_NAMESPACE}/jobs/serve_ranker/runs").json()["runs"]
        assert sorted(r["state"] for r in runs) == ["COMPLETED", "RUNNING"]  # Marquez's names
        # The features the second pipeline run built descend from the served lists' feedback.
        trace = api.get(f"http://127.0.0.1:{port}/trace/datasets/recsys/interactions_split",
                        params={"format": "json"}).json()
        names = {(v["namespace"], v["dataset"]) for v in trace["versions"]}
        assert {("recsys", "served_events"), ("recsys", "impressions"), ("models", "ranker"),
                ("recsys", "raw_events")} <= names

        # A believable catalog: owners, PII tags, a refused promotion, a second version in
        # production, and the empty export's failed check on the health page.
        raw = api.get(f"{base}/namespaces/recsys/datasets/raw_events").json()
        assert {o["name"] for o in raw["owners"]} == {"data-platform"}
        classes = api.get(f"{base}/namespaces/recsys/datasets/interactions_split/"
                          "classifications").json()
        (user_id,) = [c for c in classes["columns"] if c["field"] == "user_id"]
        assert "pii.user_id" in user_id["tags"]
        audit = api.get(f"{base}/audit", params={"entityType": "model", "entityKey": "ranker",
                                                 "limit": 100}).json()["entries"]
        actions = [e["action"] for e in audit]
        assert "model.promote_refused" in actions
        version = api.get(f"{base}/models/ranker/versions/production").json()
        assert version["version"] == 2
        assert "pii.user_id" in text and "refused" in text
        # The model page charts both versions and the scoring run.
        page = api.get(f"http://127.0.0.1:{port}/models/ranker").text
        for chart, points in (("chart-metrics", 2 * 4), ("chart-scoring-speed", 1),
                              ("chart-scoring-wall", 1)):
            svg = page.split(f'id="{chart}"', 1)[1].split("</svg>", 1)[0]
            assert svg.count('<circle class="pt s') == points, chart
        health = api.get(f"http://127.0.0.1:{port}/health").text
        failing = health.split('id="fail-h"', 1)[1].split("</section>", 1)[0]
        assert "Failing checks (1)" in failing and "events_clean" in failing

        # The serving process left up answers a user the way the shoppers were answered.
        r = requests.get(f"http://127.0.0.1:{serve_port}/recommendations",
                         params={"user": 1, "k": 5}, timeout=30)
        assert r.status_code == 200 and len(r.json()["items"]) == 5
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGINT)
        code = demo.wait(timeout=120)
    assert code == 0, log.read_text()[-3000:]
