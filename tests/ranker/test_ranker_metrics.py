"""Ranking metrics against hand-computed cases: ties, history exclusion, padding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ranker import data as rdata
from ranker.evaluate import metrics, popularity, target_ranks


def _ranks(scores, target, history=()):
    s = torch.tensor([scores], dtype=torch.float32)
    return int(target_ranks(s, torch.tensor([target]), [np.array(history, dtype=np.int64)])[0])


def test_rank_counts_higher_items():
    # column 0 is padding: never ranked, even with the highest score
    assert _ranks([9.0, 0.9, 0.5, 0.1, 0.7], target=2) == 3
    assert _ranks([9.0, 0.9, 0.5, 0.1, 0.7], target=1) == 1
    assert _ranks([9.0, 0.9, 0.5, 0.1, 0.7], target=3) == 4


def test_ties_count_against_the_target():
    # items 2, 3, 4 tie with the target 3: rank = 1 + 1 higher (item 1) + 2 equal
    assert _ranks([0.0, 0.9, 0.5, 0.5, 0.5], target=3) == 4
    # every item equal (an untrained model): the target is ranked last
    assert _ranks([0.0, 0.0, 0.0, 0.0, 0.0], target=1) == 4


def test_history_items_are_excluded_but_never_the_target():
    assert _ranks([0.0, 0.9, 0.8, 0.5, 0.5], target=3, history=[1, 2]) == 2  # only item 4 ties
    # a repeat purchase: the target is in the history and is still ranked
    assert _ranks([0.0, 0.9, 0.8, 0.5, 0.1], target=2, history=[1, 2]) == 1


def test_ranks_are_per_row():
    scores = torch.tensor([[0.0, 3.0, 2.0, 1.0], [0.0, 1.0, 2.0, 3.0]])
    ranks = target_ranks(scores, torch.tensor([3, 3]), [np.array([1]), np.array([], np.int64)])
    assert ranks.tolist() == [2, 1]


def test_metrics_by_hand():
    m = metrics(torch.tensor([1, 3, 11, 25]), ks=(5, 10, 20))
    assert m["hr@5"] == pytest.approx(2 / 4)
    assert m["hr@20"] == pytest.approx(3 / 4)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert m["ndcg@20"] == pytest.approx((1 + 1 / math.log2(4) + 1 / math.log2(12)) / 4)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 11 + 1 / 25) / 4)
    assert m["precision@10"] == pytest.approx(2 / 4 / 10)
    assert m["recall@10"] == pytest.approx(2 / 4)
    p, r = 1 / 10, 1.0  # a hit's precision and recall at 10
    assert m["f1@10"] == pytest.approx(2 * p * r / (p + r) * 2 / 4)
    assert m["users"] == 4


def test_seed_article_metrics_from_hand_built_scores():
    """Precision, recall and F1 under the exact protocol: ties against, history excluded."""
    scores = torch.tensor([
        # pad   1    2    3    4    5    6
        [9.0, 0.9, 0.8, 0.7, 0.7, 0.1, 0.0],  # target 4; history {1}: 2 higher, 3 ties -> 3
        [9.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # target 2 (a repeat); history {2, 3}: 1, 4, 5,
                                              # 6 tie -> 5
        [9.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # target 6; padding never counts -> 1
    ])
    history = [np.array([1]), np.array([2, 3]), np.array([], np.int64)]
    ranks = target_ranks(scores, torch.tensor([4, 2, 6]), history)
    assert ranks.tolist() == [3, 5, 1]
    m = metrics(ranks, ks=(1, 3, 5))
    exact = {
        # hits per user at 1: [0, 0, 1]; at 3: [1, 0, 1]; at 5: [1, 1, 1]
        "hr@1": 1 / 3, "hr@3": 2 / 3, "hr@5": 1.0,
        "recall@1": 1 / 3, "recall@3": 2 / 3, "recall@5": 1.0,  # hits / |targets| = hits / 1
        "precision@1": (0 + 0 + 1 / 1) / 3,  # hits / K
        "precision@3": (1 / 3 + 0 + 1 / 3) / 3,
        "precision@5": (1 / 5 + 1 / 5 + 1 / 5) / 3,
        # F1 = 2PR / (P + R): at K=1 a hit has P = R = 1; at K=3, P = 1/3, R = 1 -> 1/2;
        # at K=5, P = 1/5, R = 1 -> 1/3
        "f1@1": (0 + 0 + 1) / 3, "f1@3": (0.5 + 0 + 0.5) / 3, "f1@5": (1 / 3) * 3 / 3,
        "ndcg@1": (0 + 0 + 1) / 3,
        "ndcg@3": (1 / math.log2(4) + 0 + 1) / 3,
        "ndcg@5": (1 / math.log2(4) + 1 / math.log2(6) + 1) / 3,
        "mrr": (1 / 3 + 1 / 5 + 1) / 3,
        "users": 3,
    }
    assert m.keys() == exact.keys()
    for key, value in exact.items():
        assert m[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_an_all_tied_model_gets_no_precision():
    """An untrained model scoring every item alike ranks each target last: P = R = F1 = 0."""
    scores = torch.zeros(2, 11)
    ranks = target_ranks(scores, torch.tensor([1, 7]), [np.array([3, 4]), np.array([7])])
    assert ranks.tolist() == [8, 10]  # 10 items, minus 2 history items; item 7 is the target
    m = metrics(ranks, ks=(5, 10))
    assert (m["precision@5"], m["recall@5"], m["f1@5"]) == (0.0, 0.0, 0.0)
    assert m["precision@10"] == pytest.approx(0.1)  # both hit at 10: 1/10 each
    assert m["recall@10"] == 1.0
    assert m["f1@10"] == pytest.approx(2 / 11)


def test_popularity_baseline_by_hand(tmp_path, make_feature_db):
    seqs = {1: [1, 2, 3, 4, 5], 2: [1, 2, 5, 6], 3: [1, 9, 9, 6]}
    make_feature_db(tmp_path, seqs, n_items=9)
    data = rdata.load(tmp_path / "features.duckdb")
    m = popularity(data, "test")
    # train events: user 1 [1,2,3], user 2 [1,2], user 3 [1,9] -> counts 1:3, 2:2, 3:1, 9:1
    # user 1: target 5, history {1,2,3,4}: 9 higher, 6,7,8 tie -> rank 1 + 1 + 3 = 5
    # user 2: target 6, history {1,2,5}: 3, 9 higher, 4,7,8 tie -> rank 1 + 2 + 3 = 6
    # user 3: target 6, history {1,9}: 2, 3 higher, 4,5,7,8 tie -> rank 1 + 2 + 4 = 7
    ranks = [5, 6, 7]
    assert m["hr@5"] == pytest.approx(1 / 3)
    assert m["mrr"] == pytest.approx(sum(1 / r for r in ranks) / 3)
    assert m["ndcg@10"] == pytest.approx(sum(1 / math.log2(r + 1) for r in ranks) / 3)
