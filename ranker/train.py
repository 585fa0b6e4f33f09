"""Train the ranker on a feature DB, early-stopping on validation NDCG@10, resumably.

    result = train(workdir, TrainConfig())   # reads workdir/features.duckdb

Reproducible: every epoch reseeds torch from (seed, epoch), so the same seed and data give the same
weights on CPU, and a run resumed from its last checkpoint continues exactly as if uninterrupted.
The test split is evaluated once, on the best checkpoint, after training.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ranker import data as rdata
from ranker.checkpoint import load_checkpoint
from ranker.evaluate import evaluate, popularity
from ranker.model import RankerConfig, SeqRanker

METRIC = "ndcg@10"  # the validation metric that picks the best checkpoint


@dataclass
class TrainConfig:
    """Optimisation and early stopping; ``model`` overrides RankerConfig's defaults by name."""

    seed: int = 42  # seeds initialisation, shuffling and dropout
    max_epochs: int = 200  # hard cap on epochs
    batch_size: int = 128  # users per step
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    eval_every: int = 1  # epochs between validation evaluations (and checkpoints)
    patience: int = 10  # evaluations without validation improvement before stopping
    max_minutes: float = 0.0  # stop after this much training time (0 = no limit)
    device: str = ""  # "" = cuda when available, else cpu
    threads: int = 0  # torch CPU threads (0 = leave torch's setting)
    out_dir: str = ""  # checkpoint folder ("" = <workdir>/ranker)
    resume: bool = True  # continue from <out_dir>/last.pt when it exists
    eval_batch_size: int = 256  # users per evaluation batch
    test: bool = True  # evaluate the best checkpoint on test at the end (tuning trials do not)
    model: dict = field(default_factory=dict)  # RankerConfig overrides, e.g. {"d_model": 128}


@dataclass
class TrainResult:
    """What a training run produced."""

    best_checkpoint: Path
    valid_metrics: dict  # validation metrics of the best checkpoint
    test_metrics: dict  # test metrics of the best checkpoint
    epochs: int  # epochs trained (including any before a resume)
    best_epoch: int
    train_seconds: float  # training time (including any before a resume), evaluations included
    popularity_test: dict = field(default_factory=dict)  # the popularity baseline on test
    history: list = field(default_factory=list)  # per evaluation: epoch, loss, valid metrics


def train(workdir: Path, cfg: TrainConfig, progress=None) -> TrainResult:
    """Train on ``workdir/features.duckdb``; ``progress(epoch, info)`` is called after each eval."""
    workdir = Path(workdir)
    out = Path(cfg.out_dir) if cfg.out_dir else workdir / "ranker"
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    data = rdata.load(workdir / "features.duckdb")
    model_cfg = model_config(data, cfg.model)
    torch.manual_seed(cfg.seed)
    model = SeqRanker(model_cfg, side_tensors(data)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98),
                            weight_decay=cfg.weight_decay)
    examples = rdata.training_examples(data, model_cfg.max_len)

    state = {"epoch": 0, "step": 0, "best_metric": -1.0, "best_epoch": 0, "bad_evals": 0,
             "train_seconds": 0.0, "history": []}
    if cfg.resume and (out / "last.pt").exists():
        state = _restore(out / "last.pt", model, opt, model_cfg, data)

    started = time.perf_counter() - state["train_seconds"]
    while state["epoch"] < cfg.max_epochs and state["bad_evals"] < cfg.patience:
        loss = _train_epoch(model, opt, examples, cfg, state, device)
        state["epoch"] += 1
        if state["epoch"] % cfg.eval_every and state["epoch"] < cfg.max_epochs:
            continue
        valid = evaluate(model, data, "valid", cfg.eval_batch_size, device)
        improved = valid[METRIC] > state["best_metric"]
        if improved:
            state.update(best_metric=valid[METRIC], best_epoch=state["epoch"], bad_evals=0)
        else:
            state["bad_evals"] += 1
        state["history"].append({"epoch": state["epoch"], "loss": loss, "valid": valid})
        state["train_seconds"] = time.perf_counter() - started
        ckpt = _checkpoint(model, opt, model_cfg, cfg, data, state)
        _atomic_save(ckpt, out / "last.pt")
        if improved:
            _atomic_save(ckpt, out / "best.pt")
        if progress:
            progress(state["epoch"], {"loss": loss, **valid, "best": state["best_metric"],
                                      "seconds": state["train_seconds"]})
        if cfg.max_minutes and state["train_seconds"] > 60 * cfg.max_minutes:
            break

    best, best_ckpt = load_checkpoint(out / "best.pt", device)
    return TrainResult(
        best_checkpoint=out / "best.pt",
        valid_metrics=best_ckpt["history"][-1]["valid"],
        test_metrics=(evaluate(best, data, "test", cfg.eval_batch_size, device) if cfg.test
                      else {}),
        epochs=state["epoch"],
        best_epoch=state["best_epoch"],
        train_seconds=state["train_seconds"],
        popularity_test=popularity(data, "test") if cfg.test else {},
        history=state["history"],
    )


# --- helpers, in the order train() uses them -------------------------------------------------

def model_config(data: rdata.SeqData, overrides: dict) -> RankerConfig:
    """RankerConfig sized to the data's vocabularies, with the given hyperparameter overrides."""
    return RankerConfig(n_items=data.n_items, n_behaviors=len(data.behaviors) + 1,
                        **data.side.sizes, **overrides)


def side_tensors(data: rdata.SeqData) -> dict[str, torch.Tensor]:
    s = data.side
    return {"attributes": s.attributes, "category": s.category, "brand": s.brand,
            "price_bucket": s.price_bucket, "dense": s.dense}


def _train_epoch(model, opt, examples, cfg: TrainConfig, state: dict, device) -> float:
    """One pass over the users in a (seed, epoch)-determined order; returns the mean loss."""
    _, inputs, beh, targets = examples
    torch.manual_seed(cfg.seed * 100_003 + state["epoch"])  # dropout and sampled negatives
    model.train()
    total, n = 0.0, 0
    for idx in _batches(targets, cfg.batch_size):
        x, b, y = _crop(inputs[idx], beh[idx], targets[idx])
        _, loss = model(x.to(device), b.to(device), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        state["step"] += 1
        total, n = total + loss.item(), n + 1
    return total / max(n, 1)


def _batches(targets: torch.Tensor, batch_size: int, pool: int = 50) -> list[torch.Tensor]:
    """Random batches of users of similar length, so little of each batch is padding.

    Users are shuffled, each run of ``pool`` batches' worth is sorted by length and cut into
    batches, and the batches are shuffled; all randomness comes from torch's seeded generator.
    """
    order = torch.randperm(len(targets))
    lengths = (targets > 0).sum(1)
    batches = []
    for lo in range(0, len(order), batch_size * pool):
        chunk = order[lo:lo + batch_size * pool]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches += list(chunk.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches)).tolist()]


def _crop(x, b, y):
    """Drop the leading columns that are padding in every row (the batch's longest sequence)."""
    used = (y > 0).any(0).nonzero()
    start = int(used[0]) if len(used) else y.shape[1] - 1
    return x[:, start:], b[:, start:], y[:, start:]


def _checkpoint(model, opt, model_cfg, cfg, data: rdata.SeqData, state: dict) -> dict:
    return {
        "model_config": asdict(model_cfg),
        "train_config": asdict(cfg),
        "metric": METRIC,
        **{k: state[k] for k in ("epoch", "step", "best_metric", "best_epoch", "bad_evals",
                                 "train_seconds")},
        "history": list(state["history"]),
        "item_ids": torch.from_numpy(data.item_ids),  # item index i+1 -> source item id
        "behaviors": list(data.behaviors),  # behaviour index b+1 -> name
        "side": side_tensors(data),
        "model_state": model.state_dict(),
        "optimizer_state": opt.state_dict(),
    }


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _restore(path: Path, model, opt, model_cfg: RankerConfig, data: rdata.SeqData) -> dict:
    """Load model and optimizer from a last.pt of the same model and data; return the loop state."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not np.array_equal(ckpt["item_ids"].numpy(), data.item_ids):
        raise ValueError(f"{path} was trained on a different item catalogue; remove it to restart")
    if ckpt["model_config"] != asdict(model_cfg):
        raise ValueError(f"{path} holds a different model configuration; remove it to restart")
    model.load_state_dict(ckpt["model_state"])
    opt.load_state_dict(ckpt["optimizer_state"])
    keys = ("epoch", "step", "best_metric", "best_epoch", "bad_evals", "train_seconds", "history")
    return {k: ckpt[k] for k in keys}
