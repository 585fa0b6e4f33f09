"""Reading the feature tables: id mappings, side features, and no leakage of valid/test events."""

from __future__ import annotations

import numpy as np
import torch

from ranker import data as rdata
from ranker.evaluate import evaluate
from ranker.model import SeqRanker
from ranker.train import TrainConfig, model_config, side_tensors, train

# Items 1..8 are ordinary; every user's valid and test items are markers used nowhere else.
SEQS = {
    7: [1, 2, 3, 4, 20, 30],
    9: [2, 3, 21, 31],
    4: [5, 6, 7, 8, 1, 2, 3, 22, 32],
    5: [1, 2],  # fewer than three events: all train
}
VALID_MARKERS = {20, 21, 22}
TEST_MARKERS = {30, 31, 32}


def _load(tmp_path, make_feature_db, **kw):
    make_feature_db(tmp_path, SEQS, n_items=32, **kw)
    return rdata.load(tmp_path / "features.duckdb")


def test_ids_map_to_contiguous_indices_and_back(tmp_path, make_feature_db):
    data = _load(tmp_path, make_feature_db)
    assert data.item_ids.tolist() == [1000 + i for i in range(1, 33)]
    assert data.user_ids.tolist() == [4, 5, 7, 9]
    idx = data.item_index()
    u = data.user_ids.tolist().index(7)
    assert [int(data.item_ids[i - 1]) for i in data.train[u]] == [1001, 1002, 1003, 1004]
    assert idx[1020] == data.valid[u] and idx[1030] == data.test[u]
    assert data.valid[data.user_ids.tolist().index(5)] == 0  # short user: no valid target


def test_side_features_are_aligned_with_item_indices(tmp_path, make_feature_db):
    data = _load(tmp_path, make_feature_db)
    side = data.side
    assert side.attributes.shape == (33, 2) and side.attributes[0].tolist() == [0, 0]
    # items 3 and 6 share their first attribute (3 % 3 == 6 % 3) but not the second
    assert side.attributes[3, 0] == side.attributes[6, 0]
    assert side.attributes[3, 1] != side.attributes[6, 1]
    assert side.category[0] == 0 and (side.category[1:] > 0).all()
    assert side.price_bucket[2] == 0 and (side.price_bucket[3:] > 0).all()  # item 2 has no price
    assert side.price_bucket[32] > side.price_bucket[3]
    assert side.dense_names == ["conversion_rate"] and side.dense.shape == (33, 1)


def test_training_examples_hold_no_valid_or_test_event(tmp_path, make_feature_db):
    data = _load(tmp_path, make_feature_db)
    idx = data.item_index()
    markers = {idx[1000 + i] for i in VALID_MARKERS | TEST_MARKERS}
    users, inputs, beh, targets = rdata.training_examples(data, max_len=5)
    seen = set(inputs.flatten().tolist()) | set(targets.flatten().tolist())
    assert not seen & markers
    # user 4's train events 5,6,7,8,1,2,3: the last 5 inputs and targets
    r = users.tolist().index(data.user_ids.tolist().index(4))
    assert [int(data.item_ids[i - 1]) - 1000 for i in inputs[r]] == [6, 7, 8, 1, 2]
    assert [int(data.item_ids[i - 1]) - 1000 for i in targets[r]] == [7, 8, 1, 2, 3]


def test_valid_inputs_exclude_the_valid_event_and_test_inputs_include_it(tmp_path,
                                                                          make_feature_db):
    data = _load(tmp_path, make_feature_db)
    idx = data.item_index()
    valid_m = {idx[1000 + i] for i in VALID_MARKERS}
    test_m = {idx[1000 + i] for i in TEST_MARKERS}
    _, inputs, _, targets, history = rdata.eval_examples(data, "valid", 10)
    assert not set(inputs.flatten().tolist()) & (valid_m | test_m)
    assert set(targets.tolist()) == valid_m
    assert not set(np.concatenate(history).tolist()) & (valid_m | test_m)
    _, inputs, _, targets, history = rdata.eval_examples(data, "test", 10)
    assert set(targets.tolist()) == test_m
    assert not set(inputs.flatten().tolist()) & test_m
    assert set(inputs.flatten().tolist()) >= valid_m  # the valid event precedes the test one


def test_the_model_never_sees_the_target_it_is_scored_on(tmp_path, make_feature_db,
                                                         monkeypatch):
    """Record every sequence the model is fed, in training and in validation."""
    data = _load(tmp_path, make_feature_db)
    idx = data.item_index()
    valid_m = {idx[1000 + i] for i in VALID_MARKERS}
    test_m = {idx[1000 + i] for i in TEST_MARKERS}
    fed = []
    original = SeqRanker.forward

    def recording(self, seq, beh=None, targets=None):
        fed.append((seq.clone(), None if targets is None else targets.clone()))
        return original(self, seq, beh, targets)

    monkeypatch.setattr(SeqRanker, "forward", recording)
    cfg = TrainConfig(max_epochs=2, batch_size=2, out_dir=str(tmp_path / "ck"),
                      model={"d_model": 8, "max_len": 6})
    train(tmp_path, cfg)
    training = [(s, t) for s, t in fed if t is not None]
    assert training
    for seq, tgt in training:
        assert not set(seq.flatten().tolist()) & (valid_m | test_m)
        assert not set(tgt.flatten().tolist()) & (valid_m | test_m)

    fed.clear()
    torch.manual_seed(0)
    model = SeqRanker(model_config(data, {"max_len": 6, "d_model": 8}), side_tensors(data))
    evaluate(model, data, "valid")
    assert fed and all(not set(s.flatten().tolist()) & (valid_m | test_m) for s, _ in fed)
