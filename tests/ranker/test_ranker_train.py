"""Training: a smoke run that learns, determinism, exact resume, checkpoints, early stopping."""

from __future__ import annotations

import pytest
import torch

from ranker.train import TrainConfig, load_checkpoint, train

TINY = {"d_model": 16, "n_layers": 1, "n_heads": 1, "max_len": 8, "dropout": 0.1,
        "attn_dropout": 0.1}


def _cfg(out, **kw) -> TrainConfig:
    base = dict(seed=3, max_epochs=4, batch_size=8, lr=5e-3, patience=100, out_dir=str(out),
                model=dict(TINY))
    return TrainConfig(**{**base, **kw})


def _weights(path):
    return torch.load(path, weights_only=False)["model_state"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_smoke_training_learns_the_cycle(cyclic_db, tmp_path):
    result = train(cyclic_db, _cfg(tmp_path / "ck", max_epochs=25, lr=1e-2))
    assert result.best_checkpoint.exists() and result.epochs == 25
    assert result.test_metrics["hr@5"] > 0.9  # next item = previous + 1
    assert result.test_metrics["mrr"] > result.popularity_test["mrr"] + 0.5
    assert result.valid_metrics["ndcg@10"] == max(h["valid"]["ndcg@10"] for h in result.history)
    assert result.train_seconds > 0


def test_same_seed_same_weights(cyclic_db, tmp_path):
    train(cyclic_db, _cfg(tmp_path / "a"))
    train(cyclic_db, _cfg(tmp_path / "b"))
    train(cyclic_db, _cfg(tmp_path / "c", seed=4))
    a, b, c = (_weights(tmp_path / x / "last.pt") for x in "abc")
    assert _same(a, b)
    assert not _same(a, c)


def test_resumed_run_equals_uninterrupted_run(cyclic_db, tmp_path):
    whole = train(cyclic_db, _cfg(tmp_path / "whole"))
    train(cyclic_db, _cfg(tmp_path / "split", max_epochs=2))  # interrupted after epoch 2
    resumed = train(cyclic_db, _cfg(tmp_path / "split"))
    assert resumed.epochs == whole.epochs == 4
    assert _same(_weights(tmp_path / "whole" / "last.pt"), _weights(tmp_path / "split" / "last.pt"))
    a = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)["optimizer_state"]
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=False)["optimizer_state"]
    assert all(torch.equal(a["state"][k]["exp_avg"], b["state"][k]["exp_avg"]) for k in a["state"])
    assert resumed.history == whole.history
    assert resumed.test_metrics == whole.test_metrics


def test_resume_refuses_a_different_model(cyclic_db, tmp_path):
    train(cyclic_db, _cfg(tmp_path / "ck", max_epochs=1))
    with pytest.raises(ValueError, match="different model configuration"):
        train(cyclic_db, _cfg(tmp_path / "ck", max_epochs=2, model={**TINY, "d_model": 8}))


def test_checkpoint_holds_configs_state_and_id_mapping(cyclic_db, tmp_path):
    result = train(cyclic_db, _cfg(tmp_path / "ck", max_epochs=2))
    ckpt = torch.load(result.best_checkpoint, weights_only=False)
    assert ckpt["model_config"]["d_model"] == 16 and ckpt["model_config"]["n_items"] == 30
    assert ckpt["train_config"]["seed"] == 3 and ckpt["metric"] == "ndcg@10"
    assert ckpt["epoch"] == result.best_epoch and ckpt["step"] > 0
    assert ckpt["best_metric"] == result.valid_metrics["ndcg@10"]
    assert ckpt["item_ids"].tolist() == [1000 + i for i in range(1, 31)]
    assert ckpt["behaviors"] == ["buy"] and ckpt["optimizer_state"]["state"]
    model, _ = load_checkpoint(result.best_checkpoint)
    seq = torch.tensor([[0, 1, 2, 3]])
    scores, _ = model(seq)
    assert scores.shape == (1, 31)


def test_early_stopping_watches_validation(cyclic_db, tmp_path):
    # lr 0: validation never improves after the first evaluation, so patience 2 stops at epoch 3
    result = train(cyclic_db, _cfg(tmp_path / "ck", lr=0.0, max_epochs=50, patience=2))
    assert result.epochs == 3 and result.best_epoch == 1
    assert [h["epoch"] for h in result.history] == [1, 2, 3]


def test_eval_every_and_time_limit(cyclic_db, tmp_path):
    result = train(cyclic_db, _cfg(tmp_path / "ck", max_epochs=5, eval_every=2))
    assert [h["epoch"] for h in result.history] == [2, 4, 5]
    stopped = train(cyclic_db, _cfg(tmp_path / "t", max_epochs=50, max_minutes=1e-9))
    assert stopped.epochs == 1


def test_a_plateau_lowers_the_learning_rate_and_the_history_records_each_epochs(cyclic_db,
                                                                              tmp_path):
    from ranker.train import rates

    # lr 1e-12 moves no float32 weight, so validation never improves after epoch 1: with
    # lr_plateau 2 the rate halves after the 2nd and 4th evaluations without improvement.
    cfg = _cfg(tmp_path / "ck", lr=1e-12, max_epochs=50, patience=5, lr_plateau=2)
    result = train(cyclic_db, cfg)
    assert result.epochs == 6 and result.best_epoch == 1
    expected = [1e-12, 1e-12, 1e-12, 5e-13, 5e-13, 2.5e-13]
    assert [h["lr"] for h in result.history] == pytest.approx(expected, rel=1e-12)
    assert rates(result.history, 6, cfg.lr) == pytest.approx(expected, rel=1e-12)
    # Evaluated every other epoch, an entry's rate holds for the epochs since the one before;
    # entries from before rates were recorded read as the constant rate.
    history = [{"epoch": 2, "lr": 0.1}, {"epoch": 4, "lr": 0.05}, {"epoch": 5}]
    assert rates(history, 5, 0.3) == [0.1, 0.1, 0.05, 0.05, 0.3]
    assert rates([], 2, 0.3) == [0.3, 0.3]


@pytest.mark.slow
@pytest.mark.real_data
def test_beauty_learns_within_three_epochs(shared_data, tmp_path):
    """Real data, defaults: three epochs already beat popularity several times over."""
    from pipelines.service import land_and_run

    amazon = shared_data / "amazon"
    land_and_run(tmp_path, "amazon", input_path=amazon / "Beauty.txt",
                 attributes=amazon / "Beauty_item2attributes.json")
    result = train(tmp_path, TrainConfig(max_epochs=3, out_dir=str(tmp_path / "ck")))
    assert result.valid_metrics["ndcg@10"] > 0.03
    assert result.test_metrics["ndcg@10"] > 3 * result.popularity_test["ndcg@10"]


def test_the_weight_average_follows_its_formula_and_swaps_back():
    from ranker.train import WeightAverage

    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 2.0]]))
    avg = WeightAverage(model, 0.5)
    expected = torch.tensor([[1.0, 2.0]])
    for step, w in enumerate(([[3.0, 4.0]], [[5.0, 0.0]], [[-1.0, 1.0]]), 1):
        with torch.no_grad():
            model.weight.copy_(torch.tensor(w))
        avg.update()
        d = min(0.5, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * torch.tensor(w)
        assert torch.allclose(avg.average[0], expected)
    avg.swap()
    assert torch.allclose(model.weight, expected)
    avg.swap()
    assert torch.equal(model.weight, torch.tensor([[-1.0, 1.0]]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightAverage(model, 1.0)


def test_with_a_weight_average_the_average_is_evaluated_and_saved(cyclic_db, tmp_path):
    from ranker.evaluate import evaluate

    result = train(cyclic_db, _cfg(tmp_path / "ck", ema=0.9, max_epochs=6, lr=1e-2))
    best = torch.load(result.best_checkpoint, weights_only=False)
    assert not _same(best["model_state"], best["training_state"])  # two sets of weights
    model, _ = load_checkpoint(result.best_checkpoint, "cpu")
    assert _same({k: v for k, v in model.state_dict().items() if k in best["model_state"]},
                 best["model_state"])
    from ranker import data as rdata

    data = rdata.load(cyclic_db / "features.duckdb")
    assert evaluate(model, data, "valid", 256, torch.device("cpu")) == result.valid_metrics
    plain = train(cyclic_db, _cfg(tmp_path / "plain", max_epochs=6, lr=1e-2))
    assert plain.history != result.history  # the average changed what was evaluated


def test_a_resumed_run_with_a_weight_average_equals_an_uninterrupted_one(cyclic_db, tmp_path):
    whole = train(cyclic_db, _cfg(tmp_path / "whole", ema=0.9))
    train(cyclic_db, _cfg(tmp_path / "split", ema=0.9, max_epochs=2))
    resumed = train(cyclic_db, _cfg(tmp_path / "split", ema=0.9))
    a, b = (torch.load(tmp_path / x / "last.pt", weights_only=False) for x in ("whole", "split"))
    assert _same(a["model_state"], b["model_state"])
    assert _same(a["training_state"], b["training_state"])
    assert a["ema_state"]["updates"] == b["ema_state"]["updates"] > 0
    assert resumed.history == whole.history and resumed.test_metrics == whole.test_metrics
    with pytest.raises(ValueError, match="with a weight average and this run is not"):
        train(cyclic_db, _cfg(tmp_path / "split", max_epochs=5))
