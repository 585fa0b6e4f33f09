"""JSON shapes of catalog entities, following Marquez's API so tools written for it work."""

from __future__ import annotations

from catalog.jsoncodec import iso
from catalog.models import Dataset, DatasetVersion, Job, JobVersion, Run
from catalog.read.run_states import api_state

# Marquez dataset types by our kinds.
_MARQUEZ_TYPE = {"stream": "STREAM"}


def field_json(f) -> dict:
    """One schema field with its tags."""
    return {
        "name": f.name,
        "type": f.type,
        "tags": [t.name for t in f.tags],
        "description": f.description,
    }


def dataset_json(ds: Dataset, fields=None) -> dict:
    """A dataset as Marquez's ``GET /namespaces/{ns}/datasets/{name}`` returns it, plus our keys.

    ``fields``: the dataset's fields as :func:`catalog.read.browse.field_views` loads them
    (else the ORM relationship is read).
    """
    ns = ds.namespace.name
    current = ds.current_version
    return {
        "id": {"namespace": ns, "name": ds.name},
        "type": _MARQUEZ_TYPE.get(ds.kind, "DB_TABLE"),
        "kind": ds.kind,
        "name": ds.name,
        "physicalName": ds.physical_name or ds.name,
        "createdAt": iso(ds.created_at),
        "updatedAt": iso(ds.updated_at),
        "namespace": ns,
        "sourceName": ds.source.name if ds.source else None,
        "fields": [field_json(f) for f in (ds.fields if fields is None else fields)],
        "tags": [t.name for t in ds.tags],
        "owners": [{"name": o.name, "type": o.type} for o in ds.owners],
        "lastModifiedAt": iso(ds.last_modified_at),
        "lastLifecycleState": current.lifecycle_state if current else None,
        "description": ds.description,
        "currentVersion": current.uuid if current else None,
        "currentVersionNumber": current.version if current else None,
        "rowCount": current.row_count if current else None,
        "facets": ds.facets or {},
        "deleted": ds.is_deleted,
    }


def dataset_version_json(v: DatasetVersion) -> dict:
    """A dataset version as Marquez's ``.../datasets/{name}/versions`` returns it."""
    ds = v.dataset
    ns = ds.namespace.name
    return {
        "id": {"namespace": ns, "name": ds.name, "version": v.uuid},
        "type": _MARQUEZ_TYPE.get(ds.kind, "DB_TABLE"),
        "name": ds.name,
        "physicalName": ds.physical_name or ds.name,
        "createdAt": iso(v.created_at),
        "version": v.uuid,
        "versionNumber": v.version,
        "namespace": ns,
        "sourceName": ds.source.name if ds.source else None,
        "fields": v.schema_fields or [],
        "rowCount": v.row_count,
        "fingerprint": v.fingerprint,
        "lifecycleState": v.lifecycle_state,
        "createdByRun": run_json(v.run) if v.run else None,
        "facets": v.facets or {},
    }


def job_json(job: Job, latest_run: Run | None = None) -> dict:
    """A job as Marquez's ``GET /namespaces/{ns}/jobs/{name}`` returns it."""
    ns = job.namespace.name
    cv = job.current_version
    return {
        "id": {"namespace": ns, "name": job.name},
        "type": job.type,
        "name": job.name,
        "simpleName": job.name.rsplit(".", 1)[-1],
        "parentJobName": job.parent.name if job.parent else None,
        "createdAt": iso(job.created_at),
        "updatedAt": iso(job.updated_at),
        "namespace": ns,
        "inputs": cv.inputs if cv else [],
        "outputs": cv.outputs if cv else [],
        "location": job.location,
        "description": job.description,
        "integration": job.integration,
        "jobType": job.job_type,
        "context": _context(cv),
        "latestRun": run_json(latest_run) if latest_run else None,
        "facets": job.facets or {},
        "currentVersion": cv.uuid if cv else None,
    }


def _context(version: JobVersion | None) -> dict:
    """Marquez's (deprecated) job context: the version's SQL, the one entry we hold."""
    return {"sql": version.sql} if version is not None and version.sql else {}


def _version_id(x) -> dict:
    return {
        "namespace": x.dataset.namespace.name,
        "name": x.dataset.name,
        "version": x.dataset_version.uuid if x.dataset_version else None,
    }


def run_json(run: Run, io=None) -> dict:
    """A run as Marquez's ``GET /jobs/runs/{id}`` returns it; ``io`` adds dataset versions.

    ``state`` is Marquez's RunState (``COMPLETED``, not the stored ``COMPLETE``). ``jobVersion``
    always names the job; its ``version`` is null while none is recorded. With ``io``: every dataset
    the run read or wrote (``input/outputDatasetVersions``, version null when none was recorded,
    e.g. the outputs of a failed run), and Marquez's older ``input/outputVersions``, which list
    only the entries with a version.
    """
    job, jv = run.job, run.job_version
    duration = None
    if run.started_at and run.ended_at:
        duration = int((run.ended_at - run.started_at).total_seconds() * 1000)
    body = {
        "id": run.uuid,
        "createdAt": iso(run.created_at),
        "updatedAt": iso(run.updated_at),
        "nominalStartTime": iso(run.nominal_start_time),
        "nominalEndTime": iso(run.nominal_end_time),
        "state": api_state(run.state),
        "startedAt": iso(run.started_at),
        "endedAt": iso(run.ended_at),
        "durationMs": duration,
        "args": {},
        "jobVersion": {
            "namespace": job.namespace.name,
            "name": job.name,
            "version": jv.uuid if jv is not None else None,
        },
        "context": _context(jv),
        "parentRunId": run.parent_run_uuid,
        "errorMessage": run.error_message,
        "facets": run.facets or {},
    }
    if io is not None:
        for direction in ("input", "output"):
            rows = [x for x in io if x.direction == direction]
            body[f"{direction}DatasetVersions"] = [
                {"datasetVersionId": _version_id(x), "facets": x.facets or {}} for x in rows
            ]
            body[f"{direction}Versions"] = [_version_id(x) for x in rows if x.dataset_version]
    return body
