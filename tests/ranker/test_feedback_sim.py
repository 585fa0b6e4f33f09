"""Simulated feedback: appended as a new raw version, deterministic, position-biased."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.sources.synthetic import SyntheticConfig, generate
from ranker.feedback import simulate


@pytest.fixture
def workdir(tmp_path) -> Path:
    generate(tmp_path, SyntheticConfig(events=3_000, seed=3))
    con = duckdb.connect()
    # Every user sees items 1..20, ranked 1..20.
    con.execute(f"""
        copy (select u.user_id, i.item_id, i.item_id as rank, 1.0 / i.item_id as score
              from (select distinct try_cast(user_id as BIGINT) as user_id
                    from read_parquet('{tmp_path}/raw/events.parquet')
                    where try_cast(user_id as BIGINT) is not null) u,
                   (select i as item_id from range(1, 21) t(i)) i)
        to '{tmp_path}/recs.parquet' (format parquet)""")
    con.close()
    return tmp_path


def _rows(path: Path):
    return duckdb.sql(f"select * from read_parquet('{path}') order by source_row").fetchall()


def test_feedback_appends_a_new_version_and_keeps_the_old_rows(workdir):
    before = _rows(workdir / "raw" / "events.parquet")
    counts = simulate(workdir, workdir / "recs.parquet")
    after = _rows(workdir / "raw" / "events.parquet")
    assert after[: len(before)] == before
    added = after[len(before):]
    assert len(added) == counts["pv"] + counts["cart"] + counts["buy"]
    assert counts["pv"] > counts["cart"] > counts["buy"] > 0
    assert [r[0] for r in added] == list(range(len(before), len(after)))
    latest = max(int(r[5]) for r in before if r[5] and r[5].isdigit() and int(r[5]) < 4e9)
    assert min(int(r[5]) for r in added) > latest


def test_feedback_is_deterministic(workdir, tmp_path_factory):
    other = tmp_path_factory.mktemp("again")
    (other / "raw").mkdir()
    for name in ("events.parquet", "items.parquet"):
        (other / "raw" / name).write_bytes((workdir / "raw" / name).read_bytes())
    simulate(workdir, workdir / "recs.parquet")
    simulate(other, workdir / "recs.parquet")
    assert _rows(workdir / "raw" / "events.parquet") == _rows(other / "raw" / "events.parquet")


def test_clicks_fall_with_rank(workdir):
    n_before = len(_rows(workdir / "raw" / "events.parquet"))
    simulate(workdir, workdir / "recs.parquet")
    by_item = dict(duckdb.sql(
        f"select item_id::BIGINT, count(*) from read_parquet('{workdir}/raw/events.parquet') "
        f"where source_row >= {n_before} and behavior = 'pv' group by 1").fetchall())
    top = sum(by_item.get(i, 0) for i in range(1, 6))
    bottom = sum(by_item.get(i, 0) for i in range(16, 21))
    assert top > 2 * bottom


def test_missing_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no raw events"):
        simulate(tmp_path, tmp_path / "recs.parquet")


def test_feedback_is_reported_and_the_next_pipeline_run_consumes_it(workdir, catalog):
    from pipelines.report import Reporter
    from pipelines.service import land_and_run
    from ranker.feedback import simulate_and_report

    client, http = catalog
    first = land_and_run(workdir, "synthetic", reporter=Reporter(client), events=3_000, seed=3)
    result = simulate_and_report(workdir, workdir / "recs.parquet", client)
    second = land_and_run(workdir, "synthetic", reporter=Reporter(client), land=False)
    rows = {s.output: s.rows for s in second.steps}
    assert rows["events_checked"] == result["raw_events_rows"]
    assert rows["events_clean"] > {s.output: s.rows for s in first.steps}["events_clean"]
    raw = http.get("/api/v1/namespaces/recsys/datasets/raw_events/versions").get_json()
    assert [v["versionNumber"] for v in raw["versions"]] == [2, 1]
    assert raw["versions"][0]["createdByRun"]["id"] == result["run_id"]
    step = http.get("/api/v1/namespaces/recsys-pipelines/jobs/"
                    "feature_pipeline.events_checked").get_json()["latestRun"]
    run = http.get(f"/api/v1/jobs/runs/{step['id']}").get_json()
    read = {i["datasetVersionId"]["name"]: i["datasetVersionId"]["version"]
            for i in run["inputDatasetVersions"]}
    assert read["raw_events"] == raw["versions"][0]["version"]
    # The loop raw -> ... -> recommendations -> feedback -> raw is a cycle; queries still end.
    down = http.get("/api/v1/lineage/downstream?nodeId=dataset:recsys:recommendations"
                    "&depth=50").get_json()
    names = {n["name"] for n in down["nodes"]}
    assert {"simulate_feedback", "raw_events", "events_clean", "user_features"} <= names
