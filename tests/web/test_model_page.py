"""The model page: the seed article's metrics side by side, ordered by cut-off."""

from __future__ import annotations

import re


def _text(r) -> str:
    return r.get_data(as_text=True)


def _headers(html: str) -> list[str]:
    table = html.split('<table class="metrics">', 1)[1].split("</thead>", 1)[0]
    return re.findall(r'<th scope="col">([^<]*)</th>', table)


def test_metric_columns_in_cutoff_order_with_precision_recall_f1(client):
    metrics = {f"valid.{m}@{k}": 0.01 * k for m in ("precision", "recall", "f1", "hr", "ndcg")
               for k in (20, 5, 10)}
    metrics["valid.mrr"] = 0.25
    r = client.post("/api/v1/models/ranker/versions", json={"metrics": metrics})
    assert r.status_code == 201, r.get_json()
    html = _text(client.get("/models/ranker"))
    cols = [h for h in _headers(html) if h.startswith("valid.")]
    at_k = [f"valid.{m}@{k}" for m in ("f1", "hr") for k in (5, 10, 20)]
    assert cols == at_k + ["valid.mrr"] + [
        f"valid.{m}@{k}" for m in ("ndcg", "precision", "recall") for k in (5, 10, 20)]
    # The version's row holds each value under its own column (in the table of all metrics).
    full = html.split('<table class="metrics">', 1)[1]
    row = full.split('<th scope="row">v1</th>', 1)[1].split("</tr>", 1)[0]
    values = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert values == [f"{metrics[c]:.4f}" for c in cols]


def test_derived_version_shows_its_source_and_what_it_measured(client):
    from tests.factories import complete_run, ds, facet

    source_sha = "ab" * 32
    train_run = complete_run(client, "train", inputs=[ds("features")])
    assert client.post("/api/v1/models/ranker/versions", json={
        "runId": train_run, "sha256": source_sha,
        "metrics": {"valid.ndcg@10": 0.2}}).status_code == 201
    run = complete_run(client, "compress_ranker", minutes=5, inputs=[ds(
        "ranker", ns="models",
        version=facet("DatasetVersionDatasetFacet", datasetVersion=source_sha))])
    r = client.post("/api/v1/models/ranker/versions", json={
        "runId": run, "metrics": {"valid.ndcg@10": 0.19}, "derivedFrom": {
            "version": 1, "method": "prune", "amount": 0.5, "speedDevice": "cpu",
            "sparsity": 0.30000000000000004,
            "fileBytes": {"source": 2_000_000, "derived": 600_000},
            "usersPerSecond": {"source": 1500.25, "derived": 1800.5},
            "validation": {"ndcg@10": {"source": 0.2, "derived": 0.19},
                           "hr@5": {"source": 0.3, "derived": 0.3}}}})
    assert r.status_code == 201, r.get_json()
    html = _text(client.get("/models/ranker"))
    row = html.split('<th scope="row">v2</th>', 1)[1].split("</tr>", 1)[0]
    assert '<a href="#derived-v2">v1 · prune</a>' in row
    section = html.split('id="derived-v2"', 1)[1].split("</table>", 1)[0]
    assert "v2: prune of v1" in section
    assert "<dt>amount</dt><dd>0.5</dd>" in section
    assert "<dt>speedDevice</dt><dd>cpu</dd>" in section
    assert "<dt>sparsity</dt><dd>0.3</dd>" in section
    # It learned nothing itself: it shows what v1 learned from, and its making is no scoring.
    assert "<summary>v2 (prune of v1) learned through v1 from 1 dataset version</summary>" in html
    training = html.split("<summary>v2 (prune", 1)[1].split("</ul>", 1)[0]
    assert ">shop/features</a>" in training and "models/ranker" not in training
    assert html.split('id="score-h"', 1)[1].split("</ul>", 1)[0].endswith("<em>none</em></li>")
    rows = re.findall(r'<tr><th scope="row">([^<]*)</th>\s*((?:<td class="num">[^<]*</td>)+)',
                      section)
    cells = {label: re.findall(r'<td class="num">([^<]*)</td>', tds) for label, tds in rows}
    assert cells == {
        "fileBytes": ["2,000,000", "600,000", "-1,400,000", "-70.00%"],
        "usersPerSecond": ["1,500.2", "1,800.5", "300.2", "+20.01%"],
        "validation hr@5": ["0.3000", "0.3000", "0.0000", "+0.00%"],
        "validation ndcg@10": ["0.2000", "0.1900", "-0.0100", "-5.00%"],
    }


def test_version_note_says_where_its_metrics_come_from(client):
    note = ("Refit on every event (train, valid and test splits) for 4 epochs, the number "
            "selection run abc chose on validation; the metrics are that selection run's.")
    r = client.post("/api/v1/models/ranker/versions", json={
        "metrics": {"valid.ndcg@10": 0.2}, "description": note})
    assert r.status_code == 201, r.get_json()
    html = _text(client.get("/models/ranker"))
    training = html.split('id="train-h"', 1)[1]
    assert f'<p class="version-note">{note}</p>' in training.replace("&#39;", "'")
