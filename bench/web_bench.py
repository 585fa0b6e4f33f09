"""Page server time with 100,000 datasets in PostgreSQL: dataset page and search, p50/p95.

Loads a fresh database with SQL (generate_series, not HTTP): namespaces, datasets with
descriptions, five columns each, tags, owners, versions, quality results and a lineage chain; the
search index is built in bulk by re-running migration 0004 after the load (its triggers would
otherwise fire per row). Then times requests through the app in-process (WSGI test client: server
time without network) and appends the table to bench/RESULTS.md.

    python bench/web_bench.py [--datasets 100000] [--requests 300] [--pg URL]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from catalog import db as catalog_db
from catalog.app import create_app
from catalog.db import session_scope
from catalog.services.auth import create_token

WORDS = ("orders clicks sessions users items carts purchases returns prices stock reviews "
         "ratings search views events refunds coupons basket wishlist inventory shipping "
         "payments fraud churn cohort funnel margin vendor catalog brand category").split()

LOAD = """
INSERT INTO namespaces (name, created_at, updated_at)
  SELECT 'warehouse' || g, now(), now() FROM generate_series(1, 20) g;
INSERT INTO tags (name, created_at) SELECT 'tag_' || g, now() FROM generate_series(1, 50) g;
INSERT INTO datasets (namespace_id, name, kind, physical_name, description, facets, is_deleted,
                      created_at, updated_at, last_modified_at)
  SELECT 1 + g % 20, (ARRAY[{words}])[1 + g % {nw}] || '_' || (ARRAY[{words}])[1 + (g / 7) % {nw}]
         || '_' || g, CASE WHEN g % 10 = 0 THEN 'feature_table' ELSE 'table' END,
         'tbl_' || g,
         'Daily ' || (ARRAY[{words}])[1 + (g / 3) % {nw}] || ' by ' ||
         (ARRAY[{words}])[1 + (g / 11) % {nw}] || ' for team ' || (g % 40),
         '{{}}', false, now() - interval '90 days', now(), now() - (g % 100) * interval '1 day'
  FROM generate_series(1, {n}) g;
INSERT INTO dataset_fields (dataset_id, name, type, description, ordinal, created_at, updated_at)
  SELECT d.id, c.name || '_' || (d.id % 13), 'BIGINT', 'the ' || c.name, c.ord, now(), now()
  FROM datasets d, (VALUES ('user_id', 0), ('item_id', 1), ('amount', 2), ('ts', 3),
                           ('category', 4)) c(name, ord);
INSERT INTO dataset_tags (dataset_id, tag_id, created_at)
  SELECT id, 1 + id % 50, now() FROM datasets;
INSERT INTO dataset_owners (dataset_id, name, type, created_at)
  SELECT id, 'team_' || (id % 40), 'TEAM', now() FROM datasets WHERE id % 3 <> 0;
INSERT INTO jobs (namespace_id, name, type, facets, created_at, updated_at)
  SELECT 1 + g % 20, 'job_' || g, 'BATCH', '{{}}', now(), now()
  FROM generate_series(1, {n} / 10) g;
INSERT INTO runs (uuid, job_id, state, facets, created_at, updated_at, started_at, ended_at)
  SELECT md5('run' || id)::uuid::text, id, 'COMPLETE', '{{}}', now(), now(), now(), now()
  FROM jobs;
INSERT INTO dataset_versions (uuid, dataset_id, version, schema_fields, row_count, run_id,
                              facets, created_at)
  SELECT md5('v' || d.id || '-' || v)::uuid::text, d.id, v, '[]', 1000 * v,
         1 + (d.id - 1) / 10, '{{}}', now() - (3 - v) * interval '1 day'
  FROM datasets d, generate_series(1, 3) v;
UPDATE datasets d SET current_version_id = v.id FROM dataset_versions v
  WHERE v.dataset_id = d.id AND v.version = 3;
INSERT INTO run_io (run_id, dataset_id, dataset_version_id, direction, facets, created_at)
  SELECT v.run_id, v.dataset_id, v.id, 'output', '{{}}', now()
  FROM dataset_versions v WHERE v.version = 3;
INSERT INTO quality_assertions (dataset_version_id, run_id, assertion, "column", success,
                                severity, details, created_at)
  SELECT v.id, v.run_id, a, 'user_id_' || (v.dataset_id % 13), NOT (a = 'unique' AND
         v.dataset_id % 17 = 0), 'critical', '{{}}', now()
  FROM dataset_versions v, unnest(ARRAY['not_null', 'unique']) a;
-- Lineage: dataset i -> job -> dataset i + 1 within chains of ten.
INSERT INTO lineage_edges (src_kind, src_id, dst_kind, dst_id, first_seen_at, last_seen_at)
  SELECT 'j', 1 + (d.id - 1) / 10, 'd', d.id, now(), now() FROM datasets d;
INSERT INTO lineage_edges (src_kind, src_id, dst_kind, dst_id, first_seen_at, last_seen_at)
  SELECT 'd', d.id, 'j', 1 + (d.id - 1) / 10 + 1, now(), now()
  FROM datasets d WHERE (d.id - 1) / 10 + 1 < {n} / 10;
"""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def load(url: str, n: int) -> float:
    started = time.perf_counter()
    catalog_db.upgrade(url, "0003")  # the index is built by 0004 after the load, in bulk
    u = make_url(url)
    words = ", ".join(f"'{w}'" for w in WORDS)
    with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username,
                         dbname=u.database) as conn:
        conn.execute(LOAD.format(words=words, nw=len(WORDS), n=n))
        conn.execute("ANALYZE")
    catalog_db.upgrade(url)
    with psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database,
                         autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def timed(client, paths: list[str]) -> list[float]:
    out = []
    for p in paths:
        t = time.perf_counter()
        r = client.get(p)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (p, r.status_code, r.get_data(as_text=True)[:300])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=100_000, help="datasets to load")
    ap.add_argument("--requests", type=int, default=300, help="timed requests per page kind")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="PostgreSQL server URL (a scratch database is created and dropped)")
    ap.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--keep", action="store_true",
                    help="keep the loaded database (its name is printed) for profiling")
    ap.add_argument("--reuse", metavar="DB",
                    help="time against this database, loaded by an earlier --keep run, "
                         "upgraded to head first")
    args = ap.parse_args()
    server = make_url(args.pg)
    name = args.reuse or f"web_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(host=server.host, port=server.port or 5432, user=server.username,
                            dbname=server.database or "postgres", autocommit=True)
    if not args.reuse:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        if args.reuse:
            started = time.perf_counter()
            catalog_db.upgrade(url)
            load_s = time.perf_counter() - started
        else:
            load_s = load(url, args.datasets)
        app = create_app({"database_url": url})
        # Pages need a login (issue 6): a viewer's token, checked on every request as in use.
        with session_scope(app.extensions["catalog"].sessions) as s:
            token, _ = create_token(s, f"bench-{uuid.uuid4().hex[:8]}", "viewer",
                                    actor="web_bench")
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        rnd = random.Random(5)
        with app.extensions["catalog"].engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT n.name, d.name FROM datasets d JOIN namespaces n ON n.id = d.namespace_id "
                "ORDER BY random() LIMIT :k"), {"k": args.requests}).all()
        dataset_paths = [f"/datasets/{ns}/{n}" for ns, n in rows]
        searches = []
        for _ in range(args.requests):
            q = " ".join(rnd.sample(WORDS, rnd.choice((1, 2))))
            facet = rnd.choice(("", "&kind=table", "&tag=tag_7", "&quality=failing",
                                "&owner=team_3", "&namespace=warehouse4"))
            searches.append(f"/search?q={q.replace(' ', '+')}{facet}")
        timed(client, dataset_paths[:20] + searches[:20])  # warm caches and templates
        results = {"dataset page": timed(client, dataset_paths),
                   "search": timed(client, searches),
                   "lineage graph JSON (depth 3)": timed(client, [
                       f"/lineage/graph.json?node=dataset:{p.split('/')[2]}:"
                       f"{p.split('/', 3)[3]}&depth=3" for p in dataset_paths[:100]])}
    finally:
        for eng in ("engine", "read_engine"):
            if "app" in locals():
                getattr(app.extensions["catalog"], eng).dispose()
        if args.keep or args.reuse:
            print(f"kept database {name}")
        else:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    targets = {"dataset page": 150, "search": 100}
    lines = ["| page | requests | p50 ms | p95 ms | max ms | target p95 |",
             "|---|---|---|---|---|---|"]
    for k, v in results.items():
        t, p95 = targets.get(k), percentile(v, 95)
        verdict = f"<= {t} ms: {'met' if p95 <= t else 'NOT met'}" if t else "-"
        lines.append(f"| {k} | {len(v)} | {statistics.median(v):.1f} | {p95:.1f} | "
                     f"{max(v):.1f} | {verdict} |")
    table = "\n".join(lines)
    print(f"loaded {args.datasets:,} datasets (+5 columns, tags, owners, 3 versions, checks, "
          f"lineage) and built the search index in {load_s:.1f} s")
    print(table)
    if not args.no_results:
        machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, shared 2-core VM"
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        with open(Path(__file__).with_name("RESULTS.md"), "a") as f:
            f.write(f"\n## Web pages with {args.datasets:,} datasets in PostgreSQL — "
                    f"`python bench/web_bench.py --datasets {args.datasets} --requests "
                    f"{args.requests}`\n\n{when}, {machine}; server time through the WSGI app "
                    f"in-process (no network). Load and index build: {load_s:.0f} s.\n\n"
                    f"{table}\n")


if __name__ == "__main__":
    main()
