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
