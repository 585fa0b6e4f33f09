"""Train the ranker on a feature DB, early-stopping on validation NDCG@10, resumably.

    result = train(workdir, TrainConfig())   # select: reads workdir/features.duckdb
    final = refit(workdir, TrainConfig(), result.best_epoch)   # learn from every event

Selection trains on the train split and picks the epoch by validation NDCG@10; the refit then
trains a fresh model for that many epochs on every event (train, valid and test), so the version
that serves has seen each user's newest events. ``train_processes`` runs either phase on several
processes under torchrun (DistributedDataParallel; same global batch).

Reproducible: every epoch reseeds torch from (seed, epoch), so the same seed and data give the same
weights on CPU, and a run resumed from its last checkpoint continues exactly as if uninterrupted.
The test split is evaluated once, on the best checkpoint, after training.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
import numpy as np
import torch

from ranker import data as rdata
from ranker import distributed
from ranker.checkpoint import load_checkpoint
from ranker.evaluate import evaluate, popularity
from ranker.model import RankerConfig, SeqRanker, config_from

METRIC = "ndcg@10"  # the validation metric that picks the best checkpoint


@dataclass
class TrainConfig:
    """Optimisation and early stopping; ``model`` overrides RankerConfig's defaults by name."""

    seed: int = 42  # seeds initialisation, shuffling and dropout
    max_epochs: int = 200  # hard cap on epochs
    batch_size: int = 128  # users per step
    lr: float = 1e-3  # Adam learning rate
    # AdamW's decoupled weight decay: it holds the default width (128) back from overfitting
    # (Beauty's validation NDCG@10 .0759 -> .0775 at seed 42; bench/RESULTS.md).
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # max gradient norm (0 = off)
    eval_every: int = 1  # epochs between validation evaluations (and checkpoints)
    patience: int = 10  # evaluations without validation improvement before stopping
    # Every `lr_plateau` evaluations in a row without improvement the learning rate is
    # multiplied by `lr_factor` (0 = constant rate); the refit replays the selection's rates.
    # 3 seeds each (bench/RESULTS.md): Beauty NDCG@10 .0579 -> .0593, Toys .0656 -> .0673.
    lr_plateau: int = 3
    lr_factor: float = 0.5
    # Decay of an exponential moving average of the weights (0 = off): the average is what is
    # evaluated, saved as the checkpoints' model and registered; training goes on from the raw
    # weights (kept beside it for resuming). The refit averages alike.
    ema: float = 0.0
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
    world_size: int = 1  # processes that trained it (DDP under torchrun)
    refit: RefitResult | None = None  # set by the caller that refits after selection

    @property
    def artifact(self) -> Path:
        """The checkpoint to register: the refit's when there was one, else the selected one."""
        return self.refit.checkpoint if self.refit else self.best_checkpoint


@dataclass
class RefitResult:
    """What a refit on every event produced."""

    checkpoint: Path  # <out>/refit/model.pt
    epochs: int  # the selected number of epochs
    train_seconds: float
    examples: int  # next-item targets trained on per epoch (all splits)
    world_size: int = 1


def train(workdir: Path, cfg: TrainConfig, progress=None) -> TrainResult | None:
    """Select: train on the train split, early-stopping on validation NDCG@10.

    ``progress(epoch, info)`` is called after each evaluation. Under ``torchrun`` (DDP, see
    :func:`_train_epoch`) every rank trains and evaluates, rank 0 alone writes checkpoints and
    evaluates test, and only rank 0 returns the result (the others None).
    """
    rank, world = distributed.world()
    s = _Setup(workdir, cfg, cfg.out_dir or Path(workdir) / "ranker")
    examples = rdata.training_examples(s.data, s.model_cfg.max_len)

    state = {"epoch": 0, "step": 0, "best_metric": -1.0, "best_epoch": 0, "bad_evals": 0,
             "train_seconds": 0.0, "history": []}
    if cfg.resume and (s.out / "last.pt").exists():
        last = s.out / "last.pt"
        state = _restore(torch.load(last, map_location="cpu", weights_only=False), last, s,
                         _LOOP_KEYS)

    started = time.perf_counter() - state["train_seconds"]
    while state["epoch"] < cfg.max_epochs and state["bad_evals"] < cfg.patience:
        lr = s.opt.param_groups[0]["lr"]  # the rate of this epoch (a plateau lowers it after)
        loss = _train_epoch(s, examples, cfg, state)
        state["epoch"] += 1
        if state["epoch"] % cfg.eval_every and state["epoch"] < cfg.max_epochs:
            continue
        with averaged(s):
            valid = evaluate(s.model, s.data, "valid", cfg.eval_batch_size, s.device)
        state["train_seconds"] = time.perf_counter() - started
        # Every rank holds the same weights, so the same metrics; rank 0's decisions (and
        # clock) are the ones all ranks follow, so none waits on a collective the others left.
        improved, out_of_time = distributed_decision(
            rank, world, valid[METRIC] > state["best_metric"],
            bool(cfg.max_minutes) and state["train_seconds"] > 60 * cfg.max_minutes)
        if improved:
            state.update(best_metric=valid[METRIC], best_epoch=state["epoch"], bad_evals=0)
        else:
            state["bad_evals"] += 1
            if cfg.lr_plateau and state["bad_evals"] % cfg.lr_plateau == 0:
                for group in s.opt.param_groups:
                    group["lr"] *= cfg.lr_factor
        state["history"].append({"epoch": state["epoch"], "loss": loss, "lr": lr, "valid": valid})
        if rank == 0:
            ckpt = _checkpoint(s, cfg, state, world)
            _atomic_save(ckpt, s.out / "last.pt")
            if improved:
                _atomic_save(ckpt, s.out / "best.pt")
        if progress:
            progress(state["epoch"], {"loss": loss, **valid, "best": state["best_metric"],
                                      "seconds": state["train_seconds"]})
        if out_of_time:
            break

    if world > 1:
        torch.distributed.barrier()  # every rank is past its last collective before any leaves
    if rank != 0:
        return None
    best, best_ckpt = load_checkpoint(s.out / "best.pt", s.device)
    return TrainResult(
        best_checkpoint=s.out / "best.pt",
        valid_metrics=best_ckpt["history"][-1]["valid"],
        test_metrics=(evaluate(best, s.data, "test", cfg.eval_batch_size, s.device) if cfg.test
                      else {}),
        epochs=state["epoch"],
        best_epoch=state["best_epoch"],
        train_seconds=state["train_seconds"],
        popularity_test=popularity(s.data, "test") if cfg.test else {},
        history=state["history"],
        world_size=world,
    )


def refit(workdir: Path, cfg: TrainConfig, epochs: int, progress=None,
          lrs: list[float] | None = None) -> RefitResult | None:
    """Refit: a fresh model (same seed and configuration) trained for ``epochs`` epochs on
    EVERY event the pipeline holds, the valid and test events included, with no evaluation.

    Model selection (:func:`train`) chose ``epochs`` on validation; the version that serves then
    learns from each user's newest events too. Checkpoints go to ``<out>/refit/`` (``last.pt``
    after every epoch, resumable; ``model.pt`` at the end). ``progress(epoch, info)`` after each
    epoch. ``lrs`` (one per epoch, :func:`rates`) replays the selection's learning rates when a
    plateau lowered them. Under ``torchrun`` only rank 0 writes and returns the result.
    """
    if epochs < 1:
        raise ValueError(f"a refit needs at least one epoch, not {epochs}")
    if lrs is not None and len(lrs) != epochs:
        raise ValueError(f"a refit of {epochs} epochs needs as many learning rates, "
                         f"not {len(lrs)}")
    rank, world = distributed.world()
    s = _Setup(workdir, cfg, (Path(cfg.out_dir) if cfg.out_dir else Path(workdir) / "ranker")
               / "refit")
    examples = rdata.training_examples(s.data, s.model_cfg.max_len, every_event=True)
    state = {"epoch": 0, "step": 0, "train_seconds": 0.0, "refit_epochs": epochs}
    last = s.out / "last.pt"
    if cfg.resume and last.exists():
        saved = torch.load(last, map_location="cpu", weights_only=False)
        if saved.get("refit", {}).get("epochs") == epochs:
            state = {**_restore(saved, last, s, ("epoch", "step", "train_seconds")),
                     "refit_epochs": epochs}
    started = time.perf_counter() - state["train_seconds"]
    while state["epoch"] < epochs:
        if lrs is not None:
            for group in s.opt.param_groups:
                group["lr"] = lrs[state["epoch"]]
        loss = _train_epoch(s, examples, cfg, state)
        state["epoch"] += 1
        state["train_seconds"] = time.perf_counter() - started
        if rank == 0:
            _atomic_save(_checkpoint(s, cfg, state, world, refit=True), last)
        if progress:
            progress(state["epoch"], {"loss": loss, "seconds": state["train_seconds"]})
    if world > 1:
        torch.distributed.barrier()
    if rank != 0:
        return None
    final = s.out / "model.pt"
    ckpt = _checkpoint(s, cfg, state, world, refit=True)
    for key in ("optimizer_state", "training_state", "ema_state"):
        ckpt.pop(key, None)  # the served artifact (the average, if any): nothing left to resume
    _atomic_save(ckpt, final)
    return RefitResult(checkpoint=final, epochs=epochs, train_seconds=state["train_seconds"],
                       examples=int((examples[3] > 0).sum()), world_size=world)


def rates(history: list[dict], epochs: int, lr: float) -> list[float]:
    """The learning rate of each of the first ``epochs`` epochs of a selection run, from its
    history (one entry per evaluation, with the rate used since the one before; entries from
    before plateaus were recorded carry none: the constant ``lr``)."""
    out = []
    for epoch in range(1, epochs + 1):
        entry = next((h for h in history if h["epoch"] >= epoch), None)
        out.append(entry.get("lr", lr) if entry else (history[-1].get("lr", lr) if history
                                                       else lr))
    return out


def distributed_decision(rank: int, world: int, *flags: bool) -> tuple[bool, ...]:
    """The flags as rank 0 sees them, on every rank (as given with one process)."""
    if world == 1:
        return flags
    t = torch.tensor([int(f) for f in flags], dtype=torch.int64)
    torch.distributed.broadcast(t, src=0)
    return tuple(bool(v) for v in t.tolist())


# --- helpers, in the order train() uses them -------------------------------------------------

_LOOP_KEYS = ("epoch", "step", "best_metric", "best_epoch", "bad_evals", "train_seconds",
              "history")


class _Setup:
    """What both phases build first: device, data, model (DDP-wrapped under torchrun), optimizer."""

    def __init__(self, workdir: Path, cfg: TrainConfig, out: Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        rank, self.world = distributed.world()
        self.rank = rank
        if cfg.device:
            self.device = torch.device(cfg.device)
        elif torch.cuda.is_available():
            self.device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
                                       if self.world > 1 else "cuda")
        else:
            self.device = torch.device("cpu")
        self.data = rdata.load(Path(workdir) / "features.duckdb")
        self.model_cfg = model_config(self.data, cfg.model)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.model = SeqRanker(self.model_cfg, side_tensors(self.data)).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.98),
                                     weight_decay=cfg.weight_decay)
        self.ema = WeightAverage(self.model, cfg.ema) if cfg.ema else None
        self.net = self.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)


def model_config(data: rdata.SeqData, overrides: dict) -> RankerConfig:
    """RankerConfig sized to the data's vocabularies, with the given hyperparameter overrides."""
    return RankerConfig(n_items=data.n_items, n_behaviors=len(data.behaviors) + 1,
                        **data.side.sizes, **overrides)


def side_tensors(data: rdata.SeqData) -> dict[str, torch.Tensor]:
    s = data.side
    return {"attributes": s.attributes, "category": s.category, "brand": s.brand,
            "price_bucket": s.price_bucket, "dense": s.dense}


def _train_epoch(s: _Setup, examples, cfg: TrainConfig, state: dict) -> float:
    """One pass over the users in a (seed, epoch)-determined order; returns the mean loss.

    With W ranks (DDP) every rank draws the same batches and trains on every W-th user of each;
    its mean loss is weighted by its share of the batch's targets, so the gradient DDP averages
    is the one a single process computes on the whole batch (the global batch stays
    ``cfg.batch_size``). Batches with fewer users than ranks are skipped by all.
    """
    _, inputs, beh, targets = examples
    torch.manual_seed(cfg.seed * 100_003 + state["epoch"])  # dropout and sampled negatives
    s.model.train()
    total, n = 0.0, 0
    for idx in _batches(targets, cfg.batch_size):
        if len(idx) < s.world:
            continue
        x, b, y = _crop(inputs[idx], beh[idx], targets[idx])
        share = 1.0
        if s.world > 1:
            positions = int((y > 0).sum())
            x, b, y = x[s.rank::s.world], b[s.rank::s.world], y[s.rank::s.world]
            share = int((y > 0).sum()) * s.world / positions
        _, loss = s.net(x.to(s.device), b.to(s.device), y.to(s.device))
        s.opt.zero_grad(set_to_none=True)
        (loss * share).backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(s.model.parameters(), cfg.grad_clip)
        s.opt.step()
        if s.ema is not None:
            s.ema.update()
        state["step"] += 1
        total, n = total + loss.item() * share / s.world, n + 1
    if s.world > 1:  # the batch's loss is the sum of the ranks' weighted parts
        t = torch.tensor([total], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        total = float(t)
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


def _checkpoint(s: _Setup, cfg: TrainConfig, state: dict, world: int, *,
                refit: bool = False) -> dict:
    keys = ("epoch", "step", "train_seconds") if refit else _LOOP_KEYS[:-1]
    ckpt = {
        "model_config": asdict(s.model_cfg),
        "train_config": asdict(cfg),
        "metric": METRIC,
        **{k: state[k] for k in keys},
        "history": [] if refit else list(state["history"]),
        "world_size": world,
        "item_ids": torch.from_numpy(s.data.item_ids),  # item index i+1 -> source item id
        "behaviors": list(s.data.behaviors),  # behaviour index b+1 -> name
        "side": side_tensors(s.data),
        "model_state": _state(s.model),
        "optimizer_state": s.opt.state_dict(),
    }
    if s.ema is not None:  # the model is the average; training resumes from the raw weights
        with averaged(s):
            ckpt["model_state"] = _state(s.model)
        ckpt["training_state"] = _state(s.model)
        ckpt["ema_state"] = s.ema.state_dict()
    if refit:
        ckpt["refit"] = {"epochs": state["refit_epochs"], "splits": list(rdata.SPLITS)}
    return ckpt


class WeightAverage:
    """An exponential moving average of a model's parameters, updated after every step.

    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so the
    random initial weights are forgotten within the first epoch. Every DDP rank holds the same
    weights after each step, so the same average.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema must lie between 0 and 1, not {decay}")
        self.decay, self.updates = decay, 0
        self.params = list(model.parameters())
        self.average = [p.detach().clone() for p in self.params]

    def update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - d)

    def swap(self) -> None:
        """Exchange the model's parameters with the average (twice restores them)."""
        with torch.no_grad():
            for p, a in zip(self.params, self.average, strict=True):
                tmp = p.detach().clone()
                p.copy_(a)
                a.copy_(tmp)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates,
                "average": [a.detach().cpu().clone() for a in self.average]}

    def load_state_dict(self, saved: dict) -> None:
        self.updates = saved["updates"]
        with torch.no_grad():
            for a, v in zip(self.average, saved["average"], strict=True):
                a.copy_(v)


@contextmanager
def averaged(s: _Setup):
    """The model holds the weight average inside (when there is one)."""
    if s.ema is None:
        yield
        return
    s.ema.swap()
    try:
        yield
    finally:
        s.ema.swap()


def _state(model: torch.nn.Module) -> dict:
    """A copy of the model's state (not views of parameters that change afterwards)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _restore(ckpt: dict, path: Path, s: _Setup, keys) -> dict:
    """Load model and optimizer from ``path``'s checkpoint ``ckpt`` (a last.pt of the same model
    and data); return the loop state."""
    if not np.array_equal(ckpt["item_ids"].numpy(), s.data.item_ids):
        raise ValueError(f"{path} was trained on a different item catalogue; remove it to restart")
    if config_from(ckpt["model_config"]) != s.model_cfg:
        raise ValueError(f"{path} holds a different model configuration; remove it to restart")
    if (s.ema is not None) != ("ema_state" in ckpt):
        raise ValueError(f"{path} was trained {'with' if 'ema_state' in ckpt else 'without'} a "
                         "weight average and this run is not; remove it to restart")
    s.model.load_state_dict(ckpt.get("training_state", ckpt["model_state"]))
    s.opt.load_state_dict(ckpt["optimizer_state"])
    if s.ema is not None:
        s.ema.load_state_dict(ckpt["ema_state"])
    return {k: ckpt[k] for k in keys}


# --- several processes ---------------------------------------------------------------------

def train_processes(workdir: Path, cfg: TrainConfig, processes: int = 1, *,
                    refit_epochs: int | None = None, refit_lrs: list[float] | None = None,
                    progress=None,
                    timeout: float | None = None) -> TrainResult | RefitResult:
    """:func:`train` (or, given ``refit_epochs``, :func:`refit`) on ``processes`` DDP ranks.

    One process calls the function directly (with ``progress``); several run under
    ``torchrun`` (gloo on CPU, NCCL on GPUs), and this process waits, then reads rank 0's
    result. Raises :class:`RuntimeError` if any rank fails (torchrun stops the others).
    """
    if processes < 2:
        if refit_epochs is not None:
            return refit(workdir, cfg, refit_epochs, progress, refit_lrs)
        return train(workdir, cfg, progress)
    out = Path(cfg.out_dir) if cfg.out_dir else Path(workdir) / "ranker"
    out.mkdir(parents=True, exist_ok=True)
    phase = "refit" if refit_epochs is not None else "select"
    config, result = out / f"{phase}.config.json", out / f"{phase}.result.json"
    config.write_text(json.dumps(asdict(cfg)))
    result.unlink(missing_ok=True)
    args = ["--workdir", str(workdir), "--config", str(config), "--result-json", str(result)]
    if refit_epochs is not None:
        args += ["--refit-epochs", str(refit_epochs)]
        if refit_lrs is not None:
            args += ["--refit-lrs", json.dumps(refit_lrs)]
    distributed.launch("ranker.train", args, processes, what=f"training ({phase})",
                       timeout=timeout)
    if not result.exists():
        raise RuntimeError(f"training ({phase}) with {processes} processes wrote no result")
    fields_ = json.loads(result.read_text())
    result.unlink()
    config.unlink(missing_ok=True)
    if refit_epochs is not None:
        return RefitResult(**{**fields_, "checkpoint": Path(fields_["checkpoint"])})
    return TrainResult(**{**fields_, "best_checkpoint": Path(fields_["best_checkpoint"])})


@click.command("ranker.train")
@click.option("--workdir", type=click.Path(path_type=Path), required=True,
              help="Folder holding features.duckdb.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True,
              help="JSON of every TrainConfig field.")
@click.option("--refit-epochs", type=click.IntRange(min=1),
              help="Refit on every event for this many epochs instead of selecting.")
@click.option("--refit-lrs", help="JSON list: the learning rate of each refit epoch.")
@click.option("--result-json", type=click.Path(path_type=Path), required=True,
              help="Rank 0 writes its TrainResult (or RefitResult) here as JSON.")
def main(workdir, config_path, refit_epochs, refit_lrs, result_json) -> None:
    """``torchrun --nproc_per_node N -m ranker.train ...``: one DDP rank of a training run."""
    cfg = TrainConfig(**json.loads(config_path.read_text()))
    if refit_epochs is not None:
        result = refit(workdir, cfg, refit_epochs,
                       lrs=json.loads(refit_lrs) if refit_lrs else None)
    else:
        result = train(workdir, cfg)
    if result is not None:
        fields_ = asdict(result)
        for key in ("best_checkpoint", "checkpoint"):
            if key in fields_:
                fields_[key] = str(fields_[key])
        tmp = result_json.with_suffix(".tmp")
        tmp.write_text(json.dumps(fields_))
        tmp.replace(result_json)
    distributed.leave()


if __name__ == "__main__":
    main(prog_name="ranker.train")
