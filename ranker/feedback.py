"""Close the loop: shown recommendations and simulated responses become new raw events.

Each user sees their top-K list. A simulated user clicks a shown item with a probability that
falls with its rank (position bias) and rises when the item is in the user's favourite category;
some clicks become carts and some carts purchases. The responses are appended to the landed raw
events as a new version of ``raw/events.parquet``, which the next pipeline run consumes — so
lineage runs recommendations -> feedback -> raw events -> features -> model -> recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class FeedbackConfig:
    """Response model of the simulated users."""

    p_click_top: float = 0.30  # click probability of the item ranked first
    rank_decay: float = 0.85  # click probability multiplies by this per rank further down
    category_boost: float = 2.0  # favourite-category items are this much likelier to be clicked
    p_cart: float = 0.25  # click -> cart
    p_buy: float = 0.40  # cart -> purchase
    seed: int = 11


def simulate(workdir: Path, recommendations: Path, cfg: FeedbackConfig = FeedbackConfig()) -> dict:
    """Append simulated responses to ``workdir/raw/events.parquet``; return counts.

    Deterministic for the same inputs and seed: randomness comes from hashing (seed, user, item,
    stage), not from a generator whose state depends on row order.
    """
    raw = Path(workdir) / "raw" / "events.parquet"
    if not raw.is_file():
        raise FileNotFoundError(f"no raw events at {raw}")
    if not Path(recommendations).is_file():
        raise FileNotFoundError(f"no recommendations at {recommendations}")
    con = duckdb.connect()
    try:
        con.read_parquet(str(raw)).create_view("raw")
        con.read_parquet(str(recommendations)).create_view("recs")
        # Responses start an hour after the latest plausible event (bad timestamps ignored).
        start_ts = con.execute(
            "select coalesce(max(try_cast(ts as BIGINT)), 0) + 3600 from raw "
            "where try_cast(ts as BIGINT) between 946684800 and 4000000000"
        ).fetchone()[0]
        next_row = con.execute("select coalesce(max(source_row), -1) + 1 from raw").fetchone()[0]
        # u(stage) in [0, 1): a reproducible uniform per (seed, user, item, stage).
        params = {"seed": int(cfg.seed), "p_click_top": float(cfg.p_click_top),
                  "rank_decay": float(cfg.rank_decay), "boost": float(cfg.category_boost),
                  "p_cart": float(cfg.p_cart), "p_buy": float(cfg.p_buy),
                  "start_ts": int(start_ts)}
        con.execute("""
            create table responses as
            with favourite as (
                select try_cast(user_id as BIGINT) as user_id,
                       mode(try_cast(category_id as BIGINT)) as category_id
                from raw group by 1
            ),
            items as (
                select try_cast(item_id as BIGINT) as item_id,
                       any_value(try_cast(category_id as BIGINT)) as category_id
                from raw group by 1
            ),
            shown as (
                select r.user_id, r.item_id, r.rank,
                       least(1.0, $p_click_top * pow($rank_decay, r.rank - 1)
                             * case when i.category_id = f.category_id
                                    then $boost else 1 end) as p_click,
                       (hash($seed, r.user_id, r.item_id, 'click') % 1000000) / 1000000.0
                           as u_click,
                       (hash($seed, r.user_id, r.item_id, 'cart') % 1000000) / 1000000.0
                           as u_cart,
                       (hash($seed, r.user_id, r.item_id, 'buy') % 1000000) / 1000000.0
                           as u_buy
                from recs r
                left join items i on r.item_id = i.item_id
                left join favourite f on r.user_id = f.user_id
            ),
            clicked as (select * from shown where u_click < p_click),
            events as (
                select user_id, item_id, 'pv' as behavior, rank, 0 as step from clicked
                union all
                select user_id, item_id, 'cart', rank, 1 from clicked where u_cart < $p_cart
                union all
                select user_id, item_id, 'buy', rank, 2 from clicked
                where u_cart < $p_cart and u_buy < $p_buy
            )
            select user_id, item_id, behavior,
                   $start_ts + (rank * 60) + step * 20 as ts
            from events
        """, params)
        counts = dict(con.execute(
            "select behavior, count(*) from responses group by 1").fetchall())
        out = raw.with_name("events.next.parquet")
        con.execute("""
            copy (
                select * from raw
                union all
                select ($next_row + row_number() over (order by ts, user_id, item_id, behavior)
                        - 1)::BIGINT as source_row,
                       user_id::VARCHAR, item_id::VARCHAR,
                       (select any_value(category_id) from raw r2
                        where r2.item_id = responses.item_id::VARCHAR) as category_id,
                       behavior, ts::VARCHAR
                from responses
            ) to $out (format parquet)
        """, {"next_row": int(next_row), "out": str(out)})
    finally:
        con.close()
    out.replace(raw)  # atomic: readers see the old version or the new one, never half
    return {"pv": counts.get("pv", 0), "cart": counts.get("cart", 0), "buy": counts.get("buy", 0)}


def report_raw_version(run, namespace: str, raw: Path, raw_cols) -> int:
    """Declare the raw events file ``raw`` just rewritten as ``run``'s output (a new version of
    ``raw_events``: fingerprint, schema, location, row count); returns its row count."""
    from catalog import facets as cf

    fp, rows, _ = parquet_facts(raw, landed=True)
    uri = f"file://{raw}"
    run.add_output(namespace, "raw_events", facets={
        "version": cf.dataset_version(fp), "schema": cf.schema(raw_cols),
        "dataSource": cf.datasource(uri, uri), "datasetType": cf.dataset_type("file"),
    }, output_facets={"outputStatistics": cf.output_statistics(rows)})
    return rows


def parquet_facts(path: Path, *,
                   landed: bool = False) -> tuple[str, int, list[tuple[str, str]]]:
    """Fingerprint, row count and schema of a Parquet file, computed in DuckDB.

    ``landed``: a landed source file, fingerprinted as the pipeline does (sha256 of its bytes,
    ``pipelines.tables.file_fingerprint``), so both name the same version; other files (the
    recommendations) by their rows, as the job that wrote them reported them.
    """
    from pipelines.tables import columns, file_fingerprint, fingerprint

    con = duckdb.connect()
    try:
        con.read_parquet(str(path)).create_view("t")
        if landed:
            fp = file_fingerprint(path)
            (rows,) = con.execute("select count(*) from t").fetchone()
        else:
            fp, rows = fingerprint(con, "t")
        return fp, rows, columns(con, "t")
    finally:
        con.close()


def simulate_and_report(
    workdir: Path, recommendations: Path, client, *, namespace: str = "recsys",
    job_namespace: str = "recsys-feedback", cfg: FeedbackConfig = FeedbackConfig(),
) -> dict:
    """Simulate feedback and report it: recommendations + old raw events -> new raw events."""
    from catalog import client as cc
    from catalog import facets as cf

    raw = Path(workdir).resolve() / "raw" / "events.parquet"
    recs_fp, recs_rows, recs_cols = parquet_facts(Path(recommendations))
    old_fp, _, raw_cols = parquet_facts(raw, landed=True)
    inputs = [
        cc.InputDataset(namespace, "recommendations", facets={
            "version": cf.dataset_version(recs_fp), "schema": cf.schema(recs_cols)}),
        cc.InputDataset(namespace, "raw_events", facets={
            "version": cf.dataset_version(old_fp), "schema": cf.schema(raw_cols)}),
    ]
    job_facets = {
        "jobType": cf.job_type("BATCH", "DUCKDB", "FEEDBACK"),
        "documentation": cf.job_documentation(
            "Simulated users respond to the lists they were shown; responses are appended to "
            "the raw events as a new version."),
    }
    with client.run(job_namespace, "simulate_feedback", inputs=inputs,
                    job_facets=job_facets) as run:
        counts = simulate(workdir, recommendations, cfg)
        new_rows = report_raw_version(run, namespace, raw, raw_cols)
        run.add_run_facets(feedback=cf.custom_facet(**counts, recommendations=recs_rows))
    return {**counts, "run_id": run.run_id, "raw_events_rows": new_rows}
