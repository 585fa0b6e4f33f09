"""Sustained mixed load against gunicorn + PostgreSQL: 80% reads, 20% OpenLineage writes.

A fresh PostgreSQL database is migrated and seeded (``--seed-runs`` runs over 40 jobs and 60
overlapping datasets, as in ``catalog_bench.py``), then served by gunicorn with the project's
settings (``catalog/gunicorn_conf.py``, ``--workers`` workers). A second process on
loopback sends requests open-loop at ``--rate`` per second for ``--seconds`` (request i is due
at i / rate, whatever the answers before it; ``--concurrency`` threads send them), so a slow
server shows as latency and a lower achieved rate rather than as a politely slower client.

Reads are spread over the read API: a dataset, its versions, a job's runs, a run, a lineage graph
(depth 2), search, the namespace list and the event feed. Writes are single ``POST
/api/v1/lineage`` events: START and COMPLETE of new runs of the same jobs, over the same datasets.
Latency is measured from the moment a request was due, so queueing in the client counts.

    python bench/load_bench.py                    # 60 s at 200 req/s, appends to RESULTS.md
    python bench/load_bench.py --seconds 10 --rate 50 --no-append
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog_bench import _free_port, bench_token, fresh_database, make_events  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"


# --- the server side ----------------------------------------------------------------------------


def start_gunicorn(url: str, workers: int, log: Path) -> tuple[str, subprocess.Popen]:
    """Migrate ``url`` and serve it with the project's gunicorn settings; (base URL, process)."""
    env = {**os.environ, "CATALOG_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "catalog.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    port = _free_port()
    env.update(CATALOG_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY=str(workers))
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:catalog.gunicorn_conf"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return base, proc
        except requests.RequestException:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"gunicorn did not start; see {log}")
        time.sleep(0.1)


def _wait_for_workers(log: Path, offset: int, workers: int, timeout: float = 60) -> None:
    """Until ``workers`` workers have logged their warm-up (past ``offset`` in the log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log, "rb") as fh:
            fh.seek(offset)
            if fh.read().count(b"warm-up:") >= workers:
                return
        time.sleep(0.2)
    raise SystemExit(f"gunicorn did not boot {workers} warm workers in {timeout:g} s; see {log}")


def seed(base: str, runs: int, token: str) -> dict:
    """Load ``runs`` runs in batches; the names the read mix will ask for."""
    events = make_events(runs, seed=11)
    with requests.Session() as s:
        s.headers["Authorization"] = f"Bearer {token}"
        for lo in range(0, len(events), 250):
            r = s.post(f"{base}/api/v1/lineage/batch", json=events[lo:lo + 250], timeout=120)
            r.raise_for_status()
        datasets = sorted({(d["namespace"], d["name"]) for e in events
                           for d in e["inputs"] + e["outputs"]})
        jobs = sorted({e["job"]["name"] for e in events})
        run_ids = sorted({e["run"]["runId"] for e in events})
    return {"datasets": datasets, "jobs": jobs, "runs": run_ids}


# --- the client side (a second process) -------------------------------------------------------


def _reads(targets: dict, rng: random.Random) -> str:
    ns, name = rng.choice(targets["datasets"])
    job = rng.choice(targets["jobs"])
    return rng.choice([
        f"/api/v1/namespaces/{ns}/datasets/{name}",
        f"/api/v1/namespaces/{ns}/datasets/{name}/versions?limit=20",
        f"/api/v1/namespaces/pipelines/jobs/{job}/runs?limit=20",
        f"/api/v1/jobs/runs/{rng.choice(targets['runs'])}",
        f"/api/v1/lineage?nodeId=dataset:{ns}:{name}&depth=2",
        f"/api/v1/search?q={name[:5]}&limit=20",
        "/api/v1/namespaces",
        "/api/v1/events/lineage?limit=50",
    ])


def client(base: str, targets: dict, seconds: float, rate: float, read_share: float,
           concurrency: int, token: str, seed_runs: int) -> dict:
    """Send the load; latencies (ms, from when each request was due) and errors by kind."""
    rng = random.Random(3)
    total = int(seconds * rate)
    # New runs of the seeded jobs, over the same datasets and schemas, later than the seeded ones
    # (a pipeline's steady state); more than needed: a fresh run per pair. Another seed would
    # change every dataset's schema on its first write, a one-off cost that is not a load.
    writes = iter(make_events(total, seed=11, first_run=seed_runs))
    plan = []
    for _ in range(total):
        if rng.random() < read_share:
            plan.append(("read", _reads(targets, rng)))
        else:
            plan.append(("write", next(writes)))
    lock = threading.Lock()
    nxt = iter(range(total))
    results: list[tuple[str, float, int]] = []
    errors: list[str] = []
    missed = [0]
    # Bodies are encoded before the clock starts, and each thread keeps one keep-alive connection
    # through urllib3 (what requests uses underneath, without its per-call overhead): the client
    # shares the two cores with the server, so what it spends is taken from the server.
    bodies = {i: json.dumps(what).encode() for i, (kind, what) in enumerate(plan)
              if kind == "write"}
    # The plan and the bodies live for the whole run: keep the client's garbage collector from
    # walking them again and again (a full collection here stalls all 32 sending threads, which
    # would show as server latency).
    gc.collect()
    gc.freeze()
    parsed = urllib3.util.parse_url(base)
    headers = {"Authorization": f"Bearer {token}"}  # one token, as one pipeline would send
    post_headers = {**headers, "Content-Type": "application/json"}
    t0 = time.perf_counter() + 0.5
    # A request not sent within this of the end is dropped (counted), so a server slower than the
    # rate ends the run on time instead of draining a backlog at its own pace.
    cutoff = t0 + seconds + 5

    def worker() -> None:
        with urllib3.HTTPConnectionPool(parsed.host, parsed.port, maxsize=1,
                                        timeout=urllib3.Timeout(30), retries=False) as pool:
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                due = t0 + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif time.perf_counter() > cutoff:
                    with lock:
                        missed[0] += 1
                    continue
                kind, what = plan[i]
                try:
                    if kind == "read":
                        r = pool.request("GET", what, headers=headers)
                    else:
                        r = pool.request("POST", "/api/v1/lineage", body=bodies[i],
                                         headers=post_headers)
                    status = r.status
                except urllib3.exceptions.HTTPError as exc:
                    status = 0
                    with lock:
                        errors.append(f"{kind}: {type(exc).__name__}")
                latency = (time.perf_counter() - due) * 1000
                ok = (kind == "read" and status == 200) or (kind == "write" and status == 201)
                with lock:
                    results.append((kind, latency, status, i / rate, _route(kind, what)))
                    if not ok and status:
                        errors.append(f"{kind} {what if kind == 'read' else 'event'}: {status}")

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return {"results": results, "errors": errors, "elapsed": elapsed, "missed": missed[0],
            "planned": total}


def _route(kind: str, what) -> str:
    """A request's endpoint, without its names: what the per-endpoint table groups by."""
    if kind == "write":
        return "POST /lineage"
    path = what.split("?", 1)[0].split("/")[3:]
    if path[:1] == ["namespaces"] and len(path) > 2:
        return "/".join(["namespaces", "-", path[2], *(["-"] if len(path) > 3 else []),
                         *path[4:]])
    if path[:2] == ["jobs", "runs"]:
        return "jobs/runs/-"
    return "/".join(path)


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def summarize(out: dict) -> dict:
    """Requests/s, p50/p95/p99 overall and per kind, error count."""
    res = out["results"]
    summary = {"planned": out["planned"], "requests": len(res),
               "not_sent": out["missed"], "seconds": round(out["elapsed"], 2),
               "rps": round(len(res) / out["elapsed"], 1), "errors": len(out["errors"]),
               "error_samples": out["errors"][:5]}
    for label, rows in (("all", res), ("read", [r for r in res if r[0] == "read"]),
                        ("write", [r for r in res if r[0] == "write"])):
        lat = [r[1] for r in rows]
        summary[label] = {"n": len(rows), "p50": round(_pct(lat, 0.50), 1),
                          "p95": round(_pct(lat, 0.95), 1), "p99": round(_pct(lat, 0.99), 1)}
    by_route: dict[str, list[float]] = {}
    for r in res:
        by_route.setdefault(r[4], []).append(r[1])
    summary["routes"] = {k: {"n": len(v), "p50": round(_pct(v, 0.5), 1),
                             "p95": round(_pct(v, 0.95), 1)} for k, v in sorted(by_route.items())}
    # p95 per 5-second window of due time: a queue that builds and drains shows as a few bad
    # windows, a server short of CPU as a steady climb.
    windows: dict[int, list[float]] = {}
    for r in res:
        windows.setdefault(int(r[3] // 5) * 5, []).append(r[1])
    summary["p95_by_5s"] = [round(_pct(windows[w], 0.95)) for w in sorted(windows)]
    return summary


# --- reporting ------------------------------------------------------------------------------------


def _machine() -> str:
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} vCPU ({cpu}), Python {platform.python_version()}"


def cpu_line(cpu: dict, requests: int, seconds: float) -> str:
    """Where the CPU went during the load, per request, and how busy the machine's cores were."""
    per = {k: 1000 * v / max(requests, 1) for k, v in cpu.items()}
    cores = seconds * (os.cpu_count() or 1)
    ours = cpu["server"] + cpu["postgres"] + cpu["client"]
    return (f"CPU per request: server {per['server']:.2f} ms, PostgreSQL {per['postgres']:.2f} ms, "
            f"client {per['client']:.2f} ms; cores busy {100 * cpu['machine'] / cores:.0f}% "
            f"(server, PostgreSQL and client {100 * ours / cores:.0f}%)")


def append_results(command: str, args, s: dict, load_before: str, load_after: str,
                   cpu: dict | None = None, elapsed: float = 0.0) -> None:
    held = (s["errors"] == 0 and s["not_sent"] == 0 and s["all"]["p95"] <= 100
            and s["rps"] >= 0.95 * args.rate)
    # The target is 200 req/s: holding p95 at a lower rate is reported, never called "met".
    met = held and args.rate >= 200
    lines = [
        "",
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command}`",
        "",
        f"Machine: {_machine()}; PostgreSQL on the same host; gunicorn {args.workers} "
        f"workers; client: a second process, {args.concurrency} threads (urllib3, keep-alive), "
        f"open loop at {args.rate:g} req/s for {args.seconds:g} s, "
        f"{int(args.read_share * 100)}% reads. "
        f"Load average before/after: {load_before} / {load_after}.",
        "",
        "| kind | requests | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for kind in ("all", "read", "write"):
        k = s[kind]
        lines.append(f"| {kind} | {k['n']} | {k['p50']} | {k['p95']} | {k['p99']} |")
    lines += ["", f"Achieved {s['rps']} req/s ({s['requests']} of {s['planned']} planned "
              f"requests sent; {s['not_sent']} dropped as over 5 s late), {s['errors']} errors. "
              "Target (200 req/s, "
              f"0 errors, p95 <= 100 ms): **{'met' if met else 'not met'}**"
              + (f" (0 errors and p95 <= 100 ms held at {args.rate:g} req/s)."
                 if held and not met else ".")]
    if s["error_samples"]:
        lines.append(f"First errors: {', '.join(s['error_samples'])}.")
    if cpu:
        lines += ["", cpu_line(cpu, s["requests"], elapsed) + ".",
                  "p95 per 5 s window (ms): " + " ".join(map(str, s["p95_by_5s"])) + "."]
    text = RESULTS.read_text()
    header = "## Mixed load (issue 7) — `bench/load_bench.py`"
    if header not in text:
        text = text.rstrip("\n") + "\n\n" + header + "\n"
    RESULTS.write_text(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")


def _machine_busy() -> float:
    """CPU-seconds the whole machine has spent busy since boot (all cores; /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pids: list[int]) -> float:
    """CPU-seconds used so far by these processes (user + system, own threads)."""
    total = 0.0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children_cpu() -> float:
    """CPU-seconds of this process's reaped children (the client process, once it has ended)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _postgres_pids() -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().startswith("postgres"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def _server_pids(proc: subprocess.Popen) -> list[int]:
    kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    return [proc.pid, *map(int, kids.stdout.split())]


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60, help="Length of the load (s).")
    p.add_argument("--rate", type=float, default=200, help="Requests per second to send.")
    p.add_argument("--read-share", type=float, default=0.8, help="Share of reads (0..1).")
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers.")
    p.add_argument("--concurrency", type=int, default=32, help="Client threads.")
    p.add_argument("--seed-runs", type=int, default=500, help="Runs loaded before the load.")
    p.add_argument("--no-append", action="store_true", help="Do not append to RESULTS.md.")
    p.add_argument("--client", help=argparse.SUPPRESS)  # internal: JSON args of the client
    args = p.parse_args(argv)
    if args.client:
        spec = json.loads(args.client)
        json.dump(client(**spec), sys.stdout)
        return

    command = " ".join(["python bench/load_bench.py",
                        *(argv if argv is not None else sys.argv[1:])])
    with tempfile.TemporaryDirectory() as tmp, fresh_database("postgresql", Path(tmp)) as url:
        log = Path(tmp) / "gunicorn.log"
        base, proc = start_gunicorn(url, args.workers, log)
        try:
            token = bench_token(url, "pipeline")
            targets = seed(base, args.seed_runs, token)
            # Serve the seeded catalog from a fresh server, as after a deploy: its workers warm
            # themselves up on the data they will serve (catalog/warmup.py) before taking traffic.
            proc.terminate()
            proc.wait(timeout=30)
            offset = log.stat().st_size
            base, proc = start_gunicorn(url, args.workers, log)
            _wait_for_workers(log, offset, args.workers)
            load_before = _loadavg()
            server_pids, pg_pids = _server_pids(proc), _postgres_pids()
            cpu0 = (_machine_busy(), _tree_cpu(server_pids), _tree_cpu(pg_pids))
            children_cpu0 = _children_cpu()
            spec = {"base": base, "targets": targets, "seconds": args.seconds,
                    "rate": args.rate, "read_share": args.read_share,
                    "concurrency": args.concurrency, "token": token,
                    "seed_runs": args.seed_runs}
            done = subprocess.run([sys.executable, __file__, "--client", json.dumps(spec)],
                                  capture_output=True, text=True, check=True)
            load_after = _loadavg()
            # Client: its children's CPU as reaped by run(); the rest of the machine is "other".
            client_cpu = _children_cpu()
            pg_now = _tree_cpu(pg_pids) + _tree_cpu([p for p in _postgres_pids()
                                                     if p not in pg_pids])
            cpu = {"machine": _machine_busy() - cpu0[0],
                   "server": _tree_cpu(server_pids) - cpu0[1], "postgres": pg_now - cpu0[2],
                   "client": client_cpu - children_cpu0}
            out = json.loads(done.stdout)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        tracebacks = log.read_text().count("Traceback")
    s = summarize(out)
    print(json.dumps({k: v for k, v in s.items()
                      if k not in ("error_samples", "routes", "p95_by_5s")}, indent=1))
    for route, v in s["routes"].items():
        print(f"{route:45s} n={v['n']:5d} p50={v['p50']:7.1f} p95={v['p95']:7.1f}")
    print("p95 by 5 s window (ms):", " ".join(map(str, s["p95_by_5s"])))
    print(f"load average before/after: {load_before} / {load_after}; "
          f"server tracebacks: {tracebacks}")
    print(cpu_line(cpu, s["requests"], out["elapsed"]))
    for e in s["error_samples"]:
        print("error:", e)
    if not args.no_append:
        append_results(command, args, s, load_before, load_after, cpu, out["elapsed"])


if __name__ == "__main__":
    main()
