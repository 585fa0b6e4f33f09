"""The accept floor for ingest: the catalog's own first two steps, and nothing after them.

Served by gunicorn exactly as the catalog is (same workers, same client), it does what any
catalog must before it may answer 201: parse the body as the catalog does (depth check, exact
integers), validate and hash every event (``catalog.ingest.validate.prepare``: the OpenLineage
schema, the facets' schemas, the canonical hash) and store the raw events with de-duplication
(``catalog.ingest.record.record``: one INSERT ... ON CONFLICT DO NOTHING per request) in the
catalog's own ``lineage_events`` table, one transaction per request. No auth, no model: no job,
run, dataset or edge is read or written. What the full catalog costs beyond this is folding
events into its model; what this costs beyond ``bench/http_floor_app.py`` is validation,
hashing and the raw-event table's indexes. ``CATALOG_DATABASE_URL`` names a migrated catalog
database. Used by ``bench/catalog_bench.py --modes accept-single,accept-batch``.
"""

from __future__ import annotations

import os

from flask import Flask, request

from catalog import jsoncodec
from catalog.db import make_engine, make_sessionmaker, session_scope
from catalog.errors import ValidationFailed
from catalog.ingest.record import record
from catalog.ingest.validate import prepare

app = Flask(__name__)
_sessions = None


def _factory():
    """One engine per worker process, made on first use (after gunicorn forks)."""
    global _sessions
    if _sessions is None:
        _sessions = make_sessionmaker(make_engine(os.environ["CATALOG_DATABASE_URL"]))
    return _sessions


def _accept(events: list) -> list[dict]:
    valid, results = [], []
    for i, event in enumerate(events):
        try:
            valid.append(prepare(i, event))
            results.append({"index": i, "status": "created"})
        except ValidationFailed as exc:
            results.append({"index": i, "status": "error", **exc.to_dict()})
    with session_scope(_factory()) as session:
        fresh, _ = record(session, valid)
    new = {ev.index for ev in fresh}
    for ev in valid:
        if ev.index not in new:
            results[ev.index]["status"] = "duplicate"
    return results


def _body():
    raw = request.get_data()
    if jsoncodec.too_deep(raw):
        return None
    return jsoncodec.loads_document(raw)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/api/v1/lineage")
def one():
    (result,) = _accept([_body()])
    return result, 201 if result["status"] != "error" else 422


@app.post("/api/v1/lineage/batch")
def batch():
    results = _accept(_body())
    failed = sum(r["status"] == "error" for r in results)
    return {"accepted": len(results) - failed, "failed": failed, "results": results}, (
        207 if failed else 201)
