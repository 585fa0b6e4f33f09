"""Scoring throughput: the full scoring job against bare torch on the same model and users.

Floor: the same forward pass + matmul + top-k in bare torch over pre-built tensors, without
reading the feature DB, masking, writing Parquet or reporting. Measured rows:

- ``bare``: the floor;
- ``score``: ``ranker.score.score`` (load features, whole histories, mask seen items, top-k,
  write Parquet);
- ``score+catalog``: ``ranker.registry.score_and_report`` against an in-process catalog
  (resolve the model, check its sha256, fingerprint inputs and output, report the run).

    python bench/score_bench.py --dataset Beauty          # builds features + a 1-epoch model

Users/s and the ratio to the floor (target: overhead <= 1.3x). CUDA numbers come from the same
script on a GPU machine (``--device cuda``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "amazon"


def bare(checkpoint: Path, workdir: Path, k: int, batch_size: int, device: str) -> float:
    """Seconds for forward + matmul + top-k over every user's whole history, tensors prebuilt."""
    import torch

    from ranker import data as rdata
    from ranker.data import full_histories
    from ranker.train import load_checkpoint

    model, _ = load_checkpoint(checkpoint, device)
    data = rdata.load(workdir / "features.duckdb")
    seqs, behs = full_histories(data)
    seq = rdata.left_pad(seqs, model.cfg.max_len).to(device)
    beh = rdata.left_pad(behs, model.cfg.max_len).to(device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    with torch.no_grad():
        for lo in range(0, len(seqs), batch_size):
            s, _ = model(seq[lo:lo + batch_size], beh[lo:lo + batch_size])
            torch.topk(s, k, dim=1)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="Beauty")
    p.add_argument("--data", type=Path, default=DATA, help="folder of the Amazon files")
    p.add_argument("--workdir", type=Path, help="reuse a built feature DB + checkpoint here")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    import torch

    from catalog import db
    from catalog.app import create_app
    from pipelines.report import Reporter
    from pipelines.service import land_and_run
    from ranker.registry import score_and_report, train_and_register
    from ranker.score import score
    from ranker.train import TrainConfig
    from tests.authutil import mint_token
    from tests.wsgi_client import in_process_client

    torch.set_num_threads(args.threads)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="score_bench_"))
    url = f"sqlite:///{workdir}/catalog.db"
    db.upgrade(url)
    app = create_app({"database_url": url})
    client = in_process_client(app, token=mint_token(app, "admin", name="score-bench"))
    if not (workdir / "features.duckdb").exists():
        land_and_run(workdir, "amazon", reporter=Reporter(client),
                     input_path=args.data / f"{args.dataset}.txt",
                     attributes=args.data / f"{args.dataset}_item2attributes.json")
    _, version = train_and_register(workdir, TrainConfig(max_epochs=1, resume=False), client)
    ckpt = Path(version["artifactPath"])

    rows = []
    for _ in range(args.repeats):
        t_bare = bare(ckpt, workdir, args.top_k, args.batch_size, args.device)
        r = score(workdir, ckpt, workdir / "recs.parquet", k=args.top_k,
                  batch_size=args.batch_size, device=args.device)
        t = time.perf_counter()
        score_and_report(workdir, "ranker", client, k=args.top_k, batch_size=args.batch_size)
        t_full = time.perf_counter() - t
        rows.append((r.users, t_bare, r.seconds, t_full))
    users = rows[0][0]
    best = [min(x[i] for x in rows) for i in (1, 2, 3)]
    print(f"{args.dataset}: {users} users, top-{args.top_k}, device {args.device}, "
          f"{args.threads} threads, best of {args.repeats}")
    print(f"{'mode':<16} {'seconds':>8} {'users/s':>9} {'vs bare':>8}")
    for name, sec in zip(("bare", "score", "score+catalog"), best, strict=True):
        print(f"{name:<16} {sec:8.2f} {users / sec:9.0f} {sec / best[0]:7.2f}x")


if __name__ == "__main__":
    main()
