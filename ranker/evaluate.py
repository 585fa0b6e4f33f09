"""Leave-one-out evaluation against the whole catalogue, and the popularity baseline.

The target is ranked against ALL items except padding and the user's history (the items the user
had before the target; the target itself is never excluded, so a repeat purchase stays rankable).
Ties count against the target: rank = 1 + #items scoring higher + #other items scoring equal.

Each user has exactly one held-out target (|targets| = 1), and the top-K list holds it when its
rank r <= K (hits = 1, else 0). Per user, then averaged over users:

    HR@K        = hits
    NDCG@K      = hits / log2(r + 1)          (the ideal DCG of one target is 1)
    precision@K = hits / K
    recall@K    = hits / |targets|            (= HR@K with one target)
    F1@K        = 2 P R / (P + R), 0 without a hit   (= 2 / (K + 1) on a hit)
    MRR         = 1 / r                       (no cut-off)
"""

from __future__ import annotations

import numpy as np
import torch

from ranker.data import SeqData, eval_examples, item_counts

KS = (5, 10, 20)


def target_ranks(scores: torch.Tensor, targets: torch.Tensor,
                 history: list[np.ndarray]) -> torch.Tensor:
    """1-based rank of each target among the eligible items (B,) from scores (B, N+1)."""
    eligible = torch.ones_like(scores, dtype=torch.bool)  # (B, N+1)
    eligible[:, 0] = False
    for r, items in enumerate(history):
        if len(items):
            eligible[r, torch.as_tensor(items, dtype=torch.long)] = False
    rows = torch.arange(len(targets))
    eligible[rows, targets] = True
    t = scores[rows, targets].unsqueeze(1)  # (B, 1)
    higher = ((scores > t) & eligible).sum(1)  # (B,)
    equal = ((scores == t) & eligible).sum(1) - 1  # (B,) other items tied with the target
    return 1 + higher + equal


def metrics(ranks: torch.Tensor, ks=KS) -> dict[str, float]:
    """HR, NDCG, precision, recall and F1 at each K, and MRR, averaged over users.

    ``ranks`` (U,) are the targets' ranks from :func:`target_ranks`; the definitions are in the
    module's docstring.
    """
    r = ranks.double()
    n_targets = 1  # held-out targets per user under leave-one-out
    out: dict[str, float] = {}
    for k in ks:
        hits = (r <= k).double()  # (U,) 1 or 0
        precision, recall = hits / k, hits / n_targets  # (U,), (U,)
        f1 = torch.where(hits > 0, 2 * precision * recall / (precision + recall), 0.0)  # (U,)
        out[f"hr@{k}"] = hits.mean().item()
        out[f"ndcg@{k}"] = (hits / torch.log2(r + 1)).mean().item()
        out[f"precision@{k}"] = precision.mean().item()
        out[f"recall@{k}"] = recall.mean().item()
        out[f"f1@{k}"] = f1.mean().item()
    out["mrr"] = (1 / r).mean().item()
    out["users"] = float(len(r))
    return out


def metric_changes(source: dict[str, float], derived: dict[str, float]) -> dict[str, dict]:
    """Per metric of both: the source's value, the derived model's, and the change.

    ``absolute`` = derived - source; ``relative`` = absolute / source (None when source is 0).
    """
    out = {}
    for key in sorted(source.keys() & derived.keys()):
        old, new = source[key], derived[key]
        out[key] = {"source": old, "derived": new, "absolute": new - old,
                    "relative": (new - old) / old if old else None}
    return out


@torch.no_grad()
def evaluate(model, data: SeqData, split: str, batch_size: int = 256,
             device: str | torch.device = "cpu") -> dict[str, float]:
    """Metrics of ``model`` predicting each user's ``split`` ('valid' or 'test') event."""
    was_training = model.training
    model.eval()
    _, inputs, beh, targets, history = eval_examples(data, split, model.cfg.max_len)
    # Batches of similar length waste little on padding; ranks go back to user order after.
    order = torch.argsort((inputs > 0).sum(1), stable=True)
    ranks = torch.zeros(len(targets), dtype=torch.long)
    for lo in range(0, len(order), batch_size):
        idx = order[lo:lo + batch_size]
        seq = _crop(inputs[idx]).to(device)
        b = beh[idx][:, -seq.shape[1]:].to(device)
        scores, _ = model(seq, b)  # (B, N+1)
        ranks[idx] = target_ranks(scores.float().cpu(), targets[idx],
                                  [history[i] for i in idx.tolist()])
    model.train(was_training)
    return metrics(ranks)


def popularity(data: SeqData, split: str) -> dict[str, float]:
    """The popularity baseline: every user gets items ordered by their number of train events."""
    _, _, _, targets, history = eval_examples(data, split, 1)
    counts = item_counts(data)  # (N+1,)
    ranks = []
    for lo in range(0, len(targets), 4096):
        hi = lo + 4096
        scores = counts.expand(len(targets[lo:hi]), -1)  # (B, N+1)
        ranks.append(target_ranks(scores, targets[lo:hi], history[lo:hi]))
    return metrics(torch.cat(ranks))


def _crop(seq: torch.Tensor) -> torch.Tensor:
    """Drop the leading columns that are padding in every row (left-padded batches)."""
    used = (seq > 0).any(0).nonzero()
    start = int(used[0]) if len(used) else seq.shape[1] - 1
    return seq[:, start:]
