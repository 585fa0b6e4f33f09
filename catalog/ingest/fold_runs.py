"""Folding an OpenLineage RunEvent into the catalog: run state, run I/O, versions, quality.

Works on the rows a :class:`~catalog.ingest.state.Unit` holds: the run and its I/O change
in memory and are written at the end of the transaction; versions, quality results and column
lineage are written at once, since they need ids or are rare.
"""

from __future__ import annotations

from datetime import datetime

from catalog.errors import ValidationFailed
from catalog.ingest import datasets as dsvc
from catalog.ingest import read, versions
from catalog.ingest.fold import apply_job_facets, job_version
from catalog.ingest.rows import IORow, JobRow, RunRow, parse_time
from catalog.ingest.unit import Unit
from catalog.models.lineage import DATASET, JOB
from catalog.models.run import TERMINAL_STATES

_QUALITY = ("dataQualityAssertions", "dataQualityMetrics")


def _key(d: dict) -> tuple[str, str]:
    return d["namespace"], d["name"]


def fold_run_event(unit: Unit, event: dict, event_time: datetime) -> None:
    """Apply a RunEvent: job, run state and facets, inputs and outputs, versions on COMPLETE."""
    jd = event["job"]
    job = unit.job(_key(jd))
    apply_job_facets(job, jd.get("facets") or {})
    run = _run(unit, event["run"]["runId"], job, event_time)
    _apply_run_facets(unit, run, job, event["run"].get("facets") or {})
    state = event.get("eventType")
    _apply_state(unit, run, state, event_time)

    inputs = sorted(event.get("inputs") or [], key=_key)
    outputs = sorted(event.get("outputs") or [], key=_key)
    keys = {_key(d) for d in inputs + outputs} | {k for d in outputs for k in dsvc.column_inputs(d)}
    rows = unit.dataset_rows(keys)
    ios = unit.run_io(run)
    _lock_what_changes(unit, rows, inputs, outputs, ios, state)
    for d in inputs + outputs:
        if dsvc.facets_change(rows[_key(d)], d.get("facets") or {}):
            dsvc.apply_facets(unit.sql, rows[_key(d)], d.get("facets") or {})

    input_versions: dict[tuple[str, str], int] = {}
    for d in inputs:
        ds, extra = rows[_key(d)], d.get("inputFacets") or {}
        facets = {**(d.get("facets") or {}), **extra}
        io = ios.get((ds.id, "input")) or IORow(None, {})
        version = io.version_id or _observed_version(unit, ds, facets, event_time)
        _set_io(ios, ds.id, "input", io, version, extra)
        input_versions[_key(d)] = version
        if any(k in facets for k in _QUALITY):
            unit.record_quality(version, unit.run_id(run), facets)
        unit.edge(DATASET, ds.id, JOB, job.id, event_time)

    for d in outputs:
        ds = rows[_key(d)]
        io = ios.get((ds.id, "output")) or IORow(None, {})
        extra = {**(d.get("facets") or {}), **(d.get("outputFacets") or {})}
        io_facets = {**io.facets, **extra} if extra else io.facets
        version = io.version_id
        unit.edge(JOB, job.id, DATASET, ds.id, event_time)
        if state == "COMPLETE" and version is None:
            version = versions.same_content_version(ds, io_facets)
            if version is None:
                version = unit.write_version(
                    ds, uuid_str=dsvc.version_uuid(*_key(d), "run", run.uuid),
                    facets=io_facets, run_id=unit.run_id(run), created_at=event_time)
            if any(k in io_facets for k in _QUALITY):
                unit.record_quality(version, unit.run_id(run), io_facets)
            _column_lineage(unit, version, ds.id, io_facets, run, rows, input_versions,
                            event_time)
        _set_io(ios, ds.id, "output", io, version, extra)

    if state == "COMPLETE":
        run.set("job_version_id", job_version(unit, job, *_io_names(unit, ios, rows)))
    unit.confirm(run)


def _run(unit: Unit, run_uuid: str, job: JobRow, event_time: datetime) -> RunRow:
    run = read.run(unit, run_uuid)
    if run is None:
        return unit.new_run(RunRow(id=None, uuid=run_uuid, job_id=job.id, created_at=event_time))
    if run.job_id != job.id:
        owner = next((j for j in unit.jobs.values() if j.id == run.job_id), None)
        name = f"{owner.namespace}:{owner.name}" if owner else unit.job_name(run.job_id)
        raise ValidationFailed(f"run {run_uuid} belongs to job {name}", field="run.runId")
    return run


def _apply_run_facets(unit: Unit, run: RunRow, job: JobRow, facets: dict) -> None:
    if not facets:
        return
    run.set("facets", {**run.facets, **facets})
    nominal = facets.get("nominalTime")
    if isinstance(nominal, dict):
        run.set("nominal_start_time", parse_time(nominal["nominalStartTime"]))
        if nominal.get("nominalEndTime"):
            run.set("nominal_end_time", parse_time(nominal["nominalEndTime"]))
    err = facets.get("errorMessage")
    if isinstance(err, dict):
        run.set("error_message", err.get("message"))
    parent = facets.get("parent")
    if isinstance(parent, dict):
        run.set("parent_run_uuid", parent["run"]["runId"])
        parent_id = unit.job_id(_key(parent["job"]))
        if parent_id != run.job_id:
            job.set("parent_job_id", parent_id)


def _apply_state(unit: Unit, run: RunRow, state: str | None, event_time: datetime) -> None:
    """Move the run to ``state`` unless a newer or terminal state is already recorded."""
    if state is None or state == "OTHER":
        return
    unit.state_change(run, state, event_time)
    if state == "START" and (run.started_at is None or event_time < run.started_at):
        run.set("started_at", event_time)
    if state in TERMINAL_STATES and (run.ended_at is None or event_time > run.ended_at):
        run.set("ended_at", event_time)
    current_terminal = run.state in TERMINAL_STATES
    newer = run.state_at is None or event_time >= run.state_at
    take = (not current_terminal or newer) if state in TERMINAL_STATES else (
        not current_terminal and newer)
    if take:
        run.set("state", state)
        run.set("state_at", event_time)


def _lock_what_changes(unit, rows, inputs, outputs, ios, state) -> None:
    """Lock, all at once and in id order, the datasets this event may change."""
    todo = [rows[_key(d)] for d in inputs + outputs
            if dsvc.facets_change(rows[_key(d)], d.get("facets") or {})]
    for d in inputs:
        ds = rows[_key(d)]
        io = ios.get((ds.id, "input"))
        if io is None or io.version_id is None:
            fp = dsvc.fingerprint_of({**(d.get("facets") or {}), **(d.get("inputFacets") or {})})
            if (ds.current_version_id is None if fp is None
                    else read.version_by_fingerprint(unit, ds, fp) is None):
                todo.append(ds)
    if state == "COMPLETE":
        todo += [rows[_key(d)] for d in outputs
                 if (io := ios.get((rows[_key(d)].id, "output"))) is None or io.version_id is None]
    read.lock(unit, todo)


def _observed_version(unit: Unit, ds, facets: dict, seen_at: datetime) -> int:
    """The version a consumer saw: matched by fingerprint, else current, else a new observed one."""
    fp = dsvc.fingerprint_of(facets)
    if fp is not None:
        found = read.version_by_fingerprint(unit, ds, fp)
        if found is None:
            read.lock(unit, [ds])
            found = unit.write_version(
                ds, uuid_str=dsvc.version_uuid(ds.namespace, ds.name, "fp", fp),
                facets=facets, run_id=None, created_at=seen_at)
            unit.put(unit.fingerprints, (ds.id, fp), found)
        return found
    if ds.current_version_id is None:
        read.lock(unit, [ds])
    if ds.current_version_id is not None:
        return ds.current_version_id
    key = versions.schema_hash(dsvc.schema_fields(dsvc.live_facets(facets)))
    return unit.write_version(
        ds, uuid_str=dsvc.version_uuid(ds.namespace, ds.name, "observed", key),
        facets=facets, run_id=None, created_at=seen_at)


def _set_io(ios: dict, ds_id: int, direction: str, io: IORow, version, extra: dict) -> None:
    facets = {**io.facets, **extra} if extra else io.facets
    if (ds_id, direction) not in ios or version != io.version_id or facets != io.facets:
        ios[ds_id, direction] = IORow(io.version_id or version, facets, dirty=True)


def _io_names(unit: Unit, ios: dict, rows: dict) -> tuple[list, list]:
    """(namespace, name) of every dataset the run read and wrote, in any of its events."""
    names = {ds.id: k for k, ds in rows.items()}
    unknown = {d for d, _ in ios if d not in names}
    if unknown:
        names.update(unit.dataset_names(unknown))
    refs: dict[str, list] = {"input": [], "output": []}
    for d, direction in ios:
        refs[direction].append(names[d])
    return refs["input"], refs["output"]


def _column_lineage(unit, version_id, ds_id, facets, run, rows, input_versions, at) -> None:
    cl = facets.get("columnLineage")
    if not isinstance(cl, dict) or not isinstance(cl.get("fields"), dict):
        return
    ios = unit.run_io(run)
    values = []
    for out_field, spec in cl["fields"].items():
        for inp in spec.get("inputFields") or []:
            src = rows[_key(inp)]
            in_version = input_versions.get(_key(inp))
            if in_version is None:
                io = ios.get((src.id, "input"))
                in_version = (io.version_id if io else None) or src.current_version_id
            transformations = inp.get("transformations") or [
                {"type": spec.get("transformationType") or "DIRECT",
                 "subtype": "", "description": spec.get("transformationDescription")}
            ]
            for t in transformations:
                values.append({
                    "output_dataset_id": ds_id, "output_version_id": version_id,
                    "output_field": out_field, "input_dataset_id": src.id,
                    "input_version_id": in_version, "input_field": inp["field"],
                    "transformation_type": (t.get("type") or "DIRECT").upper(),
                    "transformation_subtype": (t.get("subtype") or "").upper(),
                    "description": t.get("description") or spec.get("transformationDescription"),
                    "masking": bool(t.get("masking", False)),
                    # Event time, like lineage_edges: "as of T" uses one clock.
                    "created_at": at,
                })
    if values:
        unit.column_lineage(values)
