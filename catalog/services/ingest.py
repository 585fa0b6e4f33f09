"""OpenLineage ingestion: validate, de-duplicate, and fold each event into the catalog model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import ValidationFailed
from catalog.models import (
    ColumnLineage,
    Dataset,
    Job,
    JobVersion,
    LineageEdge,
    LineageEvent,
    Run,
    RunIO,
    RunStateChange,
)
from catalog.models.lineage import DATASET, JOB
from catalog.models.run import TERMINAL_STATES
from catalog.openlineage.validate import EventValidationError, validate_event
from catalog.services import datasets as dsvc
from catalog.services.common import (
    for_write,
    get_or_create_dataset,
    get_or_create_job,
    insert_ignore,
    upsert_seen,
)


@dataclass
class IngestResult:
    """What happened to one event."""

    kind: str
    # "created" for a new event, "duplicate" for an identical re-send (nothing changed).
    status: str
    run_id: str | None = None


def canonical_hash(event: dict) -> str:
    """sha256 of the event's canonical JSON: identical events hash alike whatever key order."""
    canon = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


def parse_time(value: str) -> datetime:
    """An OpenLineage date-time as aware UTC."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def ingest_event(session: Session, event: object) -> IngestResult:
    """Validate and store one event; if invalid raise :class:`ValidationFailed`, write nothing."""
    try:
        kind = validate_event(event)
    except EventValidationError as exc:
        raise ValidationFailed(exc.message, field=exc.field) from None
    assert isinstance(event, dict)
    digest = canonical_hash(event)
    if session.scalar(select(LineageEvent.id).where(LineageEvent.event_hash == digest)):
        return IngestResult(kind, "duplicate", event.get("run", {}).get("runId"))
    event_time = parse_time(event["eventTime"])
    job = event.get("job") or {}
    run_uuid = (event.get("run") or {}).get("runId")
    inserted = insert_ignore(
        session,
        LineageEvent,
        {
            "event_hash": digest,
            "kind": kind,
            "event_type": event.get("eventType"),
            "event_time": event_time,
            "run_uuid": run_uuid,
            "job_namespace": job.get("namespace"),
            "job_name": job.get("name"),
            "payload": event,
        },
        ["event_hash"],
    )
    if not inserted:  # a concurrent request stored the same event first
        return IngestResult(kind, "duplicate", run_uuid)
    if kind == "RunEvent":
        _run_event(session, event, event_time)
    elif kind == "DatasetEvent":
        _dataset_event(session, event["dataset"], event_time)
    else:
        _job_event(session, event, event_time)
    session.flush()
    return IngestResult(kind, "created", run_uuid)


# --- jobs -----------------------------------------------------------------------------------------


def _apply_job_facets(session: Session, job: Job, facets: dict) -> None:
    merged = dict(job.facets or {})
    for key, value in facets.items():
        if isinstance(value, dict) and value.get("_deleted"):
            merged.pop(key, None)
        else:
            merged[key] = value
    job.facets = merged
    facets = dsvc.live_facets(facets)
    jt = facets.get("jobType")
    if isinstance(jt, dict):
        job.type = jt.get("processingType") or job.type
        job.integration = jt.get("integration") or job.integration
        job.job_type = jt.get("jobType") or job.job_type
    doc = facets.get("documentation")
    if isinstance(doc, dict) and doc.get("description"):
        job.description = doc["description"]
    loc = facets.get("sourceCodeLocation")
    if isinstance(loc, dict) and loc.get("url"):
        job.location = loc["url"]


def _job_version(session: Session, job: Job, inputs: list, outputs: list) -> JobVersion:
    """The version of ``job`` for this shape (location, SQL, I/O), created if new."""
    sql = (job.facets.get("sql") or {}).get("query") if isinstance(job.facets, dict) else None
    ins = sorted({(d["namespace"], d["name"]) for d in inputs})
    outs = sorted({(d["namespace"], d["name"]) for d in outputs})
    shape = json.dumps([job.location, sql, ins, outs], separators=(",", ":"))
    vid = dsvc.version_uuid(job.namespace.name, job.name, "job", shape)
    # The caller holds the job's row lock, so numbering cannot race.
    found = session.scalar(select(JobVersion).where(JobVersion.uuid == vid))
    if found is None:
        count = session.query(JobVersion).filter(JobVersion.job_id == job.id).count()
        found = JobVersion(
            uuid=vid,
            job_id=job.id,
            version=count + 1,
            location=job.location,
            sql=sql,
            inputs=[{"namespace": n, "name": m} for n, m in ins],
            outputs=[{"namespace": n, "name": m} for n, m in outs],
        )
        session.add(found)
        session.flush()
    job.current_version_id = found.id
    return found


def _locked_job(session: Session, namespace: str, name: str) -> Job:
    """The job, created if new, with its row locked: the first lock every run or job event takes.

    Lock order, so concurrent writers never wait on each other in a cycle: the job's row, then the
    event's datasets in id order, then the rows under them. Two events of one job (and so of one
    run) queue on the job's row.
    """
    job = get_or_create_job(session, namespace, name)
    return session.scalar(for_write(select(Job).where(Job.id == job.id), Job))


def _job_event(session: Session, event: dict, event_time: datetime) -> None:
    job = _locked_job(session, event["job"]["namespace"], event["job"]["name"])
    _apply_job_facets(session, job, event["job"].get("facets") or {})
    inputs, outputs = event.get("inputs") or [], event.get("outputs") or []
    found = _touch_datasets(session, inputs, outputs)
    for edge in sorted(_edges(inputs, outputs, found, job.id)):
        _edge(session, *edge, event_time)
    if inputs or outputs:
        _job_version(session, job, inputs, outputs)


def _edges(inputs: list, outputs: list, found: dict, job_id: int) -> set:
    """Edges dataset -> job and job -> dataset of an event, to upsert in sorted order."""
    edges = {(DATASET, found[d["namespace"], d["name"]].id, JOB, job_id) for d in inputs}
    return edges | {(JOB, job_id, DATASET, found[d["namespace"], d["name"]].id) for d in outputs}


# --- datasets -------------------------------------------------------------------------------------


def _column_inputs(d: dict) -> list[tuple[str, str]]:
    cl = (d.get("facets") or {}).get("columnLineage")
    if not isinstance(cl, dict) or not isinstance(cl.get("fields"), dict):
        return []
    return [(i["namespace"], i["name"]) for spec in cl["fields"].values()
            for i in spec.get("inputFields") or []]


def _touch_datasets(session: Session, inputs: list, outputs: list) -> dict:
    """The event's datasets by (namespace, name): created if new, locked, facets applied.

    Created in (namespace, name) order and locked in id order, the same order in every event, so
    writers sharing datasets queue instead of deadlocking.
    """
    refs = inputs + outputs
    keys = {(d["namespace"], d["name"]) for d in refs}
    keys |= {k for d in outputs for k in _column_inputs(d)}
    ids = {k: get_or_create_dataset(session, *k).id for k in sorted(keys)}
    locked = {ds.id: ds for ds in session.scalars(
        for_write(select(Dataset).where(Dataset.id.in_(ids.values())).order_by(Dataset.id),
                  Dataset))}
    found = {k: locked[i] for k, i in ids.items()}
    for d in refs:
        dsvc.apply_dataset_facets(session, found[d["namespace"], d["name"]], d.get("facets") or {})
    return found


def _touch_dataset(session: Session, d: dict):
    return _touch_datasets(session, [d], [])[d["namespace"], d["name"]]


def _dataset_event(session: Session, d: dict, event_time: datetime) -> None:
    ds = _touch_dataset(session, d)
    facets = d.get("facets") or {}
    version = dsvc.static_version(session, ds, facets, event_time)
    if version is not None:
        dsvc.record_quality(session, version, None, facets)


def _edge(session, src_kind, src_id, dst_kind, dst_id, seen_at) -> None:
    upsert_seen(
        session,
        LineageEdge,
        {"src_kind": src_kind, "src_id": src_id, "dst_kind": dst_kind, "dst_id": dst_id},
        ["src_kind", "src_id", "dst_kind", "dst_id"],
        seen_at,
    )


# --- runs -----------------------------------------------------------------------------------------


def _get_or_create_run(session: Session, run_uuid: str, job: Job, event_time: datetime) -> Run:
    run = session.scalar(select(Run).where(Run.uuid == run_uuid))
    if run is None:
        insert_ignore(
            session,
            Run,
            {"uuid": run_uuid, "job_id": job.id, "state": "NEW", "facets": {},
             "created_at": event_time},
            ["uuid"],
        )
        run = session.scalar(select(Run).where(Run.uuid == run_uuid))
    if run.job_id != job.id:
        raise ValidationFailed(
            f"run {run_uuid} belongs to job {run.job.namespace.name}:{run.job.name}",
            field="run.runId",
        )
    return run


def _apply_state(session: Session, run: Run, state: str | None, event_time: datetime) -> None:
    """Move the run to ``state`` unless a newer or terminal state is already recorded."""
    if state is None or state == "OTHER":
        return
    session.add(RunStateChange(run_id=run.id, state=state, event_time=event_time))
    if state == "START" and (run.started_at is None or event_time < run.started_at):
        run.started_at = event_time
    if state in TERMINAL_STATES and (run.ended_at is None or event_time > run.ended_at):
        run.ended_at = event_time
    current_terminal = run.state in TERMINAL_STATES
    newer = run.state_at is None or event_time >= run.state_at
    if state in TERMINAL_STATES:
        take = not current_terminal or newer
    else:
        take = not current_terminal and newer
    if take:
        run.state, run.state_at = state, event_time


def _apply_run_facets(session: Session, run: Run, facets: dict) -> None:
    if not facets:
        return
    run.facets = {**(run.facets or {}), **facets}
    nominal = facets.get("nominalTime")
    if isinstance(nominal, dict):
        run.nominal_start_time = parse_time(nominal["nominalStartTime"])
        if nominal.get("nominalEndTime"):
            run.nominal_end_time = parse_time(nominal["nominalEndTime"])
    err = facets.get("errorMessage")
    if isinstance(err, dict):
        run.error_message = err.get("message")
    parent = facets.get("parent")
    if isinstance(parent, dict):
        run.parent_run_uuid = parent["run"]["runId"]
        pjob = get_or_create_job(session, parent["job"]["namespace"], parent["job"]["name"])
        if pjob.id != run.job_id:
            run.job.parent_job_id = pjob.id


def _run_io(session: Session, run: Run, ds_id: int, direction: str, facets: dict) -> RunIO:
    query = select(RunIO).where(
        RunIO.run_id == run.id, RunIO.dataset_id == ds_id, RunIO.direction == direction
    )
    io = session.scalar(query)
    if io is None:
        insert_ignore(
            session,
            RunIO,
            {"run_id": run.id, "dataset_id": ds_id, "direction": direction, "facets": {}},
            ["run_id", "dataset_id", "direction"],
        )
        io = session.scalar(query)
    if facets:
        io.facets = {**(io.facets or {}), **facets}
    return io


def _run_event(session: Session, event: dict, event_time: datetime) -> None:
    jd = event["job"]
    job = _locked_job(session, jd["namespace"], jd["name"])
    _apply_job_facets(session, job, jd.get("facets") or {})
    run = _get_or_create_run(session, event["run"]["runId"], job, event_time)
    _apply_run_facets(session, run, event["run"].get("facets") or {})
    state = event.get("eventType")
    _apply_state(session, run, state, event_time)
    found = _touch_datasets(session, event.get("inputs") or [], event.get("outputs") or [])

    input_versions: dict[tuple[str, str], int] = {}
    for d in sorted(event.get("inputs") or [], key=lambda x: (x["namespace"], x["name"])):
        ds = found[d["namespace"], d["name"]]
        facets = {**(d.get("facets") or {}), **(d.get("inputFacets") or {})}
        io = _run_io(session, run, ds.id, "input", d.get("inputFacets") or {})
        if io.dataset_version_id is None:
            io.dataset_version_id = dsvc.observed_version(session, ds, facets, event_time).id
        input_versions[(d["namespace"], d["name"])] = io.dataset_version_id
        if "dataQualityAssertions" in facets or "dataQualityMetrics" in facets:
            version = session.get(dsvc.DatasetVersion, io.dataset_version_id)
            dsvc.record_quality(session, version, run.id, facets)
        _edge(session, DATASET, ds.id, JOB, job.id, event_time)

    outputs = sorted(event.get("outputs") or [], key=lambda x: (x["namespace"], x["name"]))
    for d in outputs:
        ds = found[d["namespace"], d["name"]]
        io_facets = {**(d.get("facets") or {}), **(d.get("outputFacets") or {})}
        io = _run_io(session, run, ds.id, "output", io_facets)
        _edge(session, JOB, job.id, DATASET, ds.id, event_time)
        if state == "COMPLETE" and io.dataset_version_id is None:
            version = dsvc.same_content_version(ds, io.facets)
            if version is None:
                version = dsvc.create_version(
                    session,
                    ds,
                    uuid_str=dsvc.version_uuid(d["namespace"], d["name"], "run", run.uuid),
                    facets=io.facets,
                    run_id=run.id,
                    created_at=event_time,
                )
            io.dataset_version_id = version.id
            dsvc.record_quality(session, version, run.id, io.facets)
            _column_lineage(session, version, io.facets, run, input_versions, event_time)

    if state == "COMPLETE":
        ios = session.scalars(select(RunIO).where(RunIO.run_id == run.id)).all()
        refs = {"input": [], "output": []}
        for io in ios:
            refs[io.direction].append(
                {"namespace": io.dataset.namespace.name, "name": io.dataset.name}
            )
        run.job_version_id = _job_version(session, job, refs["input"], refs["output"]).id


def _column_lineage(
    session, version, facets: dict, run: Run, input_versions: dict, event_time: datetime
) -> None:
    cl = facets.get("columnLineage")
    if not isinstance(cl, dict) or not isinstance(cl.get("fields"), dict):
        return
    for out_field, spec in cl["fields"].items():
        for inp in spec.get("inputFields") or []:
            src = get_or_create_dataset(session, inp["namespace"], inp["name"])
            in_version = input_versions.get((inp["namespace"], inp["name"]))
            if in_version is None:
                run_in = session.scalar(
                    select(RunIO.dataset_version_id).where(
                        RunIO.run_id == run.id, RunIO.dataset_id == src.id,
                        RunIO.direction == "input",
                    )
                )
                in_version = run_in or src.current_version_id
            transformations = inp.get("transformations") or [
                {"type": spec.get("transformationType") or "DIRECT",
                 "subtype": "", "description": spec.get("transformationDescription")}
            ]
            for t in transformations:
                insert_ignore(
                    session,
                    ColumnLineage,
                    {
                        "output_dataset_id": version.dataset_id,
                        "output_version_id": version.id,
                        "output_field": out_field,
                        "input_dataset_id": src.id,
                        "input_version_id": in_version,
                        "input_field": inp["field"],
                        "transformation_type": (t.get("type") or "DIRECT").upper(),
                        "transformation_subtype": (t.get("subtype") or "").upper(),
                        "description": t.get("description")
                        or spec.get("transformationDescription"),
                        "masking": bool(t.get("masking", False)),
                        # Event time, like lineage_edges: "as of T" uses one clock.
                        "created_at": event_time,
                    },
                    [
                        "output_version_id", "output_field", "input_dataset_id", "input_field",
                        "transformation_type", "transformation_subtype",
                    ],
                )
