"""Per-request cost of the load mix, in-process: SQL statements, CPU ms and wall ms per endpoint.

A fresh database (PostgreSQL by default) is migrated and seeded like ``load_bench.py``'s, then
each read endpoint of the load mix and the single-event ``POST /api/v1/lineage`` is called
``--repeat`` times through the app's test client with a bearer token, as a real client calls it.
CPU time (``time.process_time``) is this process's own, so it is not inflated by other work on a
shared machine the way wall time is; it does not include PostgreSQL's side. ``--cprofile``
prints the hottest functions of the whole mix.

    python bench/request_profile.py                 # PostgreSQL, 200 calls per endpoint
    python bench/request_profile.py --backend sqlite --repeat 50 --cprofile
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_bench import bench_token, fresh_database, make_events  # noqa: E402


def _endpoints(targets: dict, rng: random.Random) -> dict[str, list[str]]:
    """Each read of the load mix, with ``repeat`` concrete URLs drawn like the load client's."""
    def pick():
        ns, name = rng.choice(targets["datasets"])
        return ns, name, rng.choice(targets["jobs"]), rng.choice(targets["runs"])

    shapes = {
        "dataset": lambda ns, n, j, r: f"/api/v1/namespaces/{ns}/datasets/{n}",
        "versions": lambda ns, n, j, r: f"/api/v1/namespaces/{ns}/datasets/{n}/versions?limit=20",
        "job runs": lambda ns, n, j, r: f"/api/v1/namespaces/pipelines/jobs/{j}/runs?limit=20",
        "run": lambda ns, n, j, r: f"/api/v1/jobs/runs/{r}",
        "lineage": lambda ns, n, j, r: f"/api/v1/lineage?nodeId=dataset:{ns}:{n}&depth=2",
        "search": lambda ns, n, j, r: f"/api/v1/search?q={n[:5]}&limit=20",
        "namespaces": lambda ns, n, j, r: "/api/v1/namespaces",
        "events": lambda ns, n, j, r: "/api/v1/events/lineage?limit=50",
    }
    return {label: [shape(*pick()) for _ in range(targets["repeat"])]
            for label, shape in shapes.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="postgresql", choices=["postgresql", "sqlite"])
    p.add_argument("--repeat", type=int, default=200, help="Calls per endpoint.")
    p.add_argument("--seed-runs", type=int, default=500, help="Runs loaded first.")
    p.add_argument("--cprofile", action="store_true", help="Print the hottest functions.")
    args = p.parse_args(argv)

    import cProfile
    import logging
    import pstats

    from sqlalchemy import event as sa_event

    from catalog.app import create_app
    from catalog.db import upgrade

    with tempfile.TemporaryDirectory() as tmp, fresh_database(args.backend, Path(tmp)) as url:
        upgrade(url)
        # One JSON line per request on stderr would be measured too; a server keeps it, so it
        # stays on, only quieter: the handler's level drops the lines after formatting them.
        logging.getLogger("catalog.requests").disabled = False
        app = create_app({"database_url": url})
        token = bench_token(url)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        events = make_events(args.seed_runs, seed=11)
        for lo in range(0, len(events), 250):
            r = client.post("/api/v1/lineage/batch", json=events[lo:lo + 250])
            assert r.status_code == 201, r.get_json()
        targets = {
            "datasets": sorted({(d["namespace"], d["name"]) for e in events
                                for d in e["inputs"] + e["outputs"]}),
            "jobs": sorted({e["job"]["name"] for e in events}),
            "runs": sorted({e["run"]["runId"] for e in events}),
            "repeat": args.repeat,
        }
        # SQL statements, and other round trips: the pre-ping of each pool checkout and the
        # COMMIT or ROLLBACK ending each transaction (neither passes before_cursor_execute).
        statements, trips = [0], [0]

        def count(*_args):
            statements[0] += 1

        def trip(conn, *_args):
            # An autocommit connection's COMMIT and ROLLBACK are not sent.
            if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
                trips[0] += 1

        def ping(*_args):
            trips[0] += 1

        state = app.extensions["catalog"]
        # The PostgreSQL read engine is the writers' with other options: it shares their events.
        engines = [state.engine] + ([state.read_engine]
                                    if state.read_engine.pool is not state.engine.pool else [])
        for engine in engines:
            sa_event.listen(engine, "before_cursor_execute", count)
            if engine.pool._pre_ping:
                sa_event.listen(engine, "checkout", ping)
            sa_event.listen(engine, "commit", trip)
            sa_event.listen(engine, "rollback", trip)

        calls = _endpoints(targets, random.Random(3))
        # New runs of the seeded jobs over the same schemas (as load_bench.py sends).
        writes = make_events(args.repeat // 2 + 1, seed=11,
                             first_run=args.seed_runs)[:args.repeat]
        prof = cProfile.Profile() if args.cprofile else None
        rows = []
        for url_ in calls["dataset"][:5]:  # warm caches (compiled statements, token cache)
            client.get(url_)
        for label in [*calls, "POST lineage"]:
            statements[0] = trips[0] = 0
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if prof:
                prof.enable()
            if label == "POST lineage":
                for e in writes:
                    r = client.post("/api/v1/lineage", json=e)
                    assert r.status_code == 201, r.get_json()
            else:
                for u in calls[label]:
                    r = client.get(u)
                    assert r.status_code == 200, (u, r.status_code, r.get_data()[:300])
            if prof:
                prof.disable()
            n = len(writes) if label == "POST lineage" else len(calls[label])
            rows.append((label, statements[0] / n, (statements[0] + trips[0]) / n,
                         (time.process_time() - cpu0) * 1000 / n,
                         (time.perf_counter() - wall0) * 1000 / n))
        state.engine.dispose()
        state.read_engine.dispose()

    print(f"backend: {args.backend}; {args.repeat} calls per endpoint; in-process test client")
    print(f"{'endpoint':14} {'statements':>10} {'trips':>6} {'CPU ms':>8} {'wall ms':>8}")
    reads, write = rows[:-1], rows[-1]
    mean = ("read mean", *(sum(r[i] for r in reads) / len(reads) for i in range(1, 5)))
    mix = ("80/20 mix", *(0.8 * mean[i] + 0.2 * write[i] for i in range(1, 5)))
    for label, stmts, trip_n, cpu, wall in [*rows, mean, mix]:
        print(f"{label:14} {stmts:10.2f} {trip_n:6.2f} {cpu:8.2f} {wall:8.2f}")
    if prof:
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
