"""Compress a trained ranker (int8 dynamic quantization or global magnitude pruning), measured.

    result = compress(source, output, workdir, method="prune", amount=0.3)

int8 quantizes every ``nn.Linear`` (attention projections, feed-forward, the dense side-feature
projection) dynamically; the embedding tables, which also score the whole catalogue, stay
float32. prune zeroes the ``amount`` fraction of the smallest-magnitude weights over every Linear
and embedding weight together (global L1, unstructured) and makes it permanent; the checkpoint
keeps those weights as a bit mask plus their non-zero values (``checkpoint.py``), so the file
shrinks with the sparsity while the model stays exactly the pruned one.

The compressed checkpoint is written, loaded back the way ``score.py`` loads it, and compared
with its source on the same data: file and weight bytes; scoring speed (the same users in the
same batches, on the CPU where int8 runs, the best of ``repeats`` timed passes each, the two
models taking turns); and every validation metric, with its absolute and relative change. The
compressed model's test metrics are measured too, so it records what a trained version does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

from ranker import data as rdata
from ranker.checkpoint import (
    METHODS,
    load_checkpoint,
    pack_sparse,
    quantize_int8,
    weights_bytes,
)
from ranker.evaluate import evaluate, metric_changes
from ranker.score import users_per_second

# What a compressed checkpoint keeps of its source's (the optimizer state and history stay out).
KEPT = ("model_config", "train_config", "metric", "epoch", "step", "best_metric", "best_epoch",
        "item_ids", "behaviors", "side", "refit", "world_size")


@dataclass
class CompressResult:
    """The compressed checkpoint and how it compares with its source (``source``/``derived``)."""

    output: Path
    method: str
    amount: float | None  # fraction of the prunable weights asked to be zeroed (prune only)
    sparsity: float | None  # fraction of the prunable weights that are zero (prune only)
    file_bytes: dict  # checkpoint file sizes
    weights_bytes: dict  # serialized weights alone (no optimizer state, no side features)
    users_per_second: dict  # scoring speed on the same users
    speed_users: int  # how many users the speed was measured on
    valid_changes: dict  # per validation metric: source, derived, absolute, relative
    valid_metrics: dict  # the compressed model's validation metrics
    test_metrics: dict  # the compressed model's test metrics


def compress(source: Path, output: Path, workdir: Path, *, method: str, amount: float = 0.3,
             users: int | None = None, batch_size: int = 1024, repeats: int = 3,
             progress=None) -> CompressResult:
    """Write ``output``, a compressed copy of the checkpoint ``source``, and measure both.

    ``progress(done, total, note)`` is told each of the five steps as it ends.
    """
    def step(done: int, note: str) -> None:
        if progress:
            progress(done, 5, note)

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if method == "prune" and not 0 < amount < 1:
        raise ValueError(f"amount must be between 0 and 1 (exclusive), not {amount}")
    source_model, source_ckpt = load_checkpoint(Path(source))
    if source_ckpt.get("compression"):
        raise ValueError(f"{source} is already compressed "
                         f"({source_ckpt['compression']['method']}); compress its source")
    data = rdata.load(Path(workdir) / "features.duckdb")
    if not np.array_equal(source_ckpt["item_ids"].numpy(), data.item_ids):
        raise ValueError(f"{source} was trained on a different item catalogue than "
                         f"{workdir}/features.duckdb")

    small = compress_model(source_model, method, amount)
    ckpt = compressed_checkpoint(source_ckpt, small, method, amount)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    tmp.replace(output)
    derived, ckpt = load_checkpoint(output)  # what scoring will run
    step(1, "written")

    eval_batch = source_ckpt["train_config"].get("eval_batch_size", 256)
    before = evaluate(source_model, data, "valid", eval_batch)
    step(2, "source validated")
    after = evaluate(derived, data, "valid", eval_batch)
    step(3, "compressed validated")
    test = evaluate(derived, data, "test", eval_batch)
    step(4, "compressed tested")
    seqs, behs = rdata.full_histories(data)
    n = min(users or len(seqs), len(seqs))
    speed = users_per_second({"source": source_model, "derived": derived}, seqs[:n], behs[:n],
                             batch_size=batch_size, repeats=repeats)
    step(5, "timed")
    sparsity = None
    if method == "prune":
        packed = ckpt["sparse_state"].values()
        sparsity = 1 - sum(len(p["values"]) for p in packed) / sum(
            int(np.prod(p["shape"])) for p in packed)
    return CompressResult(
        output=output, method=method, amount=amount if method == "prune" else None,
        sparsity=sparsity,
        file_bytes={"source": Path(source).stat().st_size, "derived": output.stat().st_size},
        weights_bytes={"source": weights_bytes(source_ckpt), "derived": weights_bytes(ckpt)},
        users_per_second=speed, speed_users=n,
        valid_changes=metric_changes(_named(before), _named(after)),
        valid_metrics=after, test_metrics=test,
    )


def compress_model(model: nn.Module, method: str, amount: float = 0.3) -> nn.Module:
    """A compressed copy of ``model``; the original is left as it was."""
    return quantize_int8(model) if method == "int8" else prune_l1(model, amount)


def prunable(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every Linear and embedding layer, whose weights pruning may zero."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, nn.Linear | nn.Embedding | nn.EmbeddingBag)]


def prune_l1(model: nn.Module, amount: float) -> nn.Module:
    """A copy of ``model`` with the ``amount`` fraction of its smallest |weight| entries zeroed.

    Global over all prunable weights together (L1, unstructured), then made permanent: the copy
    is a plain model again, its pruned entries exact zeros.
    """
    model = copy.deepcopy(model)
    layers = [(m, "weight") for _, m in prunable(model)]
    prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=amount)
    for m, name in layers:
        prune.remove(m, name)
    return model


def compressed_checkpoint(source_ckpt: dict, model: nn.Module, method: str,
                          amount: float) -> dict:
    """The checkpoint of a compressed ``model`` (the forms are described in checkpoint.py)."""
    ckpt = {k: source_ckpt[k] for k in KEPT if k in source_ckpt}
    state = model.state_dict()
    if method == "int8":
        ckpt["compression"] = {"method": "int8", "dtype": "qint8", "layers": "Linear"}
    else:
        ckpt["compression"] = {"method": "prune", "amount": amount, "pruning": "global L1"}
        ckpt["sparse_state"] = {f"{name}.weight": pack_sparse(state.pop(f"{name}.weight"))
                                for name, _ in prunable(model)}
    ckpt["model_state"] = state
    return ckpt


def _named(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "users"}
