"""Online serving latency: ``catalog ranker serve`` at a fixed request rate against a bare forward.

At Beauty's size (the real file beside the clone: 22,363 users, 12,101 items): the feature
pipeline runs once, a model trains for one epoch (the default shape: d_model 128 since
2026-12-07, 64 before, which the README's numbers were measured with; 2 blocks, 50 events)
and is registered and promoted; then, in the same run, for the trained version and for its
int8 compression (``ranker.registry.compress_and_register``):

* ``bare``: in this process, one thread, the served user's history already as arrays: forward
  pass, scores over every item, seen items masked, top-k (``ranker.score.top_k``, what a request
  calls) — back to back, one user at a time: the floor;
* ``http``: ``bench/serve_floor_app.py``, the same Flask + gunicorn stack answering a list of
  the same shape with no model behind it, under the same load: the HTTP floor;
* ``serve``: ``catalog ranker serve`` (gunicorn, one gthread worker with 4 threads, one torch
  thread per request, the journal fsynced before each answer as by default) answering
  ``GET /recommendations?user=U&k=10`` at ``--rate`` requests per second, open loop (each
  request sent at its scheduled time by a pool of client threads with keep-alive sessions),
  for ``--seconds``. Latency is from send to full answer; ``late`` counts requests that left
  more than 5 ms after their scheduled time (the client falling behind, which would hide
  queueing).

Targets (issue 20): serve p95 <= 20 ms, and serve p50 over bare p50 <= 1.5x.

    python bench/serve_bench.py                      # Beauty, 100 req/s for 30 s, both models
    python bench/serve_bench.py --no-fsync           # the journal not fsynced (a variant)

Appends its table to ``bench/RESULTS.md`` unless ``--no-append``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import results as rmd  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "amazon"


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def bare(checkpoint: Path, histories, users: list[int], k: int) -> list[float]:
    """Milliseconds per user: the served computation alone (one thread, back to back)."""
    import numpy as np
    import torch

    from ranker.checkpoint import load_checkpoint
    from ranker.score import top_k

    torch.set_num_threads(1)
    model, ckpt = load_checkpoint(checkpoint)
    index = {int(i): n + 1 for n, i in enumerate(ckpt["item_ids"].numpy().tolist())}
    behaviour = {b: n + 1 for n, b in enumerate(ckpt["behaviors"])}
    prepared = []
    for u in users:
        items, behs = histories.of(u)
        prepared.append((np.array([index[i] for i in items if i in index], dtype=np.int64),
                         np.array([behaviour.get(b, 0) for i, b in zip(items, behs, strict=True)
                                   if i in index], dtype=np.int64)))
    for seq, beh in prepared[:20]:  # warm-up
        top_k(model, [seq], [beh], k)
    out = []
    for seq, beh in prepared:
        t = time.perf_counter()
        top_k(model, [seq], [beh], k)
        out.append(1000 * (time.perf_counter() - t))
    return out


def serve_load(url: str, users: list[int], rate: float, seconds: float, k: int,
               threads: int = 8) -> dict:
    """Open-loop load at ``rate`` req/s; latencies (ms), errors, requests that left late."""
    n = int(rate * seconds)
    plan = [users[i % len(users)] for i in range(n)]
    lat: list[float] = []
    late = errors = 0
    lock = threading.Lock()
    local = threading.local()
    start = time.perf_counter() + 0.2

    def one(i: int) -> None:
        nonlocal late, errors
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        sent = time.perf_counter()
        try:
            r = session.get(f"{url}/recommendations", params={"user": plan[i], "k": k},
                            timeout=30)
            ok = r.status_code == 200 and len(r.json()["items"]) == k
        except requests.RequestException:
            ok = False
        took = 1000 * (time.perf_counter() - sent)
        with lock:
            if ok:
                lat.append(took)
            else:
                errors += 1
            if sent - due > 0.005:
                late += 1

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - t0 - 0.2
    return {"latencies": lat, "errors": errors, "late": late, "achieved": n / wall}


class Server:
    """A server on a free port in its own process group; ready once ``/readyz`` answers 200."""

    def __init__(self, cmd_for_port, log: Path, env: dict | None = None):
        from tests.live_server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(cmd_for_port(self.port), cwd=ROOT, stdout=self.log,
                                     stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                     start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.url} did not start; see {log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to the group: a serving process flushes its journal first."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=120)
        self.log.close()


def floor_server(log: Path) -> Server:
    """``bench/serve_floor_app.py`` under the same gunicorn settings: the HTTP floor."""
    return Server(lambda port: [
        sys.executable, "-m", "gunicorn", "--chdir", str(ROOT / "bench"), "-w", "1", "-k",
        "gthread", "--threads", "4", "-b", f"127.0.0.1:{port}", "serve_floor_app:app"], log)


def serving(model: str, workdir: Path, catalog: str, token: str, fsync: bool,
            log: Path) -> Server:
    """``catalog ranker serve`` of ``model`` (one gthread worker, 4 threads, 1 torch thread)."""
    return Server(lambda port: [
        sys.executable, "-m", "recocatalog.cli", "ranker", "serve", "--model", model,
        "--workdir", str(workdir), "--data-dir", str(workdir / f"serving-{port}"),
        "--port", str(port), "--catalog-url", catalog, "--poll-seconds", "0",
        "--threads", "4", "--torch-threads", "1", *([] if fsync else ["--no-fsync"])],
        log, {"CATALOG_TOKEN": token})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="Beauty")
    p.add_argument("--data", type=Path, default=DATA, help="folder of the Amazon files")
    p.add_argument("--workdir", type=Path, help="reuse a built feature DB here")
    p.add_argument("--rate", type=float, default=100.0, help="requests per second")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--no-fsync", action="store_true", help="serve without fsyncing the journal")
    p.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = p.parse_args()

    from pipeline_bench import catalog_server

    from catalog.client import CatalogClient
    from pipelines.report import Reporter
    from pipelines.service import land_and_run
    from ranker.registry import compress_and_register, train_and_register
    from ranker.serve.model import Histories
    from ranker.train import TrainConfig

    load_before = rmd.load()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="serve_bench_"))
    tmp = Path(tempfile.mkdtemp(prefix="serve_bench_catalog_"))
    rows = []
    with catalog_server(tmp) as (base, _pid, token):
        client = CatalogClient(base, token=token, timeout=120)
        if not (workdir / "features.duckdb").exists():
            land_and_run(workdir, "amazon", reporter=Reporter(client),
                         input_path=args.data / f"{args.dataset}.txt",
                         attributes=args.data / f"{args.dataset}_item2attributes.json")
        trained, version = train_and_register(
            workdir, TrainConfig(max_epochs=1, resume=False, threads=2), client)
        client.put("api/v1/models/ranker/aliases/production", {"version": version["version"]})
        _, int8 = compress_and_register(workdir, "ranker@production", client, method="int8",
                                        users=2000)
        histories = Histories.from_features(workdir / "features.duckdb")
        rng = random.Random(11)
        known = sorted(histories.items)
        users = [rng.choice(known) for _ in range(int(args.rate * args.seconds))]
        n_items = len(histories.catalogue)
        floor_app = floor_server(tmp / "floor.log")
        try:
            serve_load(floor_app.url, users[:200], 20, 5, args.k)  # warm-up
            http = serve_load(floor_app.url, users, args.rate, args.seconds, args.k)
        finally:
            floor_app.stop()
        for label, v in (("trained", version), ("int8", int8)):
            floor = bare(Path(v["artifactPath"]), histories, users[:2000], args.k)
            server = serving(f"ranker@{v['version']}", workdir, base, token,
                             not args.no_fsync, tmp / "serve.log")
            try:
                serve_load(server.url, users[:200], 20, 5, args.k)  # warm-up
                load = serve_load(server.url, users, args.rate, args.seconds, args.k)
            finally:
                server.stop()
            rows.append((label, v["version"], floor, load))
            print(f"  {label}: bare p50 {statistics.median(floor):.2f} ms, serve p50 "
                  f"{statistics.median(load['latencies']):.2f} ms", file=sys.stderr)
        client.close()
    report(args, rows, http, n_items, len(histories.items), load_before)


def report(args, rows, http: dict, n_items: int, n_users: int, load_before: str) -> None:
    head = (f"{'model':<8} {'mode':<6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
            f"{'req/s':>7} {'errors':>6} {'late':>5} {'p50 x':>6} {'p95 x':>6}")
    md = ["| model | mode | p50 ms | p95 ms | p99 ms | req/s | errors | late | p50 vs bare | "
          "p95 vs bare |", "|---|---|---|---|---|---|---|---|---|---|"]
    h50, h95, h99 = (percentile(http["latencies"], q) for q in (50, 95, 99))
    lines = [head, f"{'-':<8} {'http':<6} {h50:8.2f} {h95:8.2f} {h99:8.2f} "
                   f"{http['achieved']:7.1f} {http['errors']:6d} {http['late']:5d}"]
    md.append(f"| (no model) | HTTP floor | {h50:.2f} | {h95:.2f} | {h99:.2f} | "
              f"{http['achieved']:.1f} | {http['errors']} | {http['late']} | | |")
    verdicts = []
    for label, number, floor, load in rows:
        b50, b95, b99 = (percentile(floor, q) for q in (50, 95, 99))
        lat = load["latencies"]
        s50, s95, s99 = (percentile(lat, q) for q in (50, 95, 99))
        lines.append(f"{label:<8} {'bare':<6} {b50:8.2f} {b95:8.2f} {b99:8.2f} {'':>7} "
                     f"{'':>6} {'':>5} {'':>6} {'':>6}")
        lines.append(f"{label:<8} {'serve':<6} {s50:8.2f} {s95:8.2f} {s99:8.2f} "
                     f"{load['achieved']:7.1f} {load['errors']:6d} {load['late']:5d} "
                     f"{s50 / b50:5.2f}x {s95 / b95:5.2f}x")
        md.append(f"| {label} (v{number}) | bare | {b50:.2f} | {b95:.2f} | {b99:.2f} | | | | | |")
        md.append(f"| {label} (v{number}) | serve | {s50:.2f} | {s95:.2f} | {s99:.2f} | "
                  f"{load['achieved']:.1f} | {load['errors']} | {load['late']} | "
                  f"{s50 / b50:.2f}x | {s95 / b95:.2f}x |")
        floor50 = b50 + h50
        verdicts.append(f"{label}: p95 {s95:.1f} ms <= 20 ms "
                        f"**{'met' if s95 <= 20 else 'not met'}**, p50 overhead "
                        f"{s50 / b50:.2f}x <= 1.5x "
                        f"**{'met' if s50 / b50 <= 1.5 else 'not met'}** (over bare + HTTP "
                        f"floor, {b50:.2f} + {h50:.2f} ms: {s50 / floor50:.2f}x)")
    print("\n".join(lines))
    print("; ".join(verdicts))
    if args.no_append:
        return
    rmd.append("serve_bench.py", [
        f"{rmd.machine()}, torch on CPU; {args.dataset}: {n_users:,} users, "
        f"{n_items:,} items; {args.rate:g} req/s for {args.seconds:g} s, k={args.k}, "
        f"journal {'not ' if args.no_fsync else ''}fsynced; load average before/after: "
        f"{load_before} / {rmd.load()}.", "", *md, "", "Targets: " + "; ".join(verdicts) + "."])


if __name__ == "__main__":
    main()
