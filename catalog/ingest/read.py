"""Step 3 of ingestion: read in bulk what the new events touch, and lock it.

Every lock is taken in one global order: the events' jobs (by id), then the datasets they will
change (by id); concurrent writers queue on the first lock they share instead of deadlocking.
"""

from __future__ import annotations

from datetime import datetime

from catalog.ingest import datasets as dsvc
from catalog.ingest.fold_runs import column_inputs
from catalog.ingest.unit import Unit
from catalog.ingest.validate import Event


def preload(unit: Unit, events: list[Event]) -> None:
    """Read the rows ``events`` touch and take their locks: jobs, then changing datasets."""
    unit.load_jobs({ev.job_key for ev in events if ev.job_key})
    keys = {(d["namespace"], d["name"]) for ev in events for d in ev.mentions()}
    keys |= {k for ev in events if ev.kind == "RunEvent"
             for d in ev.body.get("outputs") or [] for k in column_inputs(d)}
    unit.load_datasets(keys)
    first: dict[str, tuple[int, datetime]] = {}
    for ev in events:
        if ev.kind == "RunEvent" and ev.job_key in unit.jobs:
            first.setdefault(ev.run_uuid, (unit.jobs[ev.job_key].id, ev.time))
    unit.load_runs(first, ahead={ev.run_uuid for ev in events if ev.kind == "RunEvent"
                                 and ev.body.get("eventType") == "COMPLETE"})
    changing, fingerprints = [], []
    for ev in events:
        for d in ev.mentions():
            row = unit.datasets.get((d["namespace"], d["name"]))
            if row is not None and (ev.kind == "DatasetEvent" or dsvc.facets_change(
                    row, d.get("facets") or {})):
                changing.append(row)
        if ev.kind != "RunEvent":
            continue
        if ev.body.get("eventType") == "COMPLETE":  # outputs get versions
            changing += [unit.datasets[k] for d in ev.body.get("outputs") or []
                         if (k := (d["namespace"], d["name"])) in unit.datasets]
        for d in ev.body.get("inputs") or []:  # inputs may get observed versions
            row = unit.datasets.get((d["namespace"], d["name"]))
            fp = dsvc.fingerprint_of({**(d.get("facets") or {}), **(d.get("inputFacets") or {})})
            if row is not None and fp is not None:
                fingerprints.append((row, fp))
            elif row is not None and row.current_version_id is None:
                changing.append(row)
    unit.load_fingerprints({(row.id, fp) for row, fp in fingerprints})
    unseen = [(row, fp) for row, fp in fingerprints if unit.fingerprints[row.id, fp] is None]
    unit.lock(changing + [row for row, _ in unseen])
    if unit.stage is not None:  # which outputs' versions a re-sent COMPLETE already wrote
        outputs = [(d, ev.run_uuid) for ev in events if ev.kind == "RunEvent"
                   and ev.body.get("eventType") == "COMPLETE" for d in ev.body.get("outputs") or []]
        unit.stage.expected = len(outputs) + len(unseen)
        unit.stage.lookup(dsvc.version_uuid(d["namespace"], d["name"], "run", run_uuid)
                          for d, run_uuid in outputs)
    if unseen:  # looked up before the lock: look again
        for row, fp in unseen:
            unit.fingerprints.pop((row.id, fp), None)
        unit.load_fingerprints({(row.id, fp) for row, fp in unseen})
