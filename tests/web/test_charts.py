"""Server-drawn charts: one point per value, escaped text, a table beside each; and where the
pages draw them (dataset rows and quality per version, model metrics and scoring runs, data
health per day)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from catalog.web import charts
from tests.factories import T0, ds, facet, run_event, schema


def _points(html: str, chart_id: str) -> list[tuple[str, str, str]]:
    """(series, x, title) of every point of the chart ``chart_id`` on the page."""
    m = re.search(rf'<svg class="chart" id="{chart_id}".*?</svg>', html, re.S)
    assert m, f"no chart {chart_id}"
    return re.findall(r'<circle class="pt s\d" cx="[\d.]+" cy="[\d.]+" r="3.5" '
                      r'data-series="([^"]*)" data-x="([^"]*)"><title>([^<]*)</title>', m[0])


def test_a_point_per_value_gaps_left_out_and_y_scaled_between_bounds():
    chart = charts.Chart("Rows", ["v1", "v2", "v3", "v4"],
                         [charts.Series("rows", [10.0, None, 30.0, 20.0])], fmt=charts.count,
                         y_min=0)
    html = str(charts.chart_block(chart, "c", "Version"))
    pts = _points(html, "c")
    assert [(s, x) for s, x, _ in pts] == [("rows", "v1"), ("rows", "v3"), ("rows", "v4")]
    assert [t for _, _, t in pts] == ["rows, v1: 10", "rows, v3: 30", "rows, v4: 20"]
    ys = [float(y) for y in re.findall(r'class="pt s0" cx="[\d.]+" cy="([\d.]+)"', html)]
    top, bottom = charts.TOP, charts.HEIGHT - charts.BOTTOM
    # 0..30: 30 at the top, 10 a third of the way up, 20 two thirds.
    assert ys[1] == top and abs(ys[0] - (bottom - (bottom - top) / 3)) < 0.1
    assert abs(ys[2] - (bottom - 2 * (bottom - top) / 3)) < 0.1
    # The gap breaks the line: v1 alone, then v3-v4.
    assert len(re.findall(r"<polyline", html)) == 1
    # The table beside it: a row per label, empty where there is no value.
    assert re.findall(r'<tr><th scope="row">(v\d)</th><td class="num">([^<]*)</td>', html) == [
        ("v1", "10"), ("v2", ""), ("v3", "30"), ("v4", "20")]


def test_text_from_producers_is_escaped_and_an_empty_chart_draws_nothing():
    evil = '<script>alert("x")</script>'
    chart = charts.Chart(evil, [evil], [charts.Series(evil, [1.0])])
    html = str(charts.chart_block(chart, "c", evil))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert str(charts.chart_block(charts.Chart("t", ["a"], [charts.Series("s", [None])]),
                                  "c", "x")) == ""


def _complete(rows: int, checks: list[bool] | None, minutes: int, cols=("a",)) -> dict:
    out = ds("orders", schema=schema(*cols))
    out["outputFacets"] = {"outputStatistics": facet("OutputStatisticsOutputDatasetFacet",
                                                     rowCount=rows)}
    if checks is not None:
        out["facets"]["dataQualityAssertions"] = facet(
            "DataQualityAssertionsDatasetFacet",
            assertions=[{"assertion": f"c{i}", "success": ok} for i, ok in enumerate(checks)])
    return run_event("COMPLETE", "load", run_id=str(uuid.uuid4()), outputs=[out],
                     minutes=minutes)


def test_dataset_page_charts_rows_and_quality_per_version(client):
    for i, (rows, checks) in enumerate([(100, [True, True]), (250, [True, False]),
                                        (400, None), (380, [False, False, True, True])]):
        r = client.post("/api/v1/lineage", json=_complete(rows, checks, i, cols=("a", f"c{i}")))
        assert r.status_code == 201, r.get_json()
    html = client.get("/datasets/shop/orders").get_data(as_text=True)
    assert [(x, t) for _, x, t in _points(html, "chart-rows")] == [
        ("v1", "rows, v1: 100"), ("v2", "rows, v2: 250"), ("v3", "rows, v3: 400"),
        ("v4", "rows, v4: 380")]
    # Checked versions only, each the share of its latest check that passed.
    assert [t for _, _, t in _points(html, "chart-quality")] == [
        "passed, v1: 100.0%", "passed, v2: 50.0%", "passed, v4: 50.0%"]


def test_model_page_puts_key_metrics_first_and_charts_versions_and_scoring(client):
    for hr, ndcg in [(0.20, 0.10), (0.25, 0.13), (0.30, 0.17)]:
        r = client.post("/api/v1/models/ranker/versions", json={"metrics": {
            "test.hr@10": hr, "test.ndcg@10": ndcg, "popularity.test.hr@10": 0.05,
            "popularity.test.ndcg@10": 0.02, "valid.ndcg@10": ndcg + 0.01,
            "valid.mrr": 0.3}})
        assert r.status_code == 201, r.get_json()
    html = client.get("/models/ranker").get_data(as_text=True)
    key = html.split('<table class="metrics key-metrics">', 1)[1].split("</thead>", 1)[0]
    assert re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', key) == [
        "Version", "Aliases", "test.hr@10", "popularity test.hr@10", "test.ndcg@10",
        "popularity test.ndcg@10", "Created", "Derived from", "Trace"]
    # The rest of the metrics are folded away.
    assert re.search(r'<details class="all-metrics"><summary>All 6 metrics', html)
    pts = _points(html, "chart-metrics")
    assert [(s, x) for s, x, _ in pts if s == "test.ndcg@10"] == [
        ("test.ndcg@10", "v1"), ("test.ndcg@10", "v2"), ("test.ndcg@10", "v3")]
    assert {s for s, _, _ in pts} == {"test.ndcg@10", "test.hr@10", "valid.ndcg@10",
                                      "popularity.test.ndcg@10"}
    assert "chart-scoring-speed" not in html  # no scoring runs yet: no empty chart


def test_health_page_charts_checks_and_runs_per_day(client):
    # Runs that ended yesterday at noon (the trend covers the last 30 days by the producers'
    # clock), all on one day.
    noon = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0,
                                                            microsecond=0)
    ago = int((noon - T0).total_seconds() // 60)
    for i, checks in enumerate([[True, True, True, False], [True]]):
        r = client.post("/api/v1/lineage", json=_complete(10, checks, ago + i))
        assert r.status_code == 201
    r = client.post("/api/v1/lineage", json=run_event("FAIL", "load", run_id=str(uuid.uuid4()),
                                                       minutes=ago + 5))
    assert r.status_code == 201
    # A run of January is out of the window.
    assert client.post("/api/v1/lineage", json=_complete(10, [False], 0)).status_code == 201
    html = client.get("/health").get_data(as_text=True)
    checks = _points(html, "chart-health-checks")
    assert len(checks) == 1 and checks[0][2].endswith(": 80.0%")  # 4 of 5 expectations, today
    runs = {s: t for s, _, t in _points(html, "chart-health-runs")}
    assert runs["completed"].endswith(": 2") and runs["failed"].endswith(": 1")
