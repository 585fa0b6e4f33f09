"""Plain registration of datasets for clients that do not speak OpenLineage.

The body is translated into the same facets an OpenLineage producer would send, so both paths
share one set of rules for metadata, versions and quality.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import NotFound, ValidationFailed
from catalog.ingest import datasets as dsvc
from catalog.ingest import versions
from catalog.ingest.writes import get_or_create_dataset, insert_ignore, upsert_seen
from catalog.models import Dataset, LineageEdge, Namespace, Run, RunIO
from catalog.models.base import utcnow
from catalog.models.dataset import DATASET_KINDS
from catalog.models.lineage import DATASET, JOB
from catalog.services import history
from catalog.services.audit import record_change

PRODUCER = "https://github.com/recocatalog/recocatalog/api"
_MARQUEZ_TYPES = {"DB_TABLE": "table", "STREAM": "stream"}
_ALLOWED = {"type", "kind", "physicalName", "sourceName", "sourceUri", "fields", "description",
            "tags", "owners", "fingerprint", "rowCount", "runId"}


def _facet(**fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": PRODUCER, **fields}


def _require(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise ValidationFailed(message, field=field)


def body_to_facets(body: object) -> dict:
    """Check a registration body and translate it to OpenLineage dataset facets."""
    _require(isinstance(body, dict), "", "body must be a JSON object")
    unknown = sorted(set(body) - _ALLOWED)
    _require(not unknown, unknown[0] if unknown else "", f"unknown keys: {unknown}")
    facets: dict = {}
    kind = body.get("kind") or body.get("type")
    if kind is not None:
        _require(isinstance(kind, str), "kind", f"kind must be one of {list(DATASET_KINDS)}")
        kind = _MARQUEZ_TYPES.get(kind, kind)
        _require(kind in DATASET_KINDS, "kind", f"kind must be one of {list(DATASET_KINDS)}")
        facets["datasetType"] = _facet(datasetType=kind)
    if "fields" in body:
        fields = body["fields"]
        _require(isinstance(fields, list), "fields", "fields must be a list")
        for i, f in enumerate(fields):
            _require(isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"],
                     f"fields[{i}].name", "each field needs a non-empty string name")
            for key in ("type", "description"):
                _require(f.get(key) is None or isinstance(f[key], str), f"fields[{i}].{key}",
                         f"{key} must be a string")
        facets["schema"] = _facet(fields=[
            {k: f[k] for k in ("name", "type", "description") if f.get(k) is not None}
            for f in fields
        ])
    if body.get("description") is not None:
        _require(isinstance(body["description"], str), "description", "must be a string")
        facets["documentation"] = _facet(description=body["description"])
    if body.get("sourceName") is not None:
        _require(isinstance(body["sourceName"], str) and body["sourceName"], "sourceName",
                 "must be a non-empty string")
        _require(body.get("sourceUri") is None or isinstance(body["sourceUri"], str),
                 "sourceUri", "must be a string")
        facets["dataSource"] = _facet(name=body["sourceName"], uri=body.get("sourceUri"))
    if body.get("owners") is not None:
        owners = body["owners"]
        _require(isinstance(owners, list), "owners", "owners must be a list")
        norm = []
        for i, o in enumerate(owners):
            o = {"name": o} if isinstance(o, str) else o
            _require(isinstance(o, dict) and isinstance(o.get("name"), str) and o["name"],
                     f"owners[{i}]", "an owner is a non-empty name or {name, type}")
            _require(o.get("type") is None or isinstance(o["type"], str), f"owners[{i}].type",
                     "an owner's type must be a string")
            norm.append({"name": o["name"], **({"type": o["type"]} if o.get("type") else {})})
        facets["ownership"] = _facet(owners=norm)
    if body.get("tags") is not None:
        tags = body["tags"]
        _require(isinstance(tags, list) and all(isinstance(t, str) and t for t in tags),
                 "tags", "tags must be a list of non-empty strings")
        facets["tags"] = _facet(tags=[{"key": t, "value": "", "source": "api"} for t in tags])
    if body.get("fingerprint") is not None:
        facets["version"] = _facet(datasetVersion=str(body["fingerprint"]))
    if body.get("rowCount") is not None:
        _require(isinstance(body["rowCount"], int) and body["rowCount"] >= 0, "rowCount",
                 "rowCount must be a non-negative integer")
        facets["outputStatistics"] = _facet(rowCount=body["rowCount"])
    return facets


def register_dataset(session: Session, namespace: str, name: str, body: object, *,
                     actor: str) -> Dataset:
    """Create or update a dataset; version it if a run wrote it or its schema or content changed.

    The change is audited (``dataset.create`` or ``dataset.update``, metadata before and after).
    """
    facets = body_to_facets(body)
    if body.get("physicalName") is not None:
        _require(isinstance(body["physicalName"], str), "physicalName", "must be a string")
    run = None
    if body.get("runId") is not None:
        run = session.scalar(select(Run).where(Run.uuid == str(body["runId"])))
        if run is None:
            raise NotFound(f"run {body['runId']} not found", field="runId")
    existing = session.scalar(
        select(Dataset.id).join(Namespace, Namespace.id == Dataset.namespace_id)
        .where(Namespace.name == namespace, Dataset.name == name))
    before = history.dataset_snapshot(session, existing) if existing is not None else None
    ds = get_or_create_dataset(session, namespace, name)
    versions.apply_dataset_facets(session, ds, facets)
    if body.get("physicalName"):
        ds.physical_name = body["physicalName"]
    now = utcnow()
    if run is not None:
        version = versions.create_version(
            session, ds, uuid_str=dsvc.version_uuid(namespace, name, "run", run.uuid),
            facets=facets, run_id=run.id, created_at=now,
        )
        link_output(session, run, ds.id, version.id, now)
    else:
        versions.static_version(session, ds, facets, now)
    session.flush()
    after = history.dataset_snapshot(session, ds.id)
    if after != before:
        record_change(session, actor=actor, action="dataset.update" if before else "dataset.create",
                      entity_type=history.DATASET_ENTITY,
                      entity_key=history.dataset_key(namespace, name), before=before, after=after)
    return ds


def link_output(session: Session, run: Run, dataset_id: int, version_id: int, at) -> None:
    """Record that ``run`` wrote ``version_id`` of the dataset, in run I/O and the lineage graph."""
    insert_ignore(
        session, RunIO,
        {"run_id": run.id, "dataset_id": dataset_id, "direction": "output",
         "dataset_version_id": version_id, "facets": {}},
        ["run_id", "dataset_id", "direction"],
    )
    upsert_seen(
        session, LineageEdge,
        {"src_kind": JOB, "src_id": run.job_id, "dst_kind": DATASET, "dst_id": dataset_id},
        ["src_kind", "src_id", "dst_kind", "dst_id"], at,
    )
