"""Compression: int8 and pruned checkpoints load and score like score.py does, the file shrinks,
and what compress measures is what the models do."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest
import torch
import torch.nn as nn

from ranker import data as rdata
from ranker.checkpoint import (
    load_checkpoint,
    pack_sparse,
    quantize_int8,
    unpack_sparse,
    weights_bytes,
)
from ranker.compress import compress, prunable, prune_l1
from ranker.evaluate import evaluate, metric_changes
from ranker.score import score, top_k
from ranker.train import TrainConfig, train
from tests.ranker.conftest import cyclic_sequences, write_feature_db

DynamicLinear = torch.ao.nn.quantized.dynamic.Linear
SMALL = {"d_model": 16, "n_layers": 1, "max_len": 20, "dropout": 0.1, "attn_dropout": 0.1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(workdir, TrainResult) of a small ranker that learned the cyclic walk."""
    before = torch.get_num_threads()
    work = tmp_path_factory.mktemp("compress") / "work"
    write_feature_db(work, cyclic_sequences(60, 30))
    result = train(work, TrainConfig(max_epochs=15, batch_size=32, threads=1, patience=20,
                                     model=SMALL))
    torch.set_num_threads(before)
    return work, result


def _scores(model, data):
    seqs, behs = rdata.full_histories(data)
    seq = rdata.left_pad(seqs, model.cfg.max_len)
    beh = rdata.left_pad(behs, model.cfg.max_len)
    with torch.no_grad():
        return model(seq, beh)[0]  # (U, N+1)


def test_int8_checkpoint_loads_quantized_and_scores_through_score_py(trained, tmp_path):
    work, result = trained
    out = tmp_path / "int8.pt"
    c = compress(result.best_checkpoint, out, work, method="int8", users=20, repeats=1)
    model, ckpt = load_checkpoint(out, "cuda" if torch.cuda.is_available() else "cpu")
    linear = [m for m in model.modules() if isinstance(m, nn.Linear | DynamicLinear)]
    assert len(linear) == 5 and all(isinstance(m, DynamicLinear) for m in linear)
    assert model.side_category.device.type == "cpu"  # int8 kernels are CPU-only
    assert ckpt["compression"]["method"] == "int8" and "optimizer_state" not in ckpt
    # What the convention asks of every checkpoint, kept from the source.
    source = torch.load(result.best_checkpoint, weights_only=False)
    for key in ("model_config", "train_config", "step", "best_metric"):
        assert ckpt[key] == source[key], key

    data = rdata.load(work / "features.duckdb")
    src, _ = load_checkpoint(result.best_checkpoint)
    s_int8, s_src = _scores(model, data), _scores(src, data)
    assert not torch.equal(s_int8[:, 1:], s_src[:, 1:])  # really quantized ...
    assert (s_int8[:, 1:] - s_src[:, 1:]).abs().max() < 0.05 * s_src[:, 1:].abs().max()  # ... close
    assert (s_int8[:, 1:].argmax(1) == s_src[:, 1:].argmax(1)).float().mean() > 0.9

    # score.py scores it (on the CPU, whatever device it would pick) ...
    r = score(work, out, tmp_path / "recs.parquet", k=5)
    assert r.device == "cpu" and r.rows == 5 * r.users == 5 * len(data.user_ids)
    # ... with the lists the quantized model ranks.
    seqs, behs = rdata.full_histories(data)
    items, _ = top_k(model, seqs, behs, 5)
    recs = pq.read_table(tmp_path / "recs.parquet").to_pydict()
    assert recs["item_id"] == data.item_ids[items.reshape(-1).numpy() - 1].tolist()

    # What compress reported is what the models do.
    assert c.valid_metrics == evaluate(model, data, "valid")
    assert c.valid_changes["ndcg@10"]["source"] == result.valid_metrics["ndcg@10"]
    assert c.valid_changes["ndcg@10"]["derived"] == c.valid_metrics["ndcg@10"]
    assert c.file_bytes == {"source": result.best_checkpoint.stat().st_size,
                            "derived": out.stat().st_size}
    assert c.weights_bytes["derived"] < c.weights_bytes["source"]
    assert c.speed_users == 20 and set(c.users_per_second) == {"source", "derived"}
    assert all(v > 0 for v in c.users_per_second.values())
    assert c.amount is None and c.sparsity is None


def test_prune_zeroes_the_smallest_weights_globally_and_permanently(trained):
    _, result = trained
    src, _ = load_checkpoint(result.best_checkpoint)
    pruned = prune_l1(src, 0.6)
    names = [f"{n}.weight" for n, _ in prunable(src)]
    assert "items.item.weight" in names and "blocks.0.attn.qkv.weight" in names
    before = torch.cat([src.state_dict()[n].reshape(-1) for n in names])
    after = torch.cat([pruned.state_dict()[n].reshape(-1) for n in names])
    assert int((after == 0).sum()) == round(0.6 * len(before))
    kept = after != 0
    assert torch.equal(after[kept], before[kept])  # survivors untouched
    assert before[~kept].abs().max() <= before[kept].abs().min()  # one global L1 threshold
    # Permanent: a plain module again, no masks or hooks left behind.
    assert not any(hasattr(m, "weight_mask") or m._forward_pre_hooks for m in pruned.modules())
    assert not any(k.endswith(("_orig", "_mask")) for k in pruned.state_dict())
    # The source is left as it was.
    assert torch.equal(torch.cat([src.state_dict()[n].reshape(-1) for n in names]), before)


def test_pruned_checkpoint_is_exact_and_shrinks_with_the_amount(trained, tmp_path):
    work, result = trained
    sizes = {}
    for amount in (0.5, 0.9):
        out = tmp_path / f"prune{amount}.pt"
        c = compress(result.best_checkpoint, out, work, method="prune", amount=amount,
                     users=10, repeats=1)
        model, ckpt = load_checkpoint(out)
        expected = prune_l1(load_checkpoint(result.best_checkpoint)[0], amount).state_dict()
        loaded = model.state_dict()
        assert loaded.keys() == expected.keys()
        assert all(torch.equal(loaded[k], expected[k]) for k in loaded)
        assert set(ckpt["sparse_state"]) == {f"{n}.weight" for n, _ in prunable(model)}
        n = sum(math.prod(p["shape"]) for p in ckpt["sparse_state"].values())
        assert c.sparsity == pytest.approx(round(amount * n) / n, abs=1e-12)
        assert (c.method, c.amount) == ("prune", amount)
        sizes[amount] = c.weights_bytes
        assert c.weights_bytes["derived"] == weights_bytes(ckpt)
        assert c.file_bytes["derived"] == out.stat().st_size < c.file_bytes["source"]
    assert sizes[0.9]["derived"] < sizes[0.5]["derived"] < sizes[0.5]["source"]


def test_sparse_packing_round_trips_exactly():
    g = torch.Generator().manual_seed(0)
    for shape in ((7, 5), (13,), (3, 1, 9), ()):
        t = torch.randn(shape, generator=g)
        t[torch.rand(shape, generator=g) < 0.7] = 0.0
        packed = pack_sparse(t)
        assert packed["mask"].dtype == torch.uint8
        assert packed["mask"].numel() == math.ceil(t.numel() / 8)
        assert packed["values"].numel() == int((t != 0).sum())
        assert torch.equal(unpack_sparse(packed), t)


def test_metric_changes_absolute_and_relative():
    changes = metric_changes({"ndcg@10": 0.5, "hr@10": 0.0, "mrr": 0.25},
                             {"ndcg@10": 0.4, "hr@10": 0.1, "f1@10": 0.3})
    assert changes == {
        "hr@10": {"source": 0.0, "derived": 0.1, "absolute": 0.1, "relative": None},
        "ndcg@10": {"source": 0.5, "derived": 0.4, "absolute": pytest.approx(-0.1),
                    "relative": pytest.approx(-0.2)},
    }


def test_compress_refuses_what_it_cannot_compare(trained, tmp_path):
    work, result = trained
    out = tmp_path / "int8.pt"
    compress(result.best_checkpoint, out, work, method="int8", users=5, repeats=1)
    with pytest.raises(ValueError, match="already compressed"):
        compress(out, tmp_path / "again.pt", work, method="prune", users=5, repeats=1)
    with pytest.raises(ValueError, match="unknown method"):
        compress(result.best_checkpoint, tmp_path / "x.pt", work, method="fp4")
    with pytest.raises(ValueError, match="amount must be between 0 and 1"):
        compress(result.best_checkpoint, tmp_path / "x.pt", work, method="prune", amount=1.0)
    other = tmp_path / "other"
    write_feature_db(other, cyclic_sequences(10, 12))
    with pytest.raises(ValueError, match="different item catalogue"):
        compress(result.best_checkpoint, tmp_path / "x.pt", other, method="int8")


def test_unknown_compression_in_a_checkpoint_is_named(trained, tmp_path):
    _, result = trained
    ckpt = torch.load(result.best_checkpoint, weights_only=False)
    ckpt["compression"] = {"method": "fp4"}
    torch.save(ckpt, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="unknown compression 'fp4'"):
        load_checkpoint(tmp_path / "odd.pt")


def test_only_linear_layers_are_quantized(trained):
    _, result = trained
    src, _ = load_checkpoint(result.best_checkpoint)
    modules = dict(quantize_int8(src).named_modules())
    linear = {name for name, m in modules.items() if isinstance(m, nn.Linear | DynamicLinear)}
    assert linear == {"blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.ff.0",
                      "blocks.0.ff.2", "items.dense"}
    assert all(isinstance(modules[name], DynamicLinear) for name in linear)
    item = modules["items.item"]  # the table that scores the items stays float
    assert type(item) is nn.Embedding and item.weight.dtype == torch.float32
    assert type(src.blocks[0].attn.qkv) is nn.Linear  # the source is left as it was
