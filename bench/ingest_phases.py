"""Where a batch's time goes: wall and CPU per event for each step of ``catalog.ingest``.

Ingests the same events as ``bench/catalog_bench.py`` (START+COMPLETE over 40 jobs and 60
datasets) in-process, one thread, batches of ``--batch``, into a fresh database, after a warm-up
that creates the jobs and datasets; then prints, per step (validate, record, read and lock,
fold, flush, commit), milliseconds per event of wall time and of this process's CPU time.
What is not CPU here is the database's work and the round trips.

    python bench/ingest_phases.py --backend postgresql --runs 3000 --batch 250

A diagnostic, not a benchmark: it appends nothing to RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog_bench import fresh_database, make_events  # noqa: E402

STEPS = ("prepare", "record", "preload", "fold_event", "record_warnings", "flush")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="postgresql", choices=("postgresql", "sqlite"))
    p.add_argument("--runs", type=int, default=3000, help="runs measured (2 events each)")
    p.add_argument("--batch", type=int, default=250)
    p.add_argument("--profile", action="store_true", help="also print cProfile's top functions")
    args = p.parse_args(argv)

    import subprocess

    import catalog.ingest as ingest
    from catalog.db import make_engine, make_sessionmaker

    warm_runs = 200
    events = make_events(warm_runs + args.runs)
    warm, rest = events[:2 * warm_runs], events[2 * warm_runs:]
    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.backend, Path(tmp)) as url:
        env = {**os.environ, "CATALOG_DATABASE_URL": url}
        subprocess.run([sys.executable, "-m", "catalog.cli", "db", "upgrade"], env=env,
                       check=True, capture_output=True)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        wall: dict[str, float] = defaultdict(float)
        cpu: dict[str, float] = defaultdict(float)

        def timed(name, fn):
            def wrapper(*a, **k):
                w, c = time.perf_counter(), time.process_time()
                try:
                    return fn(*a, **k)
                finally:
                    wall[name] += time.perf_counter() - w
                    cpu[name] += time.process_time() - c
            return wrapper

        def run(batch_events):
            with sessions() as s:
                with s.begin():
                    out = ingest.ingest_batch(s, batch_events)
                assert not any(isinstance(o, Exception) for o in out), out

        for i in range(0, len(warm), args.batch):
            run(warm[i:i + args.batch])
        originals = {n: getattr(ingest, n) for n in STEPS}
        for n in STEPS:
            setattr(ingest, n, timed(n, originals[n]))
        prof = None
        if args.profile:
            import cProfile
            prof = cProfile.Profile()
            prof.enable()
        w0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(rest), args.batch):
            with sessions() as s:
                tx = s.begin()
                out = ingest.ingest_batch(s, rest[i:i + args.batch])
                assert not any(isinstance(o, Exception) for o in out), out
                w, c = time.perf_counter(), time.process_time()
                tx.commit()
                wall["commit"] += time.perf_counter() - w
                cpu["commit"] += time.process_time() - c
        total_w, total_c = time.perf_counter() - w0, time.process_time() - c0
        if prof is not None:
            prof.disable()
        for n in STEPS:
            setattr(ingest, n, originals[n])
        engine.dispose()

    n = len(rest)
    print(f"{n} events, batches of {args.batch}, {args.backend}: {n / total_w:.0f} events/s "
          f"in-process, one thread")
    print(f"{'step':<16} {'wall ms/ev':>10} {'cpu ms/ev':>10}")
    for name in (*STEPS, "commit"):
        print(f"{name:<16} {1000 * wall[name] / n:>10.4f} {1000 * cpu[name] / n:>10.4f}")
    other_w = total_w - sum(wall.values())
    other_c = total_c - sum(cpu.values())
    print(f"{'(rest)':<16} {1000 * other_w / n:>10.4f} {1000 * other_c / n:>10.4f}")
    print(f"{'total':<16} {1000 * total_w / n:>10.4f} {1000 * total_c / n:>10.4f}")
    if prof is not None:
        import pstats
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
