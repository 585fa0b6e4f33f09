"""The refit after model selection: the registered version learns from every event, and says so.

The hold-out test is the one the issue describes: cut each user's real last event, train on the
rest, score every user from the whole remaining history and rank the cut event. The shop here
has a trend the selected model cannot see: every user's newest kept event (the test event) and
the cut event are new arrivals, items that never occur earlier; before them users walk the old
catalogue in a cycle, which validation (the event before the test event) rewards learning.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ranker import data as rdata
from ranker.checkpoint import load_checkpoint
from ranker.score import top_k
from ranker.train import TrainConfig, refit, train

# The new arrivals are spread over the catalogue, so their side features (derived from the
# item number by make_feature_db) look like any other item's.
NEW = [17, 59, 101, 143, 187]
OLD = [i for i in range(1, 201) if i not in NEW]


def trend_shop(n_users: int = 120, seed: int = 0) -> tuple[dict, dict]:
    """(sequences without the cut event, the cut event per user)."""
    rng = np.random.default_rng(seed)
    seqs, cut = {}, {}
    for u in range(n_users):
        start = int(rng.integers(len(OLD)))
        old = [OLD[(start + k) % len(OLD)] for k in range(7)]
        a, c = (int(x) for x in rng.choice(NEW, 2, replace=False))
        seqs[1000 + u], cut[1000 + u] = old + [a], c
    return seqs, cut


CFG = dict(max_epochs=15, patience=15, batch_size=32, threads=1, lr=1e-2,
           model={"d_model": 16, "n_layers": 1, "max_len": 10, "dropout": 0.1,
                  "attn_dropout": 0.1})


def hit_rate_on_cut(checkpoint, workdir, cut: dict, k: int = 10) -> float:
    """HR@k of each user's cut event in the list scored from the whole kept history."""
    model, _ = load_checkpoint(checkpoint)
    data = rdata.load(workdir / "features.duckdb")
    seqs, behs = rdata.full_histories(data)
    items, _ = top_k(model, seqs, behs, k)
    index = data.item_index()
    hits = [index[1000 + cut[int(u)]] in set(items[r].tolist())
            for r, u in enumerate(data.user_ids)]
    return float(np.mean(hits))


def test_every_event_examples_hold_the_valid_and_test_events(make_feature_db, tmp_path):
    behaviors = {7: ["pv", "cart", "pv", "buy", "fav"]}
    make_feature_db(tmp_path, {7: [1, 2, 3, 4, 5]}, behaviors=behaviors)
    data = rdata.load(tmp_path / "features.duckdb")
    beh = {b: k + 1 for k, b in enumerate(data.behaviors)}
    _, x, b, y = rdata.training_examples(data, 8)
    assert (y[0] > 0).sum() == 2 and y[0, -1] == 3  # train events 1, 2, 3: targets 2, 3
    _, x, b, y = rdata.training_examples(data, 8, every_event=True)
    assert y[0, -4:].tolist() == [2, 3, 4, 5] and x[0, -4:].tolist() == [1, 2, 3, 4]
    assert b[0, -4:].tolist() == [beh[v] for v in ["pv", "cart", "pv", "buy"]]
    # The test event's own behaviour is kept (scoring's histories used to borrow the previous).
    seqs, behs = rdata.full_histories(data)
    assert seqs[0].tolist() == [1, 2, 3, 4, 5]
    assert behs[0].tolist() == [beh[v] for v in behaviors[7]]


def test_refit_learns_the_newest_events_the_selected_model_never_saw(make_feature_db, tmp_path):
    seqs, cut = trend_shop()
    make_feature_db(tmp_path, seqs, n_items=200)
    cfg = TrainConfig(**CFG)
    selected = train(tmp_path, cfg)
    final = refit(tmp_path, cfg, selected.best_epoch)
    assert final.epochs == selected.best_epoch >= 1
    # 7 targets a user when refitting (every event), 5 when selecting (the train split).
    assert final.examples == 7 * len(seqs)
    assert selected.best_epoch > 1  # validation (the cycle) kept improving
    ckpt = torch.load(final.checkpoint, weights_only=False)
    assert ckpt["refit"] == {"epochs": selected.best_epoch, "splits": ["train", "valid", "test"]}
    assert ckpt["epoch"] == selected.best_epoch and "optimizer_state" not in ckpt

    before = hit_rate_on_cut(selected.best_checkpoint, tmp_path, cut)
    after = hit_rate_on_cut(final.checkpoint, tmp_path, cut)
    # The four new arrivals a user has not had are in the refit's top 10 (5 new items, one of
    # them in the history); the selected model ranks them as the items it never saw.
    assert after >= 0.9, (before, after)
    assert before <= 0.3, (before, after)


def test_refit_is_reproducible_and_resumes_where_it_stopped(make_feature_db, tmp_path):
    seqs, _ = trend_shop(40)
    make_feature_db(tmp_path / "a", seqs, n_items=200)
    cfg = TrainConfig(**CFG)
    whole = refit(tmp_path / "a", cfg, 3)
    weights = torch.load(whole.checkpoint, weights_only=False)["model_state"]
    # Interrupted after one epoch (a refit of 1 epoch leaves last.pt at epoch 1), then resumed.
    make_feature_db(tmp_path / "b", seqs, n_items=200)
    refit(tmp_path / "b", cfg, 1)
    last = tmp_path / "b" / "ranker" / "refit" / "last.pt"
    saved = torch.load(last, weights_only=False)
    saved["refit"]["epochs"] = 3  # as if the 3-epoch refit had stopped after its first epoch
    torch.save(saved, last)
    resumed = refit(tmp_path / "b", cfg, 3)
    again = torch.load(resumed.checkpoint, weights_only=False)["model_state"]
    assert all(torch.equal(weights[k], again[k]) for k in weights)
    with pytest.raises(ValueError, match="at least one epoch"):
        refit(tmp_path / "a", cfg, 0)


def test_refit_replays_the_learning_rates_it_is_given(make_feature_db, tmp_path):
    seqs, _ = trend_shop(40)
    cfg = TrainConfig(**CFG)

    def weights(name, epochs, lrs=None):
        make_feature_db(tmp_path / name, seqs, n_items=200)
        out = refit(tmp_path / name, cfg, epochs, lrs=lrs)
        return torch.load(out.checkpoint, weights_only=False)["model_state"]

    one, constant = weights("one", 1), weights("constant", 2)
    given = weights("given", 2, [cfg.lr, cfg.lr])
    assert all(torch.equal(constant[k], given[k]) for k in constant)
    # A rate of 0 in the second epoch leaves the first epoch's weights.
    frozen = weights("frozen", 2, [cfg.lr, 0.0])
    assert all(torch.equal(one[k], frozen[k]) for k in one)
    assert not all(torch.equal(one[k], constant[k]) for k in one)
    with pytest.raises(ValueError, match="as many learning rates"):
        refit(tmp_path / "one", cfg, 2, lrs=[cfg.lr])


def test_a_refit_with_a_weight_average_serves_the_average(cyclic_db, tmp_path):
    cfg = TrainConfig(seed=3, batch_size=8, lr=5e-3, ema=0.9, out_dir=str(tmp_path / "ck"),
                      model={"d_model": 16, "n_layers": 1, "max_len": 8})
    final = refit(cyclic_db, cfg, 3)
    saved = torch.load(final.checkpoint, weights_only=False)
    assert not {"optimizer_state", "training_state", "ema_state"} & saved.keys()
    last = torch.load(tmp_path / "ck" / "refit" / "last.pt", weights_only=False)
    assert all(torch.equal(saved["model_state"][k], last["model_state"][k])
               for k in saved["model_state"])  # the average, as last.pt's model
    assert not all(torch.equal(last["model_state"][k], last["training_state"][k])
                   for k in last["model_state"])
