"""Lineage query benchmark: recursive SQL in the database against in-memory BFS on the same graph.

Generates a layered, mostly acyclic lineage graph (sources -> staging -> ... -> serving, in
domains that mostly read their own data, with skewed popularity so a few hub tables are read
widely, and a few back edges that close feedback cycles), bulk-loads it into a fresh database
migrated to head, then times ``catalog.lineage_queries`` (``neighbourhood`` and ``walk`` up and
down) at depths 1, 5 and 20 from random start nodes, and the same traversal as a depth-cut BFS
over CSR adjacency in memory. The two must return the same nodes at the same distances.

    python bench/lineage_bench.py --url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python bench/lineage_bench.py --url sqlite:////tmp/lineage_bench.db

A PostgreSQL URL names a server: the benchmark creates database ``lineage_bench`` there and drops
it afterwards. A SQLite URL names a file that must not exist yet; it is removed afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from scipy import sparse
from sqlalchemy.engine import make_url

from catalog import db as catalog_db
from catalog import lineage_queries as q

DEPTHS = (1, 5, 20, 50)  # 50: the deepest the API allows (CATALOG_MAX_LINEAGE_DEPTH)
OPS = ("neighbourhood", "downstream", "upstream")
LAYERS = 8
DOMAIN_SIZE = 200  # datasets per domain
T_START = datetime(2025, 1, 1, tzinfo=UTC)


def log(msg: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(msg, file=sys.stderr, flush=True)


# --- graph ----------------------------------------------------------------------------------------


def generate(datasets: int, edges: int, seed: int) -> dict:
    """A lineage graph as arrays: node ``i < D`` is dataset ``i + 1``, then job ``i - D + 1``.

    Every non-source dataset is written by one job (one or two outputs per job); jobs read
    mostly from the previous layer of their own domain, with popularity skewed towards the first
    datasets of a bucket, 10% of reads cross domains and 0.3% go to a later layer (feedback).
    """
    rng = np.random.default_rng(seed)
    sources = max(1, datasets * 15 // 100)
    layer = np.sort(np.concatenate([np.zeros(sources, dtype=np.int64),
                                    rng.integers(1, LAYERS, datasets - sources)]))
    domains = max(1, datasets // DOMAIN_SIZE)
    domain = rng.integers(0, domains, datasets)
    order = np.lexsort((domain, layer))  # datasets grouped by (layer, domain)
    layer, domain = layer[order], domain[order]
    # Writers: consecutive non-source datasets of one (layer, domain) share a job, 1 or 2 each.
    writers = np.full(datasets, -1)
    jobs, i = 0, int(np.searchsorted(layer, 1))
    while i < datasets:
        take = 2 if (i + 1 < datasets and rng.random() < 0.5 and layer[i + 1] == layer[i]
                     and domain[i + 1] == domain[i]) else 1
        writers[i : i + take] = jobs
        jobs, i = jobs + 1, i + take
    out_src = writers[writers >= 0]
    out_dst = np.nonzero(writers >= 0)[0]
    job_layer = np.zeros(jobs, dtype=np.int64)
    job_domain = np.zeros(jobs, dtype=np.int64)
    job_layer[out_src], job_domain[out_src] = layer[out_dst], domain[out_dst]

    key = layer * domains + domain
    want = edges - len(out_dst)
    reads = np.empty((0, 2), dtype=np.int64)
    while len(reads) < want:  # duplicate reads collapse: draw until there are enough
        more = _reads(rng, want, jobs, job_layer, job_domain, key, layer, domains)
        reads = np.unique(np.concatenate([reads, more + [0, datasets]]), axis=0)
    reads = reads[rng.permutation(len(reads))[:want]]
    writes = np.stack([out_src + datasets, out_dst], axis=1)
    pairs = np.concatenate([reads, writes])
    return {"datasets": datasets, "jobs": jobs, "layer": layer, "domain": domain,
            "src": pairs[:, 0], "dst": pairs[:, 1], "job_layer": job_layer}


def _reads(rng, n, jobs, job_layer, job_domain, key, layer, domains) -> np.ndarray:
    """``n`` (dataset index, job index) reads: layer and domain first, then a skewed pick."""
    job = rng.integers(0, jobs, n)
    jl = job_layer[job]
    back = rng.random(n) < 0.003
    prev = rng.random(n) < 0.6
    src_layer = np.where(prev, jl - 1, (rng.random(n) * jl).astype(np.int64))
    src_layer = np.where(back, np.minimum(jl + 1 + rng.integers(0, 3, n), LAYERS - 1), src_layer)
    src_domain = np.where(rng.random(n) < 0.9, job_domain[job], rng.integers(0, domains, n))
    lo = np.searchsorted(key, src_layer * domains + src_domain, "left")
    hi = np.searchsorted(key, src_layer * domains + src_domain, "right")
    empty = hi == lo  # no such (layer, domain): any dataset of the layer
    lo = np.where(empty, np.searchsorted(layer, src_layer, "left"), lo)
    hi = np.where(empty, np.searchsorted(layer, src_layer, "right"), hi)
    # Squaring skews picks towards the first datasets of a bucket: a few hubs read widely.
    return np.stack([lo + (rng.random(n) ** 2 * (hi - lo)).astype(np.int64), job], axis=1)


def node_key(g: dict, i: int) -> tuple[str, int]:
    """(kind, id) of node index ``i``."""
    d = g["datasets"]
    return ("d", i + 1) if i < d else ("j", i - d + 1)


# --- loading --------------------------------------------------------------------------------------


def _rows(g: dict, rng):
    d, n_ns = g["datasets"], 20
    now = T_START + timedelta(days=365)
    namespaces = [(i + 1, f"warehouse_{i:02d}" if i < n_ns // 2 else f"scheduler_{i:02d}",
                   now, now) for i in range(n_ns)]
    datasets = [
        (i + 1, 1 + int(g["domain"][i]) % (n_ns // 2),
         f"l{g['layer'][i]}.dom{g['domain'][i]:04d}.t{i:06d}", "table",
         f"l{g['layer'][i]}.dom{g['domain'][i]:04d}.t{i:06d}", "{}", False, now, now)
        for i in range(d)
    ]
    jobs = [(j + 1, n_ns // 2 + 1 + j % (n_ns // 2), f"job_{j:06d}", "BATCH", "{}", now, now)
            for j in range(g["jobs"])]
    # A job's edges appear when it is first run: spread over the year, by job.
    job_day = rng.integers(0, 365, g["jobs"])
    job_of = np.where(g["src"] >= d, g["src"] - d, g["dst"] - d)
    seen = [T_START + timedelta(days=int(x)) for x in job_day[job_of]]
    edges = [
        (*node_key(g, int(s)), *node_key(g, int(t)), at, at)
        for s, t, at in zip(g["src"], g["dst"], seen, strict=True)
    ]
    return namespaces, datasets, jobs, edges


COLUMNS = {
    "namespaces": "id, name, created_at, updated_at",
    "datasets": "id, namespace_id, name, kind, physical_name, facets, is_deleted, created_at, "
    "updated_at",
    "jobs": "id, namespace_id, name, type, facets, created_at, updated_at",
    "lineage_edges": "src_kind, src_id, dst_kind, dst_id, first_seen_at, last_seen_at",
}


def load(engine, g: dict, seed: int) -> None:
    """Bulk-load the graph: COPY on PostgreSQL, executemany on SQLite (no ORM)."""
    tables = dict(zip(COLUMNS, _rows(g, np.random.default_rng(seed + 1)), strict=True))
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        if engine.dialect.name == "postgresql":
            with conn.cursor() as cur:
                for table, rows in tables.items():
                    with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                for table in ("namespaces", "datasets", "jobs"):
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT max(id) FROM {table}))")
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            conn.autocommit = False
        else:
            def fix(v):  # naive UTC text with microseconds, exactly as SQLAlchemy writes it
                return v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v

            conn.execute("BEGIN")
            for table, rows in tables.items():
                marks = ", ".join("?" * len(COLUMNS[table].split(",")))
                conn.executemany(
                    f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})",
                    ([fix(v) for v in row] for row in rows),
                )
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
    finally:
        raw.close()


# --- in-memory BFS --------------------------------------------------------------------------------


class Memory:
    """CSR adjacency of the graph (out, in, and both ways) for depth-cut BFS."""

    def __init__(self, g: dict):
        n = g["datasets"] + g["jobs"]
        ones = np.ones(len(g["src"]), dtype=np.int8)
        out = sparse.csr_matrix((ones, (g["src"], g["dst"])), shape=(n, n))
        inn = out.T.tocsr()
        both = (out + inn).tocsr()
        self.graphs = {"downstream": out, "upstream": inn, "neighbourhood": both}
        self.g = g
        self.mark = np.zeros(n, dtype=np.int64)  # query stamp per node: no reallocation per query
        self.stamp = 0

    def bfs(self, op: str, start: int, depth: int,
            cap: int | None = None) -> dict[tuple[str, int], int]:
        """Nodes within ``depth`` hops of ``start`` and their distances, frontier by frontier;
        with ``cap``, the first ``cap`` of them (by distance, then id), as the catalog cuts."""
        m = self.graphs[op]
        indptr, indices = m.indptr, m.indices
        self.stamp += 1
        mark, stamp = self.mark, self.stamp
        mark[start] = stamp
        frontier = np.array([start])
        levels = [frontier]
        seen = 1
        for _ in range(depth):
            lo, hi = indptr[frontier], indptr[frontier + 1]
            lens = hi - lo
            total = int(lens.sum())
            if total == 0:
                break
            # Concatenated neighbour slices of the frontier without a Python loop.
            idx = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(total)
            nbrs = np.unique(indices[idx])
            frontier = nbrs[mark[nbrs] != stamp]
            if len(frontier) == 0:
                break
            full = cap is not None and seen + len(frontier) > cap
            if full:  # a level holds one kind, so index order is id order
                frontier = frontier[:cap - seen]
            mark[frontier] = stamp
            levels.append(frontier)
            seen += len(frontier)
            if full:
                break
        d = self.g["datasets"]
        out = {}
        for dist, level in enumerate(levels):
            for i in level.tolist():
                out[("d", i + 1) if i < d else ("j", i - d + 1)] = dist
        return out

    def induced_edges(self, nodes: dict) -> list[tuple]:
        """Edges with both ends in ``nodes``, as ``neighbourhood`` returns them."""
        d = self.g["datasets"]
        inside = np.zeros(len(self.mark), dtype=bool)
        inside[[k[1] - 1 if k[0] == "d" else d + k[1] - 1 for k in nodes]] = True
        keep = inside[self.g["src"]] & inside[self.g["dst"]]
        return sorted(
            (*node_key(self.g, int(s)), *node_key(self.g, int(t)))
            for s, t in zip(self.g["src"][keep], self.g["dst"][keep], strict=True)
        )


# --- measuring ------------------------------------------------------------------------------------


def _db_query(conn, op: str, key: tuple[str, int], depth: int, cap: int | None) -> dict:
    if op == "neighbourhood":
        return q.neighbourhood(conn, *key, depth, max_nodes=cap).nodes
    return q.walk(conn, *key, op, depth)


def _pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, p))


def run(url: str, datasets: int = 100_000, edges: int = 300_000, seed: int = 0,
        queries: int = 200, check: int = 20, budget_s: float = 20.0,
        cap: int | None = 10_000) -> list[dict]:
    """Migrate the empty database at ``url``, load a generated graph, time DB against BFS.

    Returns one row per (op, depth): p50/p95 milliseconds of each and the result sizes. The
    first ``check`` start nodes of each (op, depth) assert that DB and BFS agree exactly. A cell
    stops early (after at least 3 starts) once its DB queries took ``budget_s``: a depth-20
    neighbourhood spans most of the graph, and 200 of them would take an hour. Neighbourhoods
    stop at ``cap`` nodes (the catalog's CATALOG_MAX_LINEAGE_NODES; None: no cap), in the
    database and in memory alike.
    """
    t0 = time.perf_counter()
    g = generate(datasets, edges, seed)
    log(f"generated {g['datasets']} datasets, {g['jobs']} jobs, {len(g['src'])} edges "
        f"in {time.perf_counter() - t0:.1f}s")
    catalog_db.upgrade(url)
    engine = catalog_db.make_engine(url)
    t0 = time.perf_counter()
    load(engine, g, seed)
    log(f"loaded into {engine.dialect.name} in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    mem = Memory(g)
    log(f"built CSR adjacency in {time.perf_counter() - t0:.2f}s")
    rng = np.random.default_rng(seed + 2)
    starts = rng.choice(g["datasets"] + g["jobs"], size=queries, replace=False)
    results = []
    with engine.connect() as conn:
        for op in OPS:
            # Untimed warm-up: depth is a parameter, so this prepares the statement for all depths.
            for start in starts[:10].tolist():
                _db_query(conn, op, node_key(g, start), 1, cap)
            for depth in DEPTHS:
                db_t, mem_t, sizes = [], [], []
                for n, start in enumerate(starts.tolist()):
                    if n >= 3 and sum(db_t) > budget_s:
                        break
                    key = node_key(g, start)
                    t = time.perf_counter()
                    got = _db_query(conn, op, key, depth, cap)
                    db_t.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    want = mem.bfs(op, start, depth, cap if op == "neighbourhood" else None)
                    mem_t.append(time.perf_counter() - t)
                    sizes.append(len(got))
                    if n < check:
                        assert got == want, (op, depth, key)
                        if op == "neighbourhood" and depth <= 5:
                            graph = q.neighbourhood(conn, *key, depth, max_nodes=cap)
                            assert graph.edges == mem.induced_edges(want), (op, depth, key)
                row = {
                    "op": op, "depth": depth, "queries": len(db_t),
                    "db_p50_ms": _pct(db_t, 50), "db_p95_ms": _pct(db_t, 95),
                    "bfs_p50_ms": _pct(mem_t, 50), "bfs_p95_ms": _pct(mem_t, 95),
                    "nodes_mean": float(np.mean(sizes)), "nodes_max": int(np.max(sizes)),
                }
                row["ratio_p50"] = row["db_p50_ms"] / max(row["bfs_p50_ms"], 1e-9)
                row["ratio_p95"] = row["db_p95_ms"] / max(row["bfs_p95_ms"], 1e-9)
                results.append(row)
                log(f"{op} depth {depth}: db p95 {row['db_p95_ms']:.1f} ms, "
                    f"{row['nodes_mean']:.0f} nodes")
    engine.dispose()
    return results


def print_table(rows: list[dict], title: str) -> None:
    """The results as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    cols = ("op", "depth", "queries", "nodes mean/max", "DB p50", "DB p95", "BFS p50", "BFS p95",
            "DB/BFS p50", "DB/BFS p95")
    for col in cols:
        table.add_column(col, justify="left" if col == "op" else "right")
    for r in rows:
        table.add_row(
            r["op"], str(r["depth"]), str(r["queries"]), f"{r['nodes_mean']:.0f}/{r['nodes_max']}",
            f"{r['db_p50_ms']:.2f}", f"{r['db_p95_ms']:.2f}", f"{r['bfs_p50_ms']:.2f}",
            f"{r['bfs_p95_ms']:.2f}", f"{r['ratio_p50']:.1f}x", f"{r['ratio_p95']:.1f}x",
        )
    Console(width=120).print(table)


# The target: any depth the API allows, a neighbourhood answers within this (p95).
TARGET_P95_MS = 500.0


def append_results(rows: list[dict], title: str, command: str, load: tuple[str, str]) -> None:
    """Append the table, the machine, the load and the verdict to bench/RESULTS.md."""
    import os
    import platform

    worst = max((r["db_p95_ms"] for r in rows if r["op"] == "neighbourhood"), default=0.0)
    lines = ["", f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command}`", "",
             f"{title}. Machine: {platform.node()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}; load average before/after: {load[0]} / {load[1]}.",
             "", "| op | depth | queries | nodes mean/max | DB p50 | DB p95 | BFS p50 | BFS p95 "
             "| DB/BFS p95 |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['op']} | {r['depth']} | {r['queries']} | {r['nodes_mean']:.0f}/"
              f"{r['nodes_max']} | {r['db_p50_ms']:.2f} | {r['db_p95_ms']:.2f} | "
              f"{r['bfs_p50_ms']:.2f} | {r['bfs_p95_ms']:.2f} | {r['ratio_p95']:.1f}x |"
              for r in rows]
    lines += ["", f"Target: neighbourhood p95 <= {TARGET_P95_MS:.0f} ms at every depth: "
              f"**{'met' if worst <= TARGET_P95_MS else 'not met'}** (worst {worst:.1f} ms)."]
    path = Path(__file__).with_name("RESULTS.md")
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def _load() -> str:
    import os

    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark in a scratch database and print the table (times in ms)."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                   help="PostgreSQL server URL (a scratch database is made there) or a new "
                   "SQLite file URL")
    p.add_argument("--datasets", type=int, default=100_000, help="number of datasets")
    p.add_argument("--edges", type=int, default=300_000, help="number of lineage edges")
    p.add_argument("--queries", type=int, default=200, help="start nodes per (op, depth)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the graph and starts")
    p.add_argument("--max-nodes", type=int, default=10_000,
                   help="node cap of a neighbourhood (the catalog's default; 0: none)")
    args = p.parse_args(argv)
    url = make_url(args.url)
    cap = args.max_nodes or None
    title = (f"{url.get_backend_name()}: {args.datasets} datasets, {args.edges} edges, "
             f"neighbourhood cap {cap or 'none'}, ms")
    load_before = _load()
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if not url.database or path.exists():
            p.error(f"--url must name a SQLite file that does not exist yet: {path}")
        try:
            rows = run(url.render_as_string(hide_password=False), args.datasets, args.edges,
                       args.seed, args.queries, cap=cap)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        admin = psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                password=url.password, dbname=url.database or "postgres",
                                autocommit=True)
        admin.execute('DROP DATABASE IF EXISTS "lineage_bench" WITH (FORCE)')
        admin.execute('CREATE DATABASE "lineage_bench"')
        try:
            bench_url = url.set(database="lineage_bench").render_as_string(hide_password=False)
            rows = run(bench_url, args.datasets, args.edges, args.seed, args.queries, cap=cap)
        finally:
            admin.execute('DROP DATABASE IF EXISTS "lineage_bench" WITH (FORCE)')
            admin.close()
    print_table(rows, title)
    command = "python bench/lineage_bench.py " + " ".join(argv if argv is not None
                                                          else sys.argv[1:])
    append_results(rows, title, command.strip(), (load_before, _load()))


if __name__ == "__main__":
    main()
