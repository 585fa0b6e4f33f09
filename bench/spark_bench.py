"""The same governed pipeline on three engines: DuckDB, Spark ``local[2]``, a standalone cluster.

The synthetic shop is generated once (``--events``, default 10M) and landed as Parquet; then,
each in a fresh child process over the same landed files and each reporting to its own fresh
catalog (``catalog serve`` on SQLite, as ``bench/pipeline_bench.py`` does):

* ``duckdb``: ``run_pipeline(engine="duckdb")``, tables in ``features.duckdb``;
* ``spark local[2]``: ``run_pipeline(engine="spark")`` with the driver running two task threads;
* ``spark standalone``: the same against a master and two workers (one core, ``--worker-memory``
  each) started on 127.0.0.1 from pyspark's own ``bin/spark-class`` (``tests/spark_cluster.py``).

Every run is the whole governed pipeline: steps, fingerprints and profiles, Great Expectations
(DuckDB's, or GE's Spark execution engine), column lineage and the catalog's records. The table
gives wall seconds, the child's CPU seconds (the JVM's are not in a Python child's count: the
``machine cpu`` column is the whole machine's busy CPU over the run, from ``/proc/stat``), and
each run over DuckDB's. It then checks that every output has the same row count and the same
fingerprint on every engine: same content, same version, whichever engine computed it.

    python bench/spark_bench.py                      # 10M events, all three
    python bench/spark_bench.py --events 1000000 --engines duckdb local

Appends its table to ``bench/RESULTS.md`` unless ``--no-append``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import results as rmd  # noqa: E402

ENGINES = ("duckdb", "local", "standalone")


def _busy_seconds() -> float:
    from catalog_bench import _busy_seconds as busy

    return busy()


def worker_run(raw: str, side: str, catalog_url: str, engine: str, master: str,
               conf: str) -> dict:
    """One governed pipeline run; prints its result as JSON (in the child)."""
    import resource

    from pipeline_bench import _workspace

    from catalog.client import CatalogClient
    from pipelines import runner
    from pipelines.engine import SparkOptions
    from pipelines.report import Reporter

    work = _workspace(Path(raw), side)
    client = CatalogClient(catalog_url, timeout=120)  # token: CATALOG_TOKEN
    spark = SparkOptions(master=master, conf=json.loads(conf)) if engine == "spark" else None
    t = time.perf_counter()
    cpu = time.process_time()
    result = runner.run_pipeline(work, reporter=Reporter(client, source="synthetic"),
                                 engine=engine, spark=spark)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    client.close()
    return {"seconds": seconds, "cpu_s": cpu, "failed": result.failed,
            "outputs": {s.output: [s.rows, s.fingerprint] for s in result.steps},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(*args: str, timeout: float, env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                         env={**os.environ, **(env or {})})
    if out.returncode:
        raise SystemExit(f"{args[0]} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_side(raw: Path, tmp: Path, label: str, engine: str, master: str, conf: dict,
             timeout: float, env: dict | None = None) -> dict:
    from pipeline_bench import catalog_server

    side = re.sub(r"[^a-z0-9]+", "_", label)  # Spark reads a path's [ ] as a glob
    side_tmp = tmp / side
    side_tmp.mkdir()
    with catalog_server(side_tmp) as (base, _pid, token):
        busy = _busy_seconds()
        out = _child("run", str(raw), side, base, engine, master,
                     json.dumps(conf), timeout=timeout,
                     env={**(env or {}), "CATALOG_TOKEN": token})
        out["machine_cpu_s"] = _busy_seconds() - busy
    out["label"] = label
    print(f"  {label}: {out['seconds']:.1f} s{' FAILED ' + out['failed'] if out['failed'] else ''}",
          file=sys.stderr)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--driver-memory", default="2g", help="spark.driver.memory, both Spark sides")
    p.add_argument("--worker-memory", default="2g", help="each standalone worker's memory")
    p.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run")
    p.add_argument("--workdir", type=Path, help="where the data goes (default: a temp dir)")
    p.add_argument("--no-append", action="store_true", help="do not append to bench/RESULTS.md")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "generate":
            from pipeline_bench import worker_generate

            print(json.dumps(worker_generate(Path(rest[0]), int(rest[1]))))
        else:
            print(json.dumps(worker_run(*rest)))
        return

    load_before = rmd.load()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        data.mkdir()
        gen = _child("generate", str(data), str(args.events), timeout=args.timeout)
        print(f"generated {args.events:,} events in {gen['seconds']:.1f} s", file=sys.stderr)
        raw = data / "raw"
        conf = {"spark.driver.memory": args.driver_memory}
        results = []
        for engine in args.engines:
            if engine == "duckdb":
                results.append(run_side(raw, tmp, "duckdb", "duckdb", "", {}, args.timeout))
            elif engine == "local":
                results.append(run_side(raw, tmp, "spark local[2]", "spark", "local[2]", conf,
                                        args.timeout))
            else:
                sys.path.insert(0, str(ROOT))
                from tests.spark_cluster import standalone

                with standalone(tmp / "cluster", workers=2, cores=1,
                                memory=args.worker_memory) as cluster:
                    results.append(run_side(raw, tmp, "spark standalone 2x1", "spark",
                                            cluster.url,
                                            {**conf, "spark.executor.memory":
                                             args.worker_memory}, args.timeout, cluster.env))
    print_and_append(args, gen, results, load_before)


def print_and_append(args, gen: dict, results: list[dict], load_before: str) -> None:
    base = next((r["seconds"] for r in results if r["label"] == "duckdb"), None)
    head = (f"{'engine':<22} {'wall s':>8} {'vs duckdb':>10} {'python cpu s':>13} "
            f"{'machine cpu s':>14}")
    lines = [head]
    md = ["| engine | wall s | vs DuckDB | driver (Python) CPU s | machine CPU s | status |",
          "|---|---|---|---|---|---|"]
    for r in results:
        ratio = f"{r['seconds'] / base:.2f}x" if base else "-"
        status = f"FAIL ({r['failed']})" if r["failed"] else "COMPLETE"
        lines.append(f"{r['label']:<22} {r['seconds']:8.1f} {ratio:>10} {r['cpu_s']:13.1f} "
                     f"{r['machine_cpu_s']:14.1f}  {status}")
        md.append(f"| {r['label']} | {r['seconds']:.1f} | {ratio} | {r['cpu_s']:.1f} | "
                  f"{r['machine_cpu_s']:.1f} | {status} |")
    # Same content, same version: every output's rows and fingerprint on every engine.
    outputs = sorted({o for r in results for o in r["outputs"]})
    differ = [o for o in outputs
              if len({tuple(r["outputs"].get(o) or ()) for r in results}) != 1]
    verdict = (f"all {len(outputs)} outputs have equal row counts and fingerprints on every engine"
               if not differ else f"outputs that differ between engines: {', '.join(differ)}")
    print("\n".join(lines))
    print(verdict)
    for o in outputs:
        print(f"  {o:<28} " + "  ".join(
            f"{r['label']}={r['outputs'].get(o, ['-', '-'])[0]}:"
            f"{str(r['outputs'].get(o, ['-', '-'])[1])[:12]}" for r in results))
    if args.no_append:
        return
    rmd.append("spark_bench.py", [
        f"{rmd.machine()}; {args.events:,} synthetic events generated in "
        f"{gen['seconds']:.1f} s (not timed below); Spark driver memory "
        f"{args.driver_memory}, standalone workers 1 core and {args.worker_memory} each; "
        f"load average before/after: {load_before} / {rmd.load()}.", "", *md, "",
        f"Same content, same version: {verdict}."])


if __name__ == "__main__":
    main()
