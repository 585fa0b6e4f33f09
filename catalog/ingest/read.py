"""Step 3 of ingestion: read in bulk what the new events touch, and lock it.

Every lock is taken in one global order: the events' jobs (by id), then the datasets they will
change (by id); concurrent writers queue on the first lock they share instead of deadlocking.
:func:`preload` does it for a whole batch before folding; folding an event calls the same reads
(:func:`lock`, :func:`run`, :func:`version_by_fingerprint`) for what it needs beyond that, and
they cost nothing for rows already held.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from catalog.driver import fetch, fetch_all, insert_many_returning
from catalog.ingest import datasets as dsvc
from catalog.ingest import sql as q
from catalog.ingest.datasets import DatasetRow, VersionRef, column_inputs
from catalog.ingest.rows import IORow, RunRow, dataset_row, job_row, run_row
from catalog.ingest.unit import Unit
from catalog.ingest.validate import Event


def preload(unit: Unit, events: list[Event], recording: tuple | None = None) -> bool:
    """Read the rows ``events`` touch and take their locks: jobs, then changing datasets.

    The events' jobs (locked), datasets and runs are read in one round trip, in that order,
    after ``recording`` (the INSERT of one event's raw row, see
    :func:`catalog.ingest.record.recording`) when given. Returns False when that INSERT stored
    nothing (a re-send: there is nothing to fold, and nothing more is read), else True.
    """
    jobs = sorted({ev.job_key for ev in events if ev.job_key} - set(unit.jobs))
    keys = {(d["namespace"], d["name"]) for ev in events for d in ev.mentions()}
    keys |= {k for ev in events if ev.kind == "RunEvent"
             for d in ev.body.get("outputs") or [] for k in column_inputs(d)}
    keys = sorted(keys - set(unit.datasets))
    uuids = sorted({ev.run_uuid for ev in events if ev.kind == "RunEvent"} - set(unit.runs))
    reads = {"jobs": (q.JOBS_LOCKED, {"keys": jobs}),
             "datasets": (q.DATASETS_BY_KEY, {"keys": keys}),
             "runs": (q.RUNS_BY_UUID, {"uuids": uuids})}
    asked = [name for name, (_, params) in reads.items() if any(params.values())]
    answers = fetch_all(unit.session, ([recording] if recording is not None else [])
                        + [reads[name] for name in asked])
    if recording is not None and not answers.pop(0):
        return False
    rows = dict.fromkeys(reads, []) | dict(zip(asked, answers, strict=True))
    for r in rows["jobs"]:
        unit.jobs[r.ns, r.name] = job_row(r)
    for r in rows["datasets"]:
        unit.datasets[r.ns, r.name] = dataset_row(r)
    _put_runs(unit, rows["runs"])
    first: dict[str, tuple[int, datetime]] = {}
    for ev in events:
        if ev.kind == "RunEvent" and ev.job_key in unit.jobs:
            first.setdefault(ev.run_uuid, (unit.jobs[ev.job_key].id, ev.time))
    # The runs were read after their jobs' locks: those not found are absent.
    load_runs(unit, first, ahead={ev.run_uuid for ev in events if ev.kind == "RunEvent"
                                 and ev.body.get("eventType") == "COMPLETE"}, read=set(uuids))
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
    load_fingerprints(unit, {(row.id, fp) for row, fp in fingerprints})
    unseen = [(row, fp) for row, fp in fingerprints if unit.fingerprints[row.id, fp] is None]
    lock(unit, changing + [row for row, _ in unseen])
    if unit.stage is not None:  # which outputs' versions a re-sent COMPLETE already wrote
        outputs = [(d, ev.run_uuid) for ev in events if ev.kind == "RunEvent"
                   and ev.body.get("eventType") == "COMPLETE" for d in ev.body.get("outputs") or []]
        unit.stage.expected = len(outputs) + len(unseen)
        unit.stage.lookup(dsvc.version_uuid(d["namespace"], d["name"], "run", run_uuid)
                          for d, run_uuid in outputs)
    if unseen:  # looked up before the lock: look again
        for row, fp in unseen:
            unit.fingerprints.pop((row.id, fp), None)
        load_fingerprints(unit, {(row.id, fp) for row, fp in unseen})
    return True


# --- reads and locks, also taken while folding (each a no-op for rows already held) ---------


def lock(unit: Unit, rows) -> None:
    """Lock the datasets ``rows`` (in id order) and re-read them, current version included.

    Every change to a dataset, or to rows under it (fields, versions), happens under this
    lock; so a row with pending changes is already locked and never re-read.
    """
    todo = {r.id: r for r in rows if r.id not in unit.locked}
    if not todo:
        return
    session = unit.sql
    fresh, stale = {}, []
    for r in fetch(session, q.DATASETS_LOCKED, {"ids": sorted(todo)}):
        current = None
        if r.current_version_id is not None:
            current = VersionRef(r.current_version_id, r.cv_at, r.cv_fp, r.cv_fields)
            # Waiting for the lock, PostgreSQL re-reads the locked row but not the version
            # joined to it: a version made current meanwhile is read on its own, below.
            if r.cv_at is None:
                stale.append(r.current_version_id)
        fresh[r.id] = dataset_row(r, current)
    if stale:
        versions = {v.id: VersionRef(*v) for v in fetch(session, q.VERSIONS_BY_ID, {"ids": stale})}
        for row in fresh.values():
            if row.current is not None and row.current.created_at is None:
                row.current = versions[row.current.id]
    for ds_id, row in todo.items():
        unit.touch(row)
        vars(row).update({k: v for k, v in vars(fresh[ds_id]).items() if k != "changes"})
        unit.put(unit.locked, ds_id, True)



def version_by_fingerprint(unit: Unit, row: DatasetRow, fp: str) -> int | None:
    """The latest version of ``row`` with content fingerprint ``fp``, if any."""
    if (row.id, fp) not in unit.fingerprints:
        load_fingerprints(unit, [(row.id, fp)])
    return unit.fingerprints[row.id, fp]


def load_fingerprints(unit: Unit, keys) -> None:
    keys = sorted(set(keys) - set(unit.fingerprints))
    if keys:
        session = unit.sql
        found = {(d, f): v for d, f, v in fetch(session, q.VERSIONS_BY_FINGERPRINT, {"keys": keys})}
        for key in keys:  # ordered by version: the latest one won
            unit.put(unit.fingerprints, key, found.get(key))



def load_runs(unit: Unit, first: dict[str, tuple[int, datetime]], ahead: set[str],
              read: set[str] = frozenset()) -> None:
    """Read the runs ``first`` names; insert the new ones among ``ahead`` in one statement.

    ``first`` maps each run's uuid to the job id and time of its first event (call with
    those jobs locked). Runs inserted ahead (those whose events need the run's id, for the
    versions they write) stay provisional until one of their events is folded: runs whose
    every event failed are deleted again by :func:`~catalog.ingest.flush.flush`. Other new runs
    are inserted there.
    """
    uuids = sorted(set(first) - set(unit.runs))
    if not uuids:
        return
    if not read.issuperset(uuids):  # ``read``: looked for already, with these jobs locked
        _read_runs(unit, unit.session, uuids)
    new = [u for u in uuids if u not in unit.runs]
    unit.absent.update(new)
    new = [u for u in new if u in ahead]
    if new:
        rows = [RunRow(id=None, uuid=u, job_id=first[u][0], created_at=first[u][1])
                for u in new]
        ids = dict(insert_many_returning(unit.session, q.insert_runs(unit.dialect), [
            {c: getattr(r, c) for c in q.RUN_COLUMNS} for r in rows], columnar=True))
        for r in rows:
            if r.uuid in ids:
                r.id = ids[r.uuid]
                unit.runs[r.uuid], unit.io[r.uuid] = r, {}
                unit.provisional[r.uuid] = True
        # Inserted meanwhile by a writer of another job: read, for the events to refuse.
        _read_runs(unit, unit.session, [u for u in new if u not in ids])



def _read_runs(unit: Unit, session: Session, uuids: list[str]) -> None:
    _put_runs(unit, fetch(session, q.RUNS_BY_UUID, {"uuids": uuids}))


def _put_runs(unit: Unit, rows) -> None:
    """Hold the runs of RUNS_BY_UUID's ``rows`` (a row per run I/O row) with their I/O."""
    runs: dict[str, RunRow] = {}
    ios: dict[str, dict] = {}
    for r in rows:
        if r.uuid not in runs:
            runs[r.uuid], ios[r.uuid] = run_row(r), {}
        if r.io_dataset_id is not None:
            ios[r.uuid][r.io_dataset_id, r.io_direction] = IORow(r.io_version_id, r.io_facets)
    for uuid, run in runs.items():
        unit.put(unit.runs, uuid, run)
        unit.put(unit.io, uuid, ios[uuid])


def run(unit: Unit, uuid: str) -> RunRow | None:
    """The run ``uuid`` if it exists (read now unless :func:`load_runs` looked for it)."""
    if uuid not in unit.runs and uuid not in unit.absent:
        _read_runs(unit, unit.sql, [uuid])
    return unit.touch(unit.runs[uuid]) if uuid in unit.runs else None
