"""Step 5 of ingestion: write what one ingest's events changed, a statement per table."""

from __future__ import annotations

from catalog.db import pipelined
from catalog.driver import execute_many, insert_many_returning
from catalog.ingest import sql as q
from catalog.ingest.datasets import write_changes
from catalog.ingest.unit import Unit
from catalog.ingest.writes import write_tracked


def flush(unit: Unit) -> None:
    """Step 5 of ingestion: write what the events changed in memory, a statement per table (new
    runs first, then the staged versions, then updates, run I/O, edges and states)."""
    s = unit.session
    dropped = [unit.runs.pop(u).id for u, pending in unit.provisional.items() if pending]
    if dropped:
        s.execute(q.DELETE_RUNS, {"ids": dropped})
    new = [r for r in unit.runs.values() if r.id is None]
    if new:
        ids = dict(insert_many_returning(s, q.INSERT_RUNS, [
            {c: getattr(r, c) for c in q.RUN_COLUMNS} for r in new], columnar=True))
        for r in new:
            r.id, r.changes = ids[r.uuid], {}
    if unit.stage is not None:  # before the rows that point at the versions
        unit.stage.flush()
    with pipelined(s):  # nothing below returns rows: one round trip on PostgreSQL
        write_tracked(s, q.JOBS, unit.jobs.values())
        write_tracked(s, q.RUNS, unit.runs.values())
        write_changes(s, unit.datasets.values())
        rows = [{"run_id": unit.runs[u].id, "dataset_id": d, "direction": direction,
                 "dataset_version_id": io.version_id, "facets": io.facets}
                for u, ios in unit.io.items() for (d, direction), io in ios.items()
                if io.dirty]
        if rows:
            execute_many(s, q.upsert_io(unit.dialect), rows, columnar=True)  # one per key
        if unit.edges:
            execute_many(s, q.upsert_edges(unit.dialect), [
                {"src_kind": k[0], "src_id": k[1], "dst_kind": k[2], "dst_id": k[3],
                 "first_seen_at": first, "last_seen_at": last}
                for k, (first, last) in sorted(unit.edges.items())], columnar=True)
        if unit.states:
            execute_many(s, q.INSERT_STATES, [{"run_id": run.id, "state": state, "event_time": at}
                                        for run, state, at in unit.states], columnar=True)
    unit.edges, unit.states = {}, []
