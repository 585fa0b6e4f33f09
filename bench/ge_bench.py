"""Great Expectations inside DuckDB against GE's pandas engine: one suite, the same table.

A feature-like table of ``--rows`` rows (default 10M) is generated in a DuckDB file with
``range()``. The same 9-expectation suite then runs twice, each engine in its own child process
so that its peak RSS is its own:

* ``duckdb``: ``pipelines.quality.validate_duckdb`` on the file; GE builds SQL, DuckDB computes.
* ``pandas``: the table read from the same file into a pandas DataFrame (``load s``), then
  ``pipelines.quality.validate_pandas`` (``seconds``).

Both must agree on every expectation's success, unexpected count and observed value, or the
benchmark fails. The pandas route cannot validate a DuckDB table without loading it first, so
``speedup`` counts pandas' load: (load + validation) over DuckDB's validation; ``w/o load`` is
validation over validation. GE's import is done before either clock starts. Peak RSS includes
the interpreter and GE themselves (~250 MB). ``--repeat N`` runs each engine N times (in turn)
and keeps each one's fastest run, for a machine shared with other work.

``--breakdown`` also times each expectation alone in each engine (after the suite runs), which
shows where the time goes: GE's pandas engine hashes the whole DataFrame per batch; on DuckDB a
unique dense integer key is proven unique by one ``count(distinct)`` that both uniqueness
expectations share, and a GROUP BY runs only when that proof fails (see
``pipelines.quality.uniqueness``).

    python bench/ge_bench.py                       # 10M rows
    python bench/ge_bench.py --rows 1000000 10000000 --breakdown --repeat 2
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# ~1% of rows break each failing expectation, so the engines count real unexpected values.
TABLE_SQL = """
create table features as
select
    range as event_id,
    range % 1000003 as user_id,
    case when range % 97 = 0 then null else range % 5000 end as item_id,
    case when range % 101 = 0 then -1.0 else (range % 10000) / 100.0 end as price,
    ['view', 'click', 'cart', 'buy'][range % 4 + 1] as action,
    case when range % 89 = 0 then 'UNKNOWN' else ['DE', 'FR', 'NL', 'PL'][range % 4 + 1] end
        as country
from range({rows})
"""

SUITE = {
    "name": "features",
    "table": "features",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_table_columns_to_match_set", "kwargs": {
            "column_set": ["event_id", "user_id", "item_id", "price", "action", "country"]}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "event_id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "item_id"}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "price", "min_value": 0, "max_value": 100}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "country", "value_set": ["DE", "FR", "NL", "PL"]},
         "meta": {"severity": "warning"}},
        {"type": "expect_column_mean_to_be_between",
         "kwargs": {"column": "price", "min_value": 40, "max_value": 60}},
        {"type": "expect_column_max_to_be_between",
         "kwargs": {"column": "item_id", "min_value": 0, "max_value": 4999}},
        {"type": "expect_compound_columns_to_be_unique",
         "kwargs": {"column_list": ["event_id", "action"]}},
    ],
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _summary(result) -> list[dict]:
    """What both engines must agree on, per expectation."""
    return [
        {"type": o.expectation_type, "success": o.success,
         "unexpected_count": o.observed.get("unexpected_count"),
         "observed_value": o.observed.get("observed_value")}
        for o in result.outcomes
    ]


def worker(engine: str, db: str, breakdown: bool) -> dict:
    """Run the suite with one engine in this process; return timings and the summary."""
    sys.path.insert(0, str(ROOT))
    import duckdb

    from pipelines import quality

    quality._gx()  # import GE before the clock starts: it is a fixed cost for both engines
    load_s = 0.0
    if engine == "duckdb":
        def validate(suite):
            return quality.validate_duckdb(db, "features", suite)
    else:
        t = time.perf_counter()
        with duckdb.connect(db, read_only=True) as con:
            df = con.sql("select * from features").df()
        load_s = time.perf_counter() - t

        def validate(suite):
            return quality.validate_pandas(df, suite)
    t = time.perf_counter()
    result = validate(SUITE)
    seconds = time.perf_counter() - t
    peak = _peak_rss_mb()
    alone = []
    for exp in SUITE["expectations"] if breakdown else []:
        t = time.perf_counter()
        validate({**SUITE, "expectations": [exp]})
        alone.append(time.perf_counter() - t)
    return {"engine": engine, "seconds": seconds, "load_s": load_s, "peak_rss_mb": peak,
            "summary": _summary(result), "alone": alone}


def _run_worker(engine: str, db: Path, timeout: float, breakdown: bool) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", engine, "--db", str(db)]
    cmd += ["--breakdown"] if breakdown else []
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        print(f"  {engine}: gave up after {timeout:.0f} s", file=sys.stderr)
        return None
    except subprocess.CalledProcessError as e:
        print(f"  {engine} failed (exit {e.returncode}):\n{e.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _same(a: list[dict], b: list[dict]) -> bool:
    def close(x, y):
        if isinstance(x, float) or isinstance(y, float):
            return x is not None and y is not None and math.isclose(x, y, rel_tol=1e-9)
        return x == y

    return len(a) == len(b) and all(
        close(x[k], y[k]) for x, y in zip(a, b, strict=True) for k in x
    )


def _fastest(runs: list[dict | None]) -> dict | None:
    done = [r for r in runs if r]
    return min(done, key=lambda r: r["seconds"] + r["load_s"]) if done else None


def bench(rows: int, workdir: Path, timeout: float, breakdown: bool,
          repeat: int = 1) -> list[dict]:
    """Generate ``rows`` rows, run both engines, check they agree; one table row per engine."""
    import duckdb

    db = workdir / f"features_{rows}.duckdb"
    db.unlink(missing_ok=True)
    t = time.perf_counter()
    with duckdb.connect(str(db)) as con:
        con.execute(TABLE_SQL.format(rows=rows))
    print(f"generated {rows:,} rows in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    runs: dict[str, list] = {"duckdb": [], "pandas": []}
    for _ in range(repeat):
        for engine in runs:
            runs[engine].append(_run_worker(engine, db, timeout, breakdown))
    db.unlink()
    results = {e: _fastest(r) for e, r in runs.items()}
    duck, pand = results["duckdb"], results["pandas"]
    if duck and pand and not _same(duck["summary"], pand["summary"]):
        raise SystemExit(f"engines disagree at {rows} rows:\n{json.dumps(results, indent=1)}")
    lines = []
    for r in (duck, pand):
        if r is None:
            continue
        speedup = without_load = float("nan")
        if duck and pand:
            speedup = (pand["load_s"] + pand["seconds"]) / duck["seconds"]
            without_load = pand["seconds"] / duck["seconds"]
        lines.append({"rows": rows, **r, "speedup": speedup if r is duck else 1.0,
                      "without_load": without_load if r is duck else 1.0,
                      "all_s": [x["seconds"] + x["load_s"] for x in runs[r["engine"]] if x]})
    if duck:
        failed = [s["type"] for s in duck["summary"] if not s["success"]]
        print(f"  both engines: {len(duck['summary'])} expectations, failed: {failed}",
              file=sys.stderr)
    if duck and pand and breakdown:
        print(f"  each expectation alone at {rows:,} rows (s):  duckdb  pandas  speedup",
              file=sys.stderr)
        for exp, d, p in zip(SUITE["expectations"], duck["alone"], pand["alone"], strict=True):
            print(f"  {exp['type']:<55} {d:7.2f} {p:7.2f} {p / d:7.1f}x", file=sys.stderr)
    return lines


def main() -> None:
    """Parse arguments and print the results table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[10_000_000], help="table sizes")
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed per engine run")
    p.add_argument("--workdir", type=Path, help="where to put the DuckDB file (default: temp)")
    p.add_argument("--breakdown", action="store_true", help="also time each expectation alone")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per engine, in turn; the fastest of each is kept")
    p.add_argument("--worker", choices=["duckdb", "pandas"], help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.db, args.breakdown)))
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        lines = [line for rows in args.rows
                 for line in bench(rows, Path(tmp), args.timeout, args.breakdown, args.repeat)]
    print(f"{'rows':>12} {'engine':>7} {'seconds':>8} {'load s':>7} {'total s':>8} "
          f"{'peak RSS MB':>12} {'speedup':>8} {'w/o load':>9}  runs (total s)")
    for r in lines:
        runs = " ".join(f"{x:.1f}" for x in r["all_s"])
        print(f"{r['rows']:>12,} {r['engine']:>7} {r['seconds']:>8.2f} {r['load_s']:>7.2f} "
              f"{r['seconds'] + r['load_s']:>8.2f} {r['peak_rss_mb']:>12.0f} "
              f"{r['speedup']:>7.1f}x {r['without_load']:>8.1f}x  {runs}")


if __name__ == "__main__":
    main()
