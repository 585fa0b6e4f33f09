"""The floor under the pipeline's overhead: what each governance piece costs on its own.

``pipeline_bench.py`` measures the governed pipeline against the bare SQL; this script says why
the ratio is what it is. Over one set of landed synthetic events, in one process:

1. every step's SQL bare, step by step: wall, CPU (all threads) and cores kept busy, i.e. how
   much idle CPU the builds leave for checks running beside them;
2. GE's import (once per process);
3. each output's fingerprint+profile scan (``tables.fingerprint_and_profile``);
4. each suite's validation (``quality.validate_duckdb``), GE imported and warmed by one pass;
5. column lineage of every step (sqlglot).

The CPU sum of 2–5 over the builds' CPU is the overhead in CPU; the builds' idle core-seconds
are what the checks could hide in. No catalog: its calls run on the emitter's thread and the
server's CPU is printed by ``pipeline_bench.py``.

    python bench/pipeline_floor.py --events 10000000
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn, *args):
    t, cpu = time.perf_counter(), _cpu_s()
    value = fn(*args)
    return time.perf_counter() - t, _cpu_s() - cpu, value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--workdir", type=Path, help="where the data goes (default: a temp dir)")
    args = p.parse_args()

    from pipelines import quality, runner
    from pipelines.report import _column_lineage
    from pipelines.sources.synthetic import SyntheticConfig, generate
    from pipelines.steps import load_steps
    from pipelines.tables import columns, fingerprint_and_profile

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        generate(work, SyntheticConfig(events=args.events))
        steps = load_steps()
        con = runner.connect(work)
        print(f"{'step':<20} {'wall s':>7} {'cpu s':>7} {'cores':>6} {'idle core-s':>12}")
        build_wall = build_cpu = 0.0
        for step in steps:
            wall, cpu, _ = _timed(con.execute,
                                  f'create or replace table "{step.output}" as {step.sql}')
            build_wall, build_cpu = build_wall + wall, build_cpu + cpu
            print(f"{step.output:<20} {wall:>7.2f} {cpu:>7.2f} {cpu / wall:>6.2f} "
                  f"{wall * os.cpu_count() - cpu:>12.2f}")
        idle = build_wall * os.cpu_count() - build_cpu
        print(f"{'builds':<20} {build_wall:>7.2f} {build_cpu:>7.2f} "
              f"{build_cpu / build_wall:>6.2f} {idle:>12.2f}")
        print()

        pieces: dict[str, tuple[float, float]] = {}
        wall, cpu, _ = _timed(quality._gx)
        pieces["GE import"] = (wall, cpu)
        fp = [0.0, 0.0]
        for step in steps:
            w, c, _ = _timed(fingerprint_and_profile, con, step.output)
            fp[0], fp[1] = fp[0] + w, fp[1] + c
        pieces["fingerprint+profile"] = tuple(fp)
        checked = [s for s in steps if s.suite_path]
        for s in checked:  # one pass to warm GE's caches, as in a pipeline's first suite
            quality.validate_duckdb(con, s.output, quality.load_suite(s.suite_path))
        ge = [0.0, 0.0]
        per_suite = {}
        for s in checked:
            w, c, _ = _timed(quality.validate_duckdb, con, s.output,
                             quality.load_suite(s.suite_path))
            ge[0], ge[1] = ge[0] + w, ge[1] + c
            per_suite[s.output] = (w, c)
        pieces["GE suites"] = tuple(ge)
        lin = [0.0, 0.0]
        for s in steps:
            schemas = {t: [c for c, _ in columns(con, t)] for t in s.inputs}
            w, c, _ = _timed(_column_lineage, s, schemas, "recsys")
            lin[0], lin[1] = lin[0] + w, lin[1] + c
        pieces["column lineage"] = tuple(lin)
        con.close()

    print(f"{'piece':<22} {'wall s':>7} {'cpu s':>7}")
    for name, (w, c) in pieces.items():
        print(f"{name:<22} {w:>7.2f} {c:>7.2f}")
    for name, (w, c) in per_suite.items():
        print(f"  suite {name:<16} {w:>7.2f} {c:>7.2f}")
    total = sum(c for _, c in pieces.values())
    print(f"{'total':<22} {'':>7} {total:>7.2f}")
    print()
    print(f"builds: {build_wall:.1f} s, {build_cpu:.1f} CPU s; checks: {total:.1f} CPU s "
          f"= {1 + total / build_cpu:.3f}x in CPU")
    hidden = max(total - idle, 0.0) / os.cpu_count()
    print(f"if the checks filled the builds' {idle:.1f} idle core-s exactly, the wall floor "
          f"would be {1 + hidden / build_wall:.3f}x ({os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
