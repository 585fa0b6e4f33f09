"""Does the refit help on the real next event? The hold-out check of issue 19, on Amazon data.

1. cut each user's real last event from ``<name>.txt`` (into a temp file; the shared data is
   read-only and never copied into the project);
2. run the project's pipeline and training on the rest: selection on validation, then the refit
   on every event for the selected number of epochs;
3. score every user from the whole remaining history with each model (the selected checkpoint
   and the refit) and the popularity baseline;
4. rank the cut event: full ranking against every item, the remaining history excluded, ties
   against the target (the same rule as ``ranker/evaluate.py``).

    python bench/refit_holdout.py --dataset Beauty
    python bench/refit_holdout.py --dataset Toys_and_Games --threads 2 --max-minutes 20

The table also shows each model's own test metric (the selection's protocol) beside its score on
the real next event, which is what a shop meets.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import results  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "amazon"


def cut_last_events(source: Path, target: Path) -> dict[int, int]:
    """Write ``source`` without each user's last item to ``target``; return user -> cut item."""
    cut = {}
    with source.open() as src, target.open("w") as out:
        for line in src:
            parts = line.split()
            if len(parts) < 3:  # a user needs events left after the cut
                out.write(line)
                continue
            cut[int(parts[0])] = int(parts[-1])
            out.write(" ".join(parts[:-1]) + "\n")
    return cut


def holdout_metrics(model, data, cut: dict[int, int], batch_size: int = 512) -> dict:
    """HR/NDCG@10 and MRR of each user's cut event, scored from the whole remaining history."""
    import torch

    from ranker import data as rdata
    from ranker.evaluate import metrics

    seqs, behs = rdata.full_histories(data)
    index = data.item_index()
    users = [u for u, uid in enumerate(data.user_ids) if int(uid) in cut]
    ranks = []
    with torch.no_grad():
        for lo in range(0, len(users), batch_size):
            batch = users[lo:lo + batch_size]
            x = rdata.left_pad([seqs[u] for u in batch], model.cfg.max_len)
            b = rdata.left_pad([behs[u] for u in batch], model.cfg.max_len)
            scores, _ = model(x, b)
            ranks.append(_ranks(scores, [index.get(cut[int(data.user_ids[u])], 0)
                                         for u in batch], [seqs[u] for u in batch]))
    return metrics(torch.cat(ranks), ks=(10,)) | {"users": len(users)}


def _ranks(scores, targets: list[int], history: list[np.ndarray]):
    """target_ranks, with an item the kept data never saw ranked last (a miss)."""
    import torch

    from ranker.evaluate import target_ranks

    t = torch.tensor(targets, dtype=torch.long)
    r = target_ranks(scores, t, history)
    return torch.where(t > 0, r, torch.full_like(r, scores.shape[1]))


def popularity_holdout(data, cut: dict[int, int]) -> dict:
    """The same ranking with every user's scores = item counts over every kept event."""
    import torch

    from ranker import data as rdata
    from ranker.evaluate import metrics

    seqs, _ = rdata.full_histories(data)
    counts = np.bincount(np.concatenate(seqs), minlength=data.n_items + 1).astype(np.float32)
    counts[0] = 0
    index = data.item_index()
    users = [u for u, uid in enumerate(data.user_ids) if int(uid) in cut]
    ranks = []
    for lo in range(0, len(users), 512):
        batch = users[lo:lo + 512]
        scores = torch.from_numpy(counts).expand(len(batch), -1).clone()
        ranks.append(_ranks(scores, [index.get(cut[int(data.user_ids[u])], 0) for u in batch],
                            [seqs[u] for u in batch]))
    return metrics(torch.cat(ranks), ks=(10,)) | {"users": len(users)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder with the S3-Rec Amazon files")
    p.add_argument("--dataset", default="Beauty", help="<name>.txt in --data")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="cap on selection's training minutes (0 = until early stopping)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workdir", type=Path, help="keep the feature DB and checkpoints here")
    args = p.parse_args()

    import torch

    from pipelines.service import land_and_run
    from ranker import data as rdata
    from ranker.checkpoint import load_checkpoint
    from ranker.train import TrainConfig, refit, train

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="refit_holdout_") as tmp:
        base = args.workdir or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        trimmed = base / f"{args.dataset}_without_last.txt"
        cut = cut_last_events(args.data / f"{args.dataset}.txt", trimmed)
        work = base / "work"
        t0 = time.perf_counter()
        land_and_run(work, "amazon", input_path=trimmed,
                     attributes=args.data / f"{args.dataset}_item2attributes.json")
        t_pipe = time.perf_counter() - t0

        def shown(epoch, info):
            print(f"  epoch {epoch:3d} loss {info['loss']:.4f}"
                  + (f" valid ndcg@10 {info['ndcg@10']:.4f}" if "ndcg@10" in info else "")
                  + f" {info['seconds']:6.0f} s", file=sys.stderr, flush=True)

        cfg = TrainConfig(seed=args.seed, out_dir=str(work / "ranker"), resume=False,
                          max_minutes=args.max_minutes)
        selected = train(work, cfg, shown)
        final = refit(work, cfg, selected.best_epoch, shown)
        data = rdata.load(work / "features.duckdb")
        rows = [("popularity", {}, popularity_holdout(data, cut))]
        for label, path, own in (("selected (train split)", selected.best_checkpoint,
                                  selected.test_metrics),
                                 ("refit (every event)", final.checkpoint, {})):
            model, _ = load_checkpoint(path)
            rows.append((label, own, holdout_metrics(model, data, cut)))

    head = (f"{'model':<24} {'own test ndcg@10':>17} {'next-event hr@10':>17} "
            f"{'ndcg@10':>8} {'mrr':>7}")
    lines = [f"Dataset {args.dataset}: {len(cut):,} users' last events cut; pipeline "
             f"{t_pipe:.0f} s; selection {selected.train_seconds / 60:.1f} min "
             f"(best epoch {selected.best_epoch} of {selected.epochs}), refit "
             f"{final.train_seconds / 60:.1f} min ({final.epochs} epochs), "
             f"{args.threads} threads, seed {args.seed}. {results.machine()}, load "
             f"{results.load()}.", "", "```", head, "-" * len(head)]
    for label, own, m in rows:
        own_ndcg = f"{own['ndcg@10']:.4f}" if own else "-"
        lines.append(f"{label:<24} {own_ndcg:>17} {m['hr@10']:>17.4f} {m['ndcg@10']:>8.4f} "
                     f"{m['mrr']:>7.4f}")
    lines += ["```", "", "Next-event columns rank each user's cut (real last) event against every "
              "item, the kept history excluded, from the whole kept history."]
    print("\n".join(lines))
    results.append("refit_holdout.py", lines)


if __name__ == "__main__":
    main()
