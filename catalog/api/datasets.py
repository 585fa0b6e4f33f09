"""Datasets and their versions (Marquez: ``/namespaces/{ns}/datasets``), plus registration.

Namespaces may hold slashes (``s3://bucket``); routes use path converters so a URL-encoded or
plain namespace both resolve, and the app keeps double slashes as they are.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, jsonify

from catalog.api.common import json_body, page_args, time_arg
from catalog.api.shapes import dataset_json, dataset_version_json
from catalog.context import db_session, read_session
from catalog.jsoncodec import iso
from catalog.read import browse
from catalog.services import history, registration

bp = Blueprint("datasets", __name__)


@bp.get("/namespaces/<path:namespace>/datasets")
def list_datasets(namespace: str):
    """Datasets of a namespace, by name."""
    limit, offset = page_args()
    with read_session() as session:
        rows, total = browse.list_datasets(session, namespace, limit, offset)
        fields = browse.field_views(session, [d.id for d in rows])
        return jsonify({"datasets": [dataset_json(d, fields[d.id]) for d in rows],
                        "totalCount": total})


@bp.get("/namespaces/<path:namespace>/datasets/<path:name>")
def get_dataset(namespace: str, name: str):
    """One dataset with its current fields and version; ``asOf=T``: as it stood at time T."""
    at = time_arg("asOf")
    with read_session() as session:
        if at is not None:
            past = history.dataset_as_of(session, namespace, name, at)
            return jsonify({k: iso(v) if isinstance(v, datetime) else v
                            for k, v in past.items()})
        ds = browse.get_dataset(session, namespace, name)
        return jsonify(dataset_json(ds, browse.field_views(session, [ds.id])[ds.id]))


@bp.put("/namespaces/<path:namespace>/datasets/<path:name>")
def put_dataset(namespace: str, name: str):
    """Register or update a dataset for clients that do not speak OpenLineage.

    Body: ``{"type"|"kind", "physicalName", "sourceName", "fields": [{"name", "type",
    "description"}], "description", "tags", "owners", "fingerprint", "rowCount", "runId"}``.
    A new version is written when the schema or fingerprint changes, or a ``runId`` is given.
    """
    body = json_body()
    with db_session() as session:
        ds = registration.register_dataset(session, namespace, name, body, actor=g.actor)
        payload = dataset_json(ds)
    return jsonify(payload), 200


@bp.get("/namespaces/<path:namespace>/datasets/<path:name>/versions")
def list_versions(namespace: str, name: str):
    """Versions of a dataset, newest first."""
    limit, offset = page_args()
    with read_session() as session:
        rows, total = browse.list_dataset_versions(session, namespace, name, limit, offset)
        return jsonify({"versions": [dataset_version_json(v) for v in rows], "totalCount": total})


@bp.get("/namespaces/<path:namespace>/datasets/<path:name>/versions/<version>")
def get_version(namespace: str, name: str, version: str):
    """One version, by UUID or number."""
    with read_session() as session:
        v = browse.get_dataset_version(session, namespace, name, version)
        return jsonify(dataset_version_json(v))
