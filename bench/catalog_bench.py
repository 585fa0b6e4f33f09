"""Ingest throughput: OpenLineage events over HTTP into a live catalog, against the database floor.

For each backend (SQLite, PostgreSQL) and each mode, a fresh database is migrated and a live server
started on it (gunicorn, ``--workers`` sync workers, default 2; ``--server serve`` uses
``catalog serve``, Flask's threaded development server, instead). Then:

* ``single``: every event is one ``POST /api/v1/lineage``, from ``--threads`` client threads (4).
* ``batch``: ``POST /api/v1/lineage/batch`` with ``--batch`` events each (250), same threads.
* ``floor``: the rows the catalog keeps per event (raw event, run state, three run I/O rows),
  inserted with ``executemany`` (psycopg / sqlite3) into equivalent plain tables, one transaction
  per ``--batch`` events: what the database alone can do, without the catalog's model.
* ``accept-single`` and ``accept-batch``: the same requests against ``bench/accept_floor_app.py``:
  the catalog's own parse, validation, hashing and raw-event INSERT, and no model. What any
  catalog must do before it answers 201; the rest of ``single``/``batch`` is folding.
* ``http-single`` and ``http-batch``: the same requests as ``single`` and ``batch`` against
  ``bench/http_floor_app.py`` under the same gunicorn and client: an app that only parses each
  body and inserts the raw events into one table. What HTTP, JSON and a durable insert per
  request cost on this machine: the floor for the HTTP modes.
* ``model-single`` and ``model-batch``: the same app inserting, per request, the rows of the
  ``floor`` mode (``bench/floor_rows.py``) instead: HTTP plus the least the catalog's model
  writes, with no reads, locks, validation or indexes beyond the hash's. Its ratio to the HTTP
  floor bounds what any catalog of this model can reach on this machine.

Besides the machine's busy CPU per event, each HTTP mode's CPU is split between the server (its
workers), the database (every ``postgres`` process) and the client (this process), from /proc.

Every HTTP mode first sends ``--warmup`` runs (250) untimed, the same runs for the catalog and
the floor apps; the timed runs continue their history (new run ids, later times, the same jobs and
datasets), so each mode is measured in its steady state rather than on a cold server creating
every job and dataset (with 3,000 events a batch mode is only 12 requests).

Events are realistic RunEvents built with openlineage-python: START and COMPLETE of each run, two
inputs and one output with schema facets, over 40 jobs whose 60 datasets overlap (one job's output
is another's input), so runs contend for the same dataset rows as a real pipeline's do.

``--profile`` instead runs a slice of events through the app in-process under cProfile and prints
the hottest functions and the SQL statements per event. The lineage (read) half of the benchmarks
is ``bench/lineage_bench.py``; ``--lineage`` runs it afterwards (its defaults, same backends).

    python bench/catalog_bench.py                        # both backends, all modes
    python bench/catalog_bench.py --backends postgresql --runs 2000
    python bench/catalog_bench.py --profile --backends postgresql
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from openlineage.client import event_v2 as ol
from openlineage.client import facet_v2 as f
from openlineage.client.serde import Serde

sys.path.insert(0, str(Path(__file__).resolve().parent))
from floor_rows import FLOOR_DDL, TYPES, floor_rows, floor_sql  # noqa: E402

PG_SERVER_URL = os.environ.get(
    "CATALOG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- events -------------------------------------------------------------------------------------


def _schema(n_fields: int, rng: random.Random) -> f.schema_dataset.SchemaDatasetFacet:
    types = ["BIGINT", "VARCHAR", "DOUBLE", "TIMESTAMP", "BOOLEAN"]
    m = f.schema_dataset
    return m.SchemaDatasetFacet(fields=[
        m.SchemaDatasetFacetFields(name=f"col_{i}", type=rng.choice(types))
        for i in range(n_fields)
    ])


def make_events(runs: int, seed: int = 7, first_run: int = 0) -> list[dict]:
    """START+COMPLETE dicts for ``runs`` runs over 40 jobs and 60 overlapping datasets.

    The jobs, datasets and schemas depend on ``seed`` alone, and the runs' event times follow on
    from run ``first_run``: ``make_events(n, seed, first_run=m)`` continues the history of
    ``make_events(m, seed)`` with new runs of the same jobs over the same schemas (run ids are new
    in every call).
    """
    rng = random.Random(seed)
    datasets = [("shop", f"raw_{i}") for i in range(20)] + [
        ("features", f"table_{i}") for i in range(40)]
    schemas = {d: _schema(rng.randint(5, 12), rng) for d in datasets}
    templates = []
    for j in range(40):
        out = datasets[20 + j]
        # Inputs come from raw tables or earlier jobs' outputs: a DAG with shared datasets.
        ins = rng.sample(datasets[: 20 + j], 2)
        job = ol.Job(namespace="pipelines", name=f"job_{j}", facets={
            "jobType": f.job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="DUCKDB", jobType="QUERY"),
        })
        inputs = [ol.InputDataset(namespace=n, name=m, facets={"schema": schemas[(n, m)]})
                  for n, m in ins]
        outputs = [ol.OutputDataset(namespace=out[0], name=out[1],
                                    facets={"schema": schemas[out]})]
        event = ol.RunEvent(eventType=ol.RunState.START, eventTime=T0.isoformat(),
                            run=ol.Run(runId=str(uuid.uuid4())), job=job, inputs=inputs,
                            outputs=outputs)
        templates.append(Serde.to_dict(event))
    events = []
    for r in range(first_run, first_run + runs):
        # Jobs in random order: now and then two runs of one job overlap, as they do in life.
        tmpl, run_id = rng.choice(templates), str(uuid.uuid4())
        for i, state in enumerate(("START", "COMPLETE")):
            at = (T0 + timedelta(seconds=2 * r + i)).isoformat()
            events.append({**tmpl, "eventType": state, "eventTime": at,
                           "run": {"runId": run_id, "facets": {}}})
    return events


# --- databases and servers ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_admin():
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(PG_SERVER_URL)
    return psycopg.connect(host=u.host, port=u.port or 5432, user=u.username,
                           password=u.password, dbname=u.database, autocommit=True)


@contextlib.contextmanager
def fresh_database(backend: str, tmp: Path):
    """URL of a new empty database (a file in ``tmp`` for SQLite), dropped afterwards."""
    name = f"catalog_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    if backend == "sqlite":
        yield f"sqlite:///{tmp / (name + '.db')}"
        return
    from sqlalchemy.engine import make_url

    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(PG_SERVER_URL).set(database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_token(url: str, role: str = "admin") -> str:
    """A fresh API token of ``role`` in the database at ``url``: every API request needs one."""
    from catalog.db import make_engine, make_sessionmaker, session_scope
    from catalog.services import auth

    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            token, _ = auth.create_token(s, f"bench-{role}-{uuid.uuid4().hex[:6]}", role,
                                         actor="bench")
    finally:
        engine.dispose()
    return token


@contextlib.contextmanager
def live_server(url: str, server: str, workers: int, log: Path | None = None,
                worker_class: str = "sync", worker_threads: int = 1, app: str = "catalog"):
    """A migrated catalog serving ``url`` on a free port; yields its base URL and process.

    ``app="floor"`` serves ``bench/http_floor_app.py`` instead, ``app="model"`` the same with
    ``FLOOR_ROWS=model``, ``app="accept"`` ``bench/accept_floor_app.py`` (gunicorn only).

    The server's output is appended to ``log`` when given (its tracebacks explain any 500).
    """
    env = {**os.environ, "CATALOG_DATABASE_URL": url, "FLOOR_DATABASE_URL": url,
           "FLOOR_ROWS": "model" if app == "model" else "raw"}
    cli = [sys.executable, "-m", "catalog.cli"]
    if app in ("catalog", "accept"):
        subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    else:
        _floor_table(url)
    port = _free_port()
    if server == "gunicorn":
        target = {"catalog": "catalog.app:create_app()", "floor": "bench.http_floor_app:app",
                  "model": "bench.http_floor_app:app", "accept": "bench.accept_floor_app:app"}[app]
        cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
               f"127.0.0.1:{port}", "--worker-class", worker_class,
               "--threads", str(worker_threads), target]
    else:
        cmd = [*cli, "serve", "--port", str(port)]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/healthz", timeout=1).ok:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start on {url}")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if log:
            out.close()


def _floor_table(url: str) -> None:
    """The HTTP floor app's tables: the raw event text, no index; and the model floor's."""
    ddl = ["create table floor_events (id {pk}, payload {js})", *FLOOR_DDL]
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for stmt in ddl:
            conn.execute(stmt.format(**TYPES["sqlite"]))
        conn.commit()
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username,
                               password=u.password, dbname=u.database, autocommit=True)
        for stmt in ddl:
            conn.execute(stmt.format(**TYPES["postgresql"]))
    conn.close()


# --- modes --------------------------------------------------------------------------------------


def _post_all(base: str, path: str, bodies: list[bytes], threads: int,
              token: str) -> tuple[float, list]:
    """POST ``bodies`` from ``threads`` threads; seconds taken and the error answers received.

    Errors are collected, not fatal: a server that fails under concurrency is a finding.
    """
    errors: list[str] = []

    def worker(mine: list[bytes]) -> None:
        with requests.Session() as s:
            for body in mine:
                r = s.post(base + path, data=body, timeout=300,
                           headers={"Content-Type": "application/json",
                                    "Authorization": f"Bearer {token}"})
                if r.status_code == 207:
                    errors.extend(f"207 {x}" for x in r.json()["results"] if x["status"] == "error")
                elif r.status_code != 201:
                    errors.append(f"{r.status_code} {r.text[:300]}")

    # Each run's two events stay in one thread, in order, as one pipeline would send them.
    pairs = [bodies[i:i + 2] for i in range(0, len(bodies), 2)] if path.endswith("lineage") \
        else [[b] for b in bodies]
    chunks = [[b for p in pairs[t::threads] for b in p] for t in range(threads)]
    pool = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.perf_counter() - start, errors


def run_single(base: str, events: list[dict], threads: int, token: str) -> tuple[float, list]:
    """One POST per event."""
    return _post_all(base, "/api/v1/lineage", [json.dumps(e).encode() for e in events], threads,
                     token)


def run_batch(base: str, events: list[dict], threads: int, size: int,
              token: str) -> tuple[float, list]:
    """Batches of ``size`` events per POST."""
    bodies = [json.dumps(events[i:i + size]).encode() for i in range(0, len(events), size)]
    return _post_all(base, "/api/v1/lineage/batch", bodies, threads, token)


def run_floor(url: str, events: list[dict], size: int) -> float:
    """executemany of the same rows into plain tables, one transaction per ``size`` events."""
    rows = [floor_rows(events[i:i + size]) for i in range(0, len(events), size)]
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma synchronous=normal")  # as the catalog's engine sets it
        types, mark = TYPES["sqlite"], "?"
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username,
                               password=u.password, dbname=u.database, autocommit=True)
        types, mark = TYPES["postgresql"], "%s"
    for ddl in FLOOR_DDL:
        conn.execute(ddl.format(**types))
    sql = floor_sql(mark)
    start = time.perf_counter()
    for chunk in rows:
        cur = conn.cursor()
        cur.execute("begin")
        for stmt, data in zip(sql, chunk, strict=True):
            cur.executemany(stmt, data)
        cur.execute("commit")
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


# --- profiling ----------------------------------------------------------------------------------


def profile(url: str, events: list[dict], top: int = 25) -> None:
    """Ingest ``events`` in-process under cProfile; print hot functions and statements per event."""
    import cProfile
    import pstats
    from collections import Counter

    from sqlalchemy import event as sa_event

    from catalog.app import create_app

    env = {**os.environ, "CATALOG_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "catalog.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    app = create_app({"database_url": url})
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {bench_token(url, 'pipeline')}"
    statements: Counter[str] = Counter()

    def count(conn, cursor, statement, *args):
        statements[" ".join(statement.split())[:110]] += 1

    sa_event.listen(app.extensions["catalog"].engine, "before_cursor_execute", count)
    warm, rest = events[:200], events[200:]
    for e in warm:  # first runs of each job create datasets; measure the steady state
        client.post("/api/v1/lineage", json=e)
    statements.clear()
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.enable()
    for e in rest:
        r = client.post("/api/v1/lineage", json=e)
        assert r.status_code == 201, r.get_json()
    prof.disable()
    elapsed = time.perf_counter() - start
    print(f"\n{len(rest)} events in {elapsed:.2f}s in-process ({len(rest) / elapsed:.0f}/s), "
          f"{sum(statements.values()) / len(rest):.1f} SQL statements per event:")
    for stmt, n in statements.most_common(top):
        print(f"  {n / len(rest):5.2f}  {stmt}")
    print()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)
    # The catalog's own functions, apart from the framework and driver frames around them.
    pstats.Stats(prof).sort_stats("cumulative").print_stats(r"/catalog/", top)


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Run the chosen modes on the chosen backends and print one table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="sqlite,postgresql", help="comma-separated backends")
    p.add_argument("--runs", type=int, default=1500, help="runs per mode (2 events each)")
    p.add_argument("--warmup", type=int, default=250,
                   help="runs sent first, untimed, in every HTTP mode (the same for the floors): "
                        "the timed runs then meet a catalog that knows their jobs and datasets")
    p.add_argument("--threads", type=int, default=4, help="client threads")
    p.add_argument("--batch", type=int, default=250, help="events per batch request")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--worker-class", default="sync",
                   help="gunicorn worker class: sync (closes each connection) or gthread")
    p.add_argument("--worker-threads", type=int, default=1, help="threads per gthread worker")
    p.add_argument("--server", choices=["gunicorn", "serve"], default="gunicorn",
                   help="gunicorn, or `catalog serve` (threaded development server)")
    p.add_argument("--modes", default="single,accept-single,model-single,http-single,batch,"
                   "accept-batch,model-batch,http-batch,floor",
                   help="comma-separated modes")
    p.add_argument("--log", type=Path, help="append the servers' output to this file")
    p.add_argument("--profile", action="store_true", help="profile in-process ingestion instead")
    p.add_argument("--lineage", action="store_true", help="then run bench/lineage_bench.py")
    p.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    args = p.parse_args(argv)
    load_before = _load()

    warmup = make_events(args.warmup) if args.warmup else []
    events = make_events(args.runs, first_run=args.warmup)
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if args.profile:
            for backend in backends:
                with fresh_database(backend, Path(tmp)) as url:
                    print(f"== {backend}")
                    profile(url, events[:2000])
            return
        results = []
        cpu: dict[tuple[str, str], float] = {}  # machine-wide busy CPU seconds per mode
        roles: dict[tuple[str, str], dict] = {}  # CPU seconds of server, database, client
        for backend in backends:
            for mode in args.modes.split(","):
                with fresh_database(backend, Path(tmp)) as url:
                    if mode == "floor":
                        busy = _busy_seconds()
                        seconds, errors = run_floor(url, events, args.batch), []
                        busy = _busy_seconds() - busy
                    else:
                        app = ("floor" if mode.startswith("http-") else
                               "model" if mode.startswith("model-") else
                               "accept" if mode.startswith("accept-") else "catalog")
                        floor_app = app != "catalog"
                        with live_server(url, "gunicorn" if floor_app else args.server,
                                         args.workers, args.log, args.worker_class,
                                         args.worker_threads, app) as (base, proc):
                            token = "none" if floor_app else bench_token(url, "pipeline")

                            def send(evs, token=token, base=base, mode=mode):
                                return (run_single(base, evs, args.threads, token)
                                        if mode.endswith("single") else
                                        run_batch(base, evs, args.threads, args.batch, token))

                            _, errors = send(warmup) if warmup else (0.0, [])
                            busy, before = _busy_seconds(), _role_seconds(proc.pid)
                            seconds, timed_errors = send(events)
                            busy, after = _busy_seconds() - busy, _role_seconds(proc.pid)
                            roles[mode, backend] = {k: after[k] - before[k] for k in after}
                            errors = errors + timed_errors
                    cpu[mode, backend] = busy
                results.append((mode, backend, len(events), seconds, errors))
                print(f"  {mode:6} {backend:10} {len(events) / seconds:9.0f} events/s, "
                      f"{len(errors)} errors", file=sys.stderr)
    # Each HTTP mode against the floor app doing the same requests; the floor against itself.
    floors = {(m, b): n / s for m, b, n, s, _ in results}
    floor_of = {"single": "http-single", "batch": "http-batch",
                "accept-single": "http-single", "accept-batch": "http-batch",
                "model-single": "http-single", "model-batch": "http-batch"}
    server = args.server if args.server == "serve" else (
        f"gunicorn x{args.workers} {args.worker_class}"
        + (f" ({args.worker_threads} threads)" if args.worker_class == "gthread" else ""))
    print(f"\nserver: {server}; client threads: {args.threads}; batch size: {args.batch}; "
          f"cpus: {os.cpu_count()}")
    print(f"{'mode':8} {'backend':11} {'events':>7} {'seconds':>8} {'events/s':>9} "
          f"{'vs floor':>9} {'cpu ms/ev':>9} {'server':>7} {'db':>7} {'client':>7} {'errors':>7}")
    for mode, backend, n, s, errors in results:
        base = floors.get((floor_of.get(mode, mode), backend))
        ratio = f"{n / s / base:.4f}" if base else "-"
        split = " ".join(f"{1000 * roles[mode, backend][k] / n:7.3f}"
                         if roles.get((mode, backend)) else f"{'-':>7}"
                         for k in ("server", "database", "client"))
        print(f"{mode:8} {backend:11} {n:7d} {s:8.2f} {n / s:9.0f} {ratio:>9} "
              f"{1000 * cpu[mode, backend] / n:9.3f} {split} {len(errors):7d}")
    for mode, backend, _, _, errors in results:
        if errors:
            print(f"{mode} on {backend}: {len(errors)} errors, first: {errors[0][:200]}")
    if not args.no_append:
        append_results(results, floors, floor_of, server, args, (load_before, _load()), cpu,
                       roles)

    if args.lineage:
        run_lineage(backends)


# Issue 16's targets: the catalog's HTTP modes against the HTTP floor doing the same requests.
TARGETS = {"single": 0.5, "batch": 0.5}


def append_results(results, floors, floor_of, server, args, load, cpu, roles=None) -> None:
    """Append the table, the machine, the load and the targets' verdicts to bench/RESULTS.md."""
    import platform

    command = "python bench/catalog_bench.py " + " ".join(sys.argv[1:])
    lines = ["", f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command.strip()}`", "",
             f"Machine: {platform.node()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}; server {server}, {args.threads} client threads, "
             f"batches of {args.batch}, {args.runs} runs ({2 * args.runs} events) per mode "
             f"after {args.warmup} untimed warm-up runs; "
             f"load average before/after: {load[0]} / {load[1]}.", "",
             "| mode | backend | events/s | vs its HTTP floor | machine CPU ms/event | "
             "server / database / client CPU ms/event |",
             "|---|---|---|---|---|---|"]
    for mode, backend, n, s, errors in results:
        base = floors.get((floor_of.get(mode, mode), backend))
        ratio = f"{n / s / base:.2f}" if base and mode in floor_of else "-"
        split = (roles or {}).get((mode, backend))
        split = " / ".join(f"{1000 * split[k] / n:.3f}" for k in ("server", "database", "client")
                           ) if split else "-"
        lines.append(f"| {mode} | {backend} | {n / s:,.0f}{' (errors)' if errors else ''} | "
                     f"{ratio} | {1000 * cpu[mode, backend] / n:.3f} | {split} |")
    verdicts = []
    for mode, target in TARGETS.items():
        for m, backend, n, s, _ in results:
            base = floors.get((floor_of[mode], backend))
            if m == mode and base:
                ok = n / s / base >= target
                verdicts.append(f"{mode} on {backend} >= {target} of the HTTP floor: "
                                f"**{'met' if ok else 'not met'}** ({n / s / base:.2f})")
    if verdicts:
        lines += ["", "Targets: " + "; ".join(verdicts) + "."]
    path = Path(__file__).with_name("RESULTS.md")
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process: client, servers, database).

    From /proc/stat (user, nice, system, irq, softirq, steal); 0.0 where there is none.
    """
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _proc_seconds(pid: int) -> tuple[int, float]:
    """A process's parent and its CPU seconds so far (user + system, all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _role_seconds(server_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of the server (``server_pid`` and its workers), the database (every
    ``postgres`` process) and this client, from /proc; empty where there is none."""
    roles = {"server": 0.0, "database": 0.0}
    try:
        pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return {}
    for pid in pids:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            parent, seconds = _proc_seconds(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if comm == "postgres":
            roles["database"] += seconds
        elif server_pid is not None and server_pid in (pid, parent):
            roles["server"] += seconds
    roles["client"] = _proc_seconds(os.getpid())[1]
    return roles


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_lineage(backends: list[str]) -> None:
    """The read half: ``bench/lineage_bench.py`` with its defaults, in a fresh database each."""
    sys.path.insert(0, str(Path(__file__).parent))
    import lineage_bench

    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            with fresh_database(backend, Path(tmp)) as url:
                lineage_bench.print_table(lineage_bench.run(url), f"lineage queries, {backend}")


if __name__ == "__main__":
    main()
