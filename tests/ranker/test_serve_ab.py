"""Two versions side by side: users split by a hash of their id, a report per version."""

from __future__ import annotations

import json
import signal

from ranker.serve.follow import arm_of
from recocatalog.cli import main
from tests.ranker.serve_util import Serving, parquet_rows, train_version

USERS = range(500, 560)


def test_challenger_serves_its_share_and_the_report_counts_each_version(serve_stack, tmp_path,
                                                                       runner):
    url, client, work, v1 = serve_stack
    v2 = train_version(work, client, "candidate", seed=11)
    client.put("api/v1/models/ranker/aliases/candidate", {"version": v2["version"]})
    serving = Serving(url, work, tmp_path, **{"challenger": "ranker@candidate",
                                              "challenger-share": 0.5})
    serving.start()
    expected = {"champion": v1["version"], "challenger": v2["version"]}
    lists = {}
    try:
        assert serving.get("/healthz").json()["challenger"]["version"] == v2["version"]
        for user in USERS:
            for _ in range(2):  # the same user sees the same arm every time
                body = serving.get("/recommendations", user=user, k=4).json()
                arm = arm_of(user, 0.5)
                assert (body["arm"], body["model"]["version"]) == (arm, expected[arm]), user
                lists[body["requestId"]] = (arm, body["items"])
        arms = [arm for arm, _ in lists.values()]
        assert 0 < arms.count("challenger") < len(arms)  # both arms got users
        # Feedback: the champion's lists get a click on their first item; every other
        # challenger list a purchase (posted twice: counted once) on its second.
        clicks = buys = 0
        for n, (rid, (arm, items)) in enumerate(lists.items()):
            if arm == "champion":
                posts = [(items[0], "click")]
                clicks += 1
            elif n % 2:
                posts = [(items[1], "buy"), (items[1], "buy")]
                buys += 1
            else:
                posts = []
            for item, kind in posts:
                r = serving.post("/feedback", {"requestId": rid, "item": item, "type": kind})
                assert r.status_code == 201, r.text
        counts = serving.get("/healthz").json()["counts"]
        assert (counts["champion"], counts["challenger"]) == (arms.count("champion"),
                                                              arms.count("challenger"))
    finally:
        assert serving.stop(signal.SIGTERM) == 0, serving.log.read_text()
        serving.close()

    tagged = parquet_rows(serving.data_dir / "impressions",
                          "select distinct request_id, arm, model_version from t")
    assert {rid: (arm, mv) for rid, arm, mv in tagged} == {
        rid: (arm, expected[arm]) for rid, (arm, _) in lists.items()}

    r = runner.invoke(main, ["ranker", "serve-report", "--data-dir", str(serving.data_dir),
                             "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["arm"]: row for row in json.loads(r.stdout)["versions"]}
    assert set(rows) == {"champion", "challenger"}
    n_champion, n_challenger = arms.count("champion"), arms.count("challenger")
    champion, challenger = rows["champion"], rows["challenger"]
    assert (champion["model_version"], champion["strategy"]) == (v1["version"], "personalised")
    assert (champion["lists"], champion["items_shown"]) == (n_champion, 4 * n_champion)
    assert (champion["clicks"], champion["purchases"]) == (clicks, 0)
    assert champion["ctr"] == clicks / (4 * n_champion)
    assert challenger["model_version"] == v2["version"]
    assert (challenger["lists"], challenger["clicks"], challenger["purchases"]) == (
        n_challenger, buys, buys)
    assert challenger["purchase_rate"] == buys / (4 * n_challenger)
    assert challenger["lists_with_purchase"] == buys / n_challenger
