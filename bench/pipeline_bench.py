"""Pipeline overhead: the governed feature pipeline against the same SQL run bare in DuckDB.

For each ``--events`` size the synthetic shop is generated once (timed on its own, in its own
process, and not part of either side), then, each in a fresh child process so that peak RSS is
its own, over the same landed Parquet files:

* ``bare``: every step's SQL as ``create or replace table ... as`` in dependency order in a new
  DuckDB file: no fingerprints, no profiles, no Great Expectations, no catalog;
* ``full``: ``pipelines.runner.run_pipeline`` into another new DuckDB file, reporting every step,
  profile and validation to a real catalog: ``catalog serve`` (Flask's threaded server) on a fresh,
  migrated SQLite file, in its own process, over HTTP.

Columns: ``wall x`` is the fastest full run's seconds over the fastest bare run's (target
<= 1.10x); ``pairs x`` the median, over ``--repeat`` rounds, of each full run over the bare run
just before it (the host's load drifts by tens of per cent within minutes, the same bare run
took 35 s and 46 s within the hour; a pair shares most of that drift); ``full/build`` is the
full run over the step builds inside it (the checks run beside the builds and slow them, so
this understates the overhead); ``cpu x`` is CPU seconds (all threads, DuckDB's workers
included) of the full side plus the catalog server's over the bare side's. ``--repeat 3`` runs
bare, full, bare, full, bare, full. ``RSS`` is the child's peak ``ru_maxrss`` (Python, DuckDB
and, on the full side, GE); ``ddb`` is the largest ``duckdb_memory()`` total seen by a sampler
every 0.2 s (DuckDB's buffer-managed memory: table data, hash tables, sorts). The catalog
server's memory is in neither.

The full side also reports where its time went, per thread: the runner's own thread builds
(``build``, the same SQL as the bare side, and the commit) and hashes the landed sources
(``source fingerprints``); what is left of its time (``pipeline thread: rest``) is waiting for
an input's checks before a commit, catalog bookkeeping and the wait for the last checks at the
end. The checks thread fingerprints and profiles each output (``fingerprint+profile``) and
validates it (``ge``: what is left of GE's import after the background warm-up, plus the
suites) while the next steps build. Catalog calls and column lineage run on the emitter's thread
(``pipelines.emitter``); their CPU is in ``cpu x``. Same split per table.

Each ``--repeat`` runs the full side in two modes (``--modes``): ``cold``, GE imported inside
the run (the runner starts the import in a background thread while the first steps build), as
in a fresh ``catalog pipeline run``; and ``warm``, GE imported before the clock, as every other
library of both sides is (the bare side's DuckDB, the full side's catalog client), and as in a
process that has validated before. The import (2–2.5 s of CPU, once per process, however many
events) is printed apart for the warm runs.

``--generate-only`` times the generator alone at each size (events/s, peak RSS): generation is
chunked, so peak RSS stays flat as the event count grows.

    python bench/pipeline_bench.py                            # 10M and 50M events
    python bench/pipeline_bench.py --events 10000000 --repeat 3 --modes cold
    python bench/pipeline_bench.py --generate-only --events 10000000 20000000 50000000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _cpu_s() -> float:
    """CPU seconds of this process so far, all threads (DuckDB's workers included)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds of another process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class DuckDBMemory:
    """Samples ``duckdb_memory()`` of the database at ``path`` until stopped; keeps the max.

    It samples on a connection of its own (DuckDB shares one database instance per file in a
    process), not on a cursor of the runner's: closing a connection closes its cursors, and
    DuckDB refuses to close one that is busy, so a sample caught mid-query would fail the run.
    """

    def __init__(self, path: Path, every: float = 0.2):
        import duckdb

        if not isinstance(path, (str, Path)):
            raise TypeError(f"DuckDBMemory wants the database's path, not {type(path).__name__}")
        self._cur = duckdb.connect(str(path))
        self._every = every
        self._stop = threading.Event()
        self.peak_mb = 0.0
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            (used,) = self._cur.execute(
                "select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory()").fetchone()
            self.peak_mb = max(self.peak_mb, used / 2**20)
            self._stop.wait(self._every)

    def stop(self) -> float:
        """Stop sampling; the largest total seen, in MB."""
        self._stop.set()
        self._thread.join()
        self._cur.close()
        return self.peak_mb


# --- workers (each runs in its own process) -----------------------------------------------------


def worker_generate(workdir: Path, events: int) -> dict:
    """Land ``events`` synthetic events under ``workdir/raw``."""
    from pipelines.sources.synthetic import SyntheticConfig, generate

    t = time.perf_counter()
    counts = generate(workdir, SyntheticConfig(events=events))
    seconds = time.perf_counter() - t
    size = sum(p.stat().st_size for p in (workdir / "raw").iterdir())
    return {**counts, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "bytes": size}


def _workspace(raw: Path, side: str) -> Path:
    """An empty working directory whose ``raw`` is the landed data."""
    work = raw.parent / side
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / "raw").symlink_to(raw)
    return work


def worker_bare(raw: Path) -> dict:
    """The step SQL alone: ``create or replace table`` per step, nothing else."""
    from pipelines import runner
    from pipelines.steps import load_steps

    work = _workspace(raw, "bare")
    steps = load_steps()
    t, cpu = time.perf_counter(), _cpu_s()
    con = runner.connect(work)  # the same source views and variables the runner sets
    memory = DuckDBMemory(work / "features.duckdb")
    rows = {}
    for step in steps:
        con.execute(f'create or replace table "{step.output}" as {step.sql}')
        rows[step.output] = con.execute(f'select count(*) from "{step.output}"').fetchone()[0]
    duck_mb = memory.stop()
    db_mb = con.execute("select database_size from pragma_database_size()").fetchone()[0]
    con.close()
    seconds, cpu = time.perf_counter() - t, _cpu_s() - cpu
    return {"seconds": seconds, "cpu_s": cpu, "rows": rows, "peak_rss_mb": _peak_rss_mb(),
            "duckdb_peak_mb": duck_mb, "database_size": db_mb}


def worker_full(raw: Path, catalog_url: str, mode: str = "cold") -> dict:
    """``run_pipeline`` with reporting to the catalog at ``catalog_url``; time split by phase.

    ``cold``: GE is imported inside the run (the runner starts it in the background), as in a
    fresh ``catalog pipeline run``. ``warm``: imported before the clock, as the other libraries
    of both sides are, and as in a worker process that has run a pipeline before; its import
    time is reported apart (``ge_import_s``).
    """
    from catalog.client import CatalogClient
    from pipelines import duckdb_engine, quality, runner
    from pipelines.report import Reporter

    ge_import = ge_import_cpu = 0.0
    if mode == "warm":
        t, cpu = time.perf_counter(), _cpu_s()
        quality._gx()
        ge_import, ge_import_cpu = time.perf_counter() - t, _cpu_s() - cpu

    work = _workspace(raw, "full")
    phases = {"build": 0.0, "fingerprint+profile": 0.0, "source fingerprints": 0.0,
              "ge": 0.0}
    timed = _Timed(phases)
    # Where the time goes: wrap the runner's collaborators (this process only).
    runner._build = timed("build", runner._build)
    runner._commit = timed("build", runner._commit)
    runner.file_fingerprint = timed("source fingerprints", runner.file_fingerprint)
    engine = duckdb_engine.DuckDBEngine
    for name in ("fingerprint", "fingerprint_and_profile"):
        setattr(engine, name, timed("fingerprint+profile", getattr(engine, name)))
    quality.validate_duckdb = timed("ge", quality.validate_duckdb)
    quality._gx = timed("ge", quality._gx)
    memory: list[DuckDBMemory] = []
    connect = duckdb_engine.connect

    def connect_and_sample(workdir):
        con = connect(workdir)
        memory.append(DuckDBMemory(Path(workdir) / "features.duckdb"))
        return con

    duckdb_engine.connect = connect_and_sample
    client = CatalogClient(catalog_url, timeout=60)  # token: CATALOG_TOKEN
    t, cpu = time.perf_counter(), _cpu_s()
    result = runner.run_pipeline(work, reporter=Reporter(client, source="synthetic"))
    seconds, cpu = time.perf_counter() - t, _cpu_s() - cpu
    duck_mb = memory[0].stop()
    client.close()
    import duckdb

    with duckdb.connect(str(result.database), read_only=True) as con:
        db_mb = con.execute("select database_size from pragma_database_size()").fetchone()[0]
    phases["pipeline thread: rest"] = seconds - sum(timed.main.values())
    return {"seconds": seconds, "cpu_s": cpu, "rows": {s.output: s.rows for s in result.steps},
            "failed": result.failed, "peak_rss_mb": _peak_rss_mb(), "duckdb_peak_mb": duck_mb,
            "database_size": db_mb, "phases": phases, "phases_main": timed.main,
            "per_table": timed.per_table, "mode": mode, "ge_import_s": ge_import,
            "ge_import_cpu_s": ge_import_cpu}


class _Timed:
    """Wraps functions so that their (outermost, per thread) wall time adds up under a phase.

    The runner builds on its own thread and checks on a second one, at the same time, so the
    phases overlap: ``main`` keeps what the building thread spent in each, and the rest of its
    time (waiting for checks before a commit, catalog calls, bookkeeping) is what is left of
    the run's wall time.
    """

    def __init__(self, phases: dict):
        self.phases = phases
        self.main = dict.fromkeys(phases, 0.0)
        self.per_table: dict[str, dict[str, float]] = {}
        self._local = threading.local()

    def __call__(self, phase: str, fn):
        def wrapped(*args, **kwargs):
            if getattr(self._local, "depth", 0):
                return fn(*args, **kwargs)
            self._local.depth = 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.depth = 0
                name, dt = phase, time.perf_counter() - t
                self.phases[name] += dt
                if threading.current_thread() is threading.main_thread():
                    self.main[name] += dt
                table = _table_arg(args)
                if table:
                    row = self.per_table.setdefault(table, {})
                    row[name] = row.get(name, 0.0) + dt
        return wrapped


def _table_arg(args) -> str | None:
    """The table a wrapped call is about: ``_build(con, step)``, ``f(con, table, ...)``.

    ``file_fingerprint(path)`` of a landed source has no table argument: not split per table.
    """
    for a in args[1:2]:
        if isinstance(a, str):
            return a
        if hasattr(a, "output"):
            return a.output
    return None


# --- orchestration ------------------------------------------------------------------------------


def _child(*args: str, timeout: float, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                         env={**os.environ, **(env or {})})
    if out.returncode:
        raise SystemExit(f"worker {args[0]} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _token(url: str) -> str:
    """A fresh API token of the pipeline role in the catalog database at ``url``."""
    sys.path.insert(0, str(ROOT / "bench"))
    from catalog_bench import bench_token

    return bench_token(url, "pipeline")


@contextlib.contextmanager
def catalog_server(tmp: Path):
    """``catalog serve`` on a fresh, migrated SQLite file; yields its URL, process id, a token."""
    url = f"sqlite:///{tmp / 'catalog.sqlite'}"
    env = {**os.environ, "CATALOG_DATABASE_URL": url}
    cli = [sys.executable, "-m", "catalog.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp / "serve.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                # Any answer (401 without a token) means it is serving.
                if requests.get(f"{base}/api/v1/namespaces", timeout=1).status_code < 500:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"catalog serve did not start:\n{(tmp / 'serve.log').read_text()}")
            time.sleep(0.1)
        yield base, proc.pid, _token(url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def bench_size(events: int, tmp: Path, repeat: int, timeout: float,
               modes: tuple[str, ...] = ("cold", "warm")) -> dict:
    """Generate, then bare and each full mode ``repeat`` times, alternating; the fastest of each."""
    data = tmp / f"events_{events}"
    data.mkdir()
    gen = _child("generate", str(data), str(events), timeout=timeout)
    print(f"generated {gen['events']:,} events in {gen['seconds']:.1f} s "
          f"({gen['events'] / gen['seconds']:,.0f}/s, peak RSS {gen['peak_rss_mb']:.0f} MB)",
          file=sys.stderr)
    raw = data / "raw"
    bares: list[dict] = []
    fulls: dict[str, list[dict]] = {m: [] for m in modes}
    for i in range(repeat):
        bares.append(_child("bare", str(raw), timeout=timeout))
        print(f"  bare #{i + 1}: {bares[-1]['seconds']:.1f} s, cpu {bares[-1]['cpu_s']:.1f} s",
              file=sys.stderr)
        for mode in modes:
            with catalog_server(data) as (url, pid, token):
                server_cpu = _proc_cpu_s(pid)
                run = _child("full", str(raw), url, mode, timeout=timeout,
                             env={"CATALOG_TOKEN": token})
                run["server_cpu_s"] = _proc_cpu_s(pid) - server_cpu
            fulls[mode].append(run)
            print(f"  full {mode} #{i + 1}: {run['seconds']:.1f} s, cpu {run['cpu_s']:.1f} s "
                  f"+ server {run['server_cpu_s']:.1f} s; "
                  + ", ".join(f"{k} {v:.1f}" for k, v in run["phases"].items())
                  + (f"; GE import before the clock {run['ge_import_s']:.1f} s"
                     if mode == "warm" else ""),
                  file=sys.stderr)
            (data / "catalog.sqlite").unlink()
            (data / "serve.log").unlink()
    shutil.rmtree(data)
    bare = min(bares, key=lambda r: r["seconds"])
    result = {"events": gen["events"], "gen": gen, "bare": bare,
              "bares": [b["seconds"] for b in bares],
              "bare_cpu": min(b["cpu_s"] for b in bares), "modes": {}}
    for mode, runs in fulls.items():
        full = min(runs, key=lambda r: r["seconds"])
        if full["failed"]:
            raise SystemExit(f"the full pipeline ({mode}) failed: {full['failed']}")
        if bare["rows"] != full["rows"]:
            raise SystemExit(f"bare and full ({mode}) disagree on row counts:\n{bare['rows']}\n"
                             f"{full['rows']}")
        pairs = sorted(f["seconds"] / b["seconds"] for f, b in zip(runs, bares, strict=True))
        result["modes"][mode] = {
            "full": full, "fulls": [f["seconds"] for f in runs],
            # Each full run over the bare run just before it: the host's load drifts by tens of
            # per cent within minutes, and a pair shares most of it.
            "pair_ratios": pairs, "pair_median": statistics.median(pairs),
            "full_cpu": min(f["cpu_s"] for f in runs),
            "server_cpu": min(f["server_cpu_s"] for f in runs)}
    return result


def print_tables(results: list[dict]) -> None:
    """The overhead table, the full side's phases and its per-table split, plain text."""
    print(f"{'events':>12} {'mode':>5} {'gen s':>6} {'bare s':>7} {'full s':>7} {'wall x':>7} "
          f"{'pairs x':>8} {'build s':>8} {'full/build':>10} {'bare cpu':>9} {'full cpu':>9} "
          f"{'cpu x':>6} "
          f"{'bare RSS':>9} {'full RSS':>9} {'bare ddb':>9} {'full ddb':>9}")
    for r in results:
        b = r["bare"]
        for mode, m in r["modes"].items():
            f = m["full"]
            build = f["phases"]["build"]
            full_cpu = m["full_cpu"] + m["server_cpu"]
            print(f"{r['events']:>12,} {mode:>5} {r['gen']['seconds']:>6.1f} "
                  f"{b['seconds']:>7.1f} {f['seconds']:>7.1f} {f['seconds'] / b['seconds']:>6.3f}x "
                  f"{m['pair_median']:>7.3f}x {build:>8.1f} {f['seconds'] / build:>9.3f}x "
                  f"{r['bare_cpu']:>9.1f} "
                  f"{full_cpu:>9.1f} {full_cpu / r['bare_cpu']:>5.3f}x "
                  f"{b['peak_rss_mb']:>9.0f} {f['peak_rss_mb']:>9.0f} "
                  f"{b['duckdb_peak_mb']:>9.0f} {f['duckdb_peak_mb']:>9.0f}")
            if mode == "warm":
                print(f"{'':>12} {'':>5} GE imported before the clock: {f['ge_import_s']:.1f} s "
                      f"({f['ge_import_cpu_s']:.1f} s CPU), once per process")
    print("(wall x: fastest full / fastest bare; pairs x: median over repeats of each full run "
          "/ the bare run just before it\n (each pair: "
          + "; ".join(f"{mode} " + " ".join(f"{x:.3f}" for x in m["pair_ratios"])
                      for r in results for mode, m in r["modes"].items())
          + ");\n full/build: the fastest full run over its own step builds (slowed by the "
          "checks beside them);\n cpu x: least CPU of full + catalog server over least CPU of "
          "bare; RSS and ddb (DuckDB) peaks in MB)")
    print()
    first = next(iter(results[0]["modes"].values()))
    names = list(first["full"]["phases"])
    print("Where the full run's wall time went (s). The pipeline thread builds; the checks "
          "thread fingerprints,\nprofiles and validates the built steps meanwhile, so its "
          "phases overlap the builds.")
    print(f"{'events':>12} {'mode':>5} {'thread':>9} " + " ".join(f"{n:>21}" for n in names)
          + f" {'server cpu':>10}  runs bare | full (s)")
    for r in results:
        for mode, m in r["modes"].items():
            f = m["full"]
            checks = {n: f["phases"][n] - f["phases_main"].get(n, 0.0) for n in names}
            checks["pipeline thread: rest"] = 0.0
            runs = " ".join(f"{x:.0f}" for x in r["bares"]) + " | " + " ".join(
                f"{x:.0f}" for x in m["fulls"])
            main = {**f["phases_main"], "pipeline thread: rest": f["phases"][
                "pipeline thread: rest"]}
            print(f"{r['events']:>12,} {mode:>5} {'pipeline':>9} "
                  + " ".join(f"{main.get(n, 0.0):>21.2f}" for n in names)
                  + f" {m['server_cpu']:>10.1f}  {runs}")
            print(f"{'':>12} {'':>5} {'checks':>9} "
                  + " ".join(f"{checks[n]:>21.2f}" for n in names))
    for r in results:
        for mode, m in r["modes"].items():
            print(f"\n{r['events']:,} events, fastest full run ({mode}), seconds per table:")
            cols = ["build", "fingerprint+profile", "ge"]
            print(f"  {'table':<20} {'rows':>12} " + " ".join(f"{c:>20}" for c in cols))
            for table, row in m["full"]["per_table"].items():
                print(f"  {table:<20} {m['full']['rows'].get(table, 0):>12,} "
                      + " ".join(f"{row.get(c, 0.0):>20.2f}" for c in cols))


def main() -> None:
    """Parse arguments, run the sizes, print the tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, nargs="+", default=[10_000_000, 50_000_000],
                   help="synthetic event counts")
    p.add_argument("--repeat", type=int, default=1, help="bare/full runs per size (fastest kept)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per child run")
    p.add_argument("--workdir", type=Path, help="where the data goes (default: a temp dir)")
    p.add_argument("--generate-only", action="store_true",
                   help="only time the generator at each size")
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--modes", nargs="+", choices=("cold", "warm"), default=["cold", "warm"],
                   help="full runs with GE imported inside the run (cold) or before it (warm)")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        sys.path.insert(0, str(ROOT))
        kind, *rest = args.worker
        fn = {"generate": lambda d, n: worker_generate(Path(d), int(n)),
              "bare": lambda r: worker_bare(Path(r)),
              "full": lambda r, u, m: worker_full(Path(r), u, m)}[kind]
        print(json.dumps(fn(*rest)))
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        if args.generate_only:
            print(f"{'events':>12} {'seconds':>8} {'events/s':>10} {'peak RSS MB':>12} "
                  f"{'Parquet MB':>11}")
            for n in args.events:
                d = tmp / f"gen_{n}"
                d.mkdir()
                g = _child("generate", str(d), str(n), timeout=args.timeout)
                shutil.rmtree(d)
                print(f"{g['events']:>12,} {g['seconds']:>8.1f} "
                      f"{g['events'] / g['seconds']:>10,.0f} {g['peak_rss_mb']:>12.0f} "
                      f"{g['bytes'] / 2**20:>11.0f}", flush=True)
            return
        results = [bench_size(n, tmp, args.repeat, args.timeout, tuple(args.modes))
                   for n in args.events]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print_tables(results)


if __name__ == "__main__":
    main()
