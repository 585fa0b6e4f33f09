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
    # The version's row holds each value under its own column.
    row = html.split('<th scope="row">v1</th>', 1)[1].split("</tr>", 1)[0]
    values = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert values == ["%.4f" % metrics[c] for c in cols]
