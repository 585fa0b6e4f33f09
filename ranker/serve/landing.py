"""Land what the serving process was told: its events join the raw events the pipeline reads.

``catalog ranker land-events`` appends every not yet landed ``served_events`` part (posted events
and feedback, ``ranker.serve.batches``) to ``raw/events.parquet`` as a new version, the way
``ranker.feedback`` lands simulated responses, and moves the parts to ``events/landed/``;
``catalog pipeline run --skip-landing`` then consumes them. Lineage: served_events versions and
the old raw events -> the new raw events -> features -> the next model.

Landed rows get the next ``source_row`` numbers and their item's category from the raw events.
A landing killed after the new file replaced the old one but before the parts moved lands those
parts again next time; the pipeline rejects the repeats as duplicates (same user, item,
behaviour and time), so nothing is counted twice.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from catalog import client as cc
from catalog import facets as cf
from ranker.feedback import parquet_facts, report_raw_version
from ranker.registry import JOB_NAMESPACE
from ranker.serve.batches import dataset_facts


def pending_parts(data_dir: Path) -> list[Path]:
    """``served_events`` parts not landed yet, oldest first."""
    return sorted((Path(data_dir) / "events").glob("part-*.parquet"))


def land(workdir: Path, parts: list[Path]) -> int:
    """Append ``parts`` to ``workdir/raw/events.parquet`` (atomically); rows appended."""
    raw = Path(workdir) / "raw" / "events.parquet"
    if not raw.is_file():
        raise FileNotFoundError(f"no raw events at {raw}: land a source with "
                                "`catalog pipeline run` first")
    out = raw.with_name(".events.landing.parquet")
    con = duckdb.connect()
    try:
        con.read_parquet(str(raw)).create_view("raw")
        con.read_parquet([str(p) for p in parts]).create_view("served")
        (next_row,) = con.execute("select coalesce(max(source_row), -1) + 1 from raw").fetchone()
        (rows,) = con.execute("select count(*) from served").fetchone()
        con.execute("""
            copy (
                with categories as (
                    select item_id, any_value(category_id) as category_id from raw
                    where category_id is not null group by item_id
                )
                select * from raw
                union all
                select ($next_row + row_number() over (
                            order by s.received_at, s.user_id, s.item_id, s.behavior) - 1
                       )::BIGINT as source_row,
                       s.user_id, s.item_id, c.category_id, s.behavior, s.ts
                from served s left join categories c on c.item_id = s.item_id
            ) to $out (format parquet)
        """, {"next_row": int(next_row), "out": str(out)})
    finally:
        con.close()
    out.replace(raw)  # readers see the old version or the new one, never half
    return int(rows)


def land_and_report(workdir: Path, data_dir: Path, client: cc.CatalogClient, *,
                    namespace: str = "recsys") -> dict:
    """Land the pending parts and report it: served events + old raw events -> new raw events."""
    workdir, data_dir = Path(workdir).resolve(), Path(data_dir).resolve()
    parts = pending_parts(data_dir)
    if not parts:
        return {"parts": 0, "rows": 0, "run_id": None}
    raw = workdir / "raw" / "events.parquet"
    old_fp, _, raw_cols = parquet_facts(raw, landed=True)
    # The served events' version now: every part so far, those landed before included.
    served_fp, _ = dataset_facts(data_dir, "served_events")
    inputs = [cc.InputDataset(namespace, "served_events", facets={
                  "version": cf.dataset_version(served_fp)}),
              cc.InputDataset(namespace, "raw_events", facets={
                  "version": cf.dataset_version(old_fp), "schema": cf.schema(raw_cols)})]
    job_facets = {"jobType": cf.job_type("BATCH", "DUCKDB", "LANDING"),
                  "documentation": cf.job_documentation(
                      "Appends the events and feedback posted to the serving process to the "
                      "raw events, as a new version the next pipeline run consumes.")}
    with client.run(JOB_NAMESPACE, "land_served_events", inputs=inputs,
                    job_facets=job_facets) as run:
        rows = land(workdir, parts)
        new_rows = report_raw_version(run, namespace, raw, raw_cols)
        run.add_run_facets(landing=cf.custom_facet(parts=len(parts), rows=rows))
    landed = data_dir / "events" / "landed"
    landed.mkdir(exist_ok=True)
    for p in parts:
        shutil.move(p, landed / p.name)
    return {"parts": len(parts), "rows": rows, "raw_events_rows": new_rows,
            "run_id": run.run_id}
