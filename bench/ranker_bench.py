"""Ranker quality and training time on Amazon Beauty and Toys_and_Games, beside published numbers.

For each dataset the project's pipeline builds the feature DB from the S3-Rec files into a temp
folder (``--workdir`` keeps it), then ``ranker.train.train`` runs with the default hyperparameters
(the same for every dataset) until validation NDCG@10 stops improving. The table shows the test
metrics of the best-validation checkpoint (full ranking: every item, history excluded, ties
against the target), the popularity baseline computed the same way, and the published full-ranking
numbers on the same files.

    python bench/ranker_bench.py                        # both datasets, 2 threads
    python bench/ranker_bench.py --datasets Beauty --threads 1 --max-minutes 5

Scoring throughput is ``bench/score_bench.py``'s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "amazon"

# HR@10 / NDCG@10, full ranking, from the sources named in shared/data/README.md.
PUBLISHED = {
    "Beauty": {
        "popularity (S3-Rec)": (0.0152, 0.0068),
        "SASRec BCE (S3-Rec)": (0.0605, 0.0318),
        "SASRec sampled softmax 256 (eSASRec)": (0.0921, 0.0531),
        "BSARec": (0.1008, 0.0611),
        "ICSRec": (0.0959, 0.0578),
    },
    "Toys_and_Games": {
        "popularity (S3-Rec)": (0.0113, 0.0061),
        "SASRec BCE (S3-Rec)": (0.0675, 0.0374),
        "SASRec sampled softmax 256 (eSASRec)": (0.0970, 0.0580),
        "ICSRec": (0.1055, 0.0657),
    },
}
COLUMNS = ("hr@5", "hr@10", "hr@20", "ndcg@5", "ndcg@10", "ndcg@20", "mrr")


def build_features(data_dir: Path, name: str, workdir: Path) -> float:
    """Run the project's pipeline on one S3-Rec dataset into ``workdir``; return seconds."""
    from pipelines.service import land_and_run

    t = time.perf_counter()
    land_and_run(workdir, "amazon", input_path=data_dir / f"{name}.txt",
                 attributes=data_dir / f"{name}_item2attributes.json")
    return time.perf_counter() - t


def train_bench(name: str, workdir: Path, threads: int, max_minutes: float,
                seed: int = 42, overrides: dict | None = None) -> dict:
    """Train with the defaults (and any ``overrides`` of TrainConfig fields, ``model`` merged)
    on a built feature DB; return the row of the results table."""
    import torch

    from ranker.train import TrainConfig, train

    torch.set_num_threads(threads)

    def progress(epoch, info):
        print(f"  {name} epoch {epoch:3d}  loss {info['loss']:.4f}  valid ndcg@10 "
              f"{info['ndcg@10']:.4f} (best {info['best']:.4f})  {info['seconds']:6.0f} s",
              file=sys.stderr, flush=True)

    cfg = TrainConfig(seed=seed, out_dir=str(workdir / f"ranker-seed{seed}"), resume=False,
                      max_minutes=max_minutes, **(overrides or {}))
    r = train(workdir, cfg, progress)
    return {
        "dataset": name, "seed": seed, "epochs": r.epochs, "best_epoch": r.best_epoch,
        "train_minutes": r.train_seconds / 60, "threads": threads,
        "valid": r.valid_metrics, "test": r.test_metrics, "popularity": r.popularity_test,
    }


def print_table(rows: list[dict]) -> None:
    head = f"{'dataset':<16} {'model':<38} {'epochs':>6} {'min':>6} " + " ".join(
        f"{c:>7}" for c in COLUMNS)
    print(head)
    print("-" * len(head))
    for r in rows:
        ds = f"{r['dataset']}/{r['seed']}"
        ep = f"{r['best_epoch']}/{r['epochs']}"
        print(f"{ds:<16} {'ours (test)':<38} {ep:>6} {r['train_minutes']:6.1f} "
              + " ".join(f"{r['test'][c]:7.4f}" for c in COLUMNS))
        print(f"{ds:<16} {'ours (valid)':<38} {'':>6} {'':>6} "
              + " ".join(f"{r['valid'][c]:7.4f}" for c in COLUMNS))
        print(f"{ds:<16} {'popularity (ours, test)':<38} {'':>6} {'':>6} "
              + " ".join(f"{r['popularity'][c]:7.4f}" for c in COLUMNS))
        for model, (hr10, ndcg10) in PUBLISHED.get(ds, {}).items():
            cells = {"hr@10": hr10, "ndcg@10": ndcg10}
            print(f"{ds:<16} {model:<38} {'':>6} {'':>6} "
                  + " ".join(f"{cells[c]:7.4f}" if c in cells else f"{'':>7}" for c in COLUMNS))
    print("epochs = best/trained (early stopping on validation NDCG@10); min = training minutes "
          "including validation; published rows give HR@10 / NDCG@10 only.")


# The bar of issue 19: the mean over 3 seeds, HR@10 / NDCG@10 (the best published results).
BAR = {"Beauty": (0.1008, 0.0611), "Toys_and_Games": (0.1055, 0.0657)}


def seed_summary(rows: list[dict]) -> list[str]:
    """Per dataset: test NDCG@10 and HR@10 as mean ± sd over its seeds, against the bar."""
    import statistics

    def sd(xs: list[float]) -> float:
        return statistics.stdev(xs) if len(xs) > 1 else 0.0

    lines = ["| dataset | seeds | test NDCG@10 mean ± sd | test HR@10 mean ± sd | minutes "
             "(mean, max) | bar NDCG / HR | met |", "|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == name]
        ndcg = [r["test"]["ndcg@10"] for r in mine]
        hr = [r["test"]["hr@10"] for r in mine]
        mins = [r["train_minutes"] for r in mine]
        bar_hr, bar_ndcg = BAR.get(name, (float("nan"), float("nan")))
        met = statistics.mean(ndcg) >= bar_ndcg and statistics.mean(hr) >= bar_hr
        lines.append(
            f"| {name} | {', '.join(str(r['seed']) for r in mine)} | "
            f"{statistics.mean(ndcg):.4f} ± {sd(ndcg):.4f} | {statistics.mean(hr):.4f} ± "
            f"{sd(hr):.4f} | {statistics.mean(mins):.1f}, {max(mins):.1f} | {bar_ndcg:.4f} / "
            f"{bar_hr:.4f} | {'yes' if met else 'no'} |")
    return lines


def parse_overrides(items: list[str]) -> dict:
    """``["lr_plateau=3", "model.d_model=128"]`` -> ``{"lr_plateau": 3, "model": {...}}``."""
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set wants KEY=JSON, not {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise SystemExit(f"--set {key}: {value!r} is not JSON") from None
        if key.startswith("model."):
            out.setdefault("model", {})[key[len("model."):]] = parsed
        else:
            out[key] = parsed
    return out


def describe(overrides: dict) -> str:
    """How the results table names the configuration that was trained."""
    if not overrides:
        return "Default configuration"
    flat = [f"{k}={json.dumps(v)}" for k, v in overrides.items() if k != "model"]
    flat += [f"model.{k}={json.dumps(v)}" for k, v in overrides.get("model", {}).items()]
    return "Candidate: the defaults with " + ", ".join(flat)


def main() -> None:
    """Parse arguments, build each dataset's features, train, print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder with the S3-Rec Amazon files")
    p.add_argument("--datasets", nargs="+", default=["Beauty", "Toys_and_Games"],
                   help="dataset names (<name>.txt and <name>_item2attributes.json in --data)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--max-minutes", type=float, default=0.0,
                   help="cap on training minutes per dataset (0 = until early stopping)")
    p.add_argument("--workdir", type=Path, help="keep feature DBs and checkpoints here")
    p.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    p.add_argument("--seeds", type=int, nargs="+", default=[42],
                   help="train once per seed; with several, the mean ± sd is appended to "
                        "bench/RESULTS.md")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=JSON",
                   help="a candidate instead of the defaults: a TrainConfig field (or model.FIELD "
                        "of RankerConfig) and its JSON value, e.g. lr_plateau=3; repeatable")
    args = p.parse_args()
    overrides = parse_overrides(args.overrides)

    rows = []
    with tempfile.TemporaryDirectory(prefix="ranker_bench_") as tmp:
        base = args.workdir or Path(tmp)
        for name in args.datasets:
            workdir = base / name
            secs = build_features(args.data, name, workdir)
            print(f"{name}: feature DB built in {secs:.1f} s", file=sys.stderr, flush=True)
            for seed in args.seeds:
                rows.append(train_bench(name, workdir, args.threads, args.max_minutes, seed,
                                        overrides))
    print_table(rows)
    if len(args.seeds) > 1:
        from bench import results

        summary = seed_summary(rows)
        print("\n".join(summary))
        results.append("ranker_bench.py", [
            f"{describe(overrides)}, {args.threads} threads; {results.machine()}; load "
            f"{results.load()}. Test metrics of each seed's best-validation checkpoint (full "
            "ranking, history excluded, ties against the target).", "", *summary, "",
            *(f"- {r['dataset']} seed {r['seed']}: test NDCG@10 {r['test']['ndcg@10']:.4f}, "
              f"HR@10 {r['test']['hr@10']:.4f}, best epoch {r['best_epoch']}/{r['epochs']}, "
              f"{r['train_minutes']:.1f} min" for r in rows)])
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
