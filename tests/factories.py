"""Builders for OpenLineage events as plain dicts (tests of the HTTP API and services)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

PRODUCER = "https://github.com/example/recocatalog/tests"
BASE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def facet(name: str, **fields) -> dict:
    """A facet with the required _producer and _schemaURL."""
    return {"_producer": PRODUCER, "_schemaURL": f"{BASE}#/$defs/{name}", **fields}


def schema(*cols) -> dict:
    """A schema facet from ("name", "type") pairs or plain names."""
    fields = [
        {"name": c, "type": "VARCHAR"} if isinstance(c, str) else {"name": c[0], "type": c[1]}
        for c in cols
    ]
    return facet("SchemaDatasetFacet", fields=fields)


def ds(name: str, ns: str = "shop", **facets) -> dict:
    """A dataset reference with optional facets."""
    return {"namespace": ns, "name": name, "facets": facets}


def run_event(
    event_type: str,
    job: str,
    *,
    run_id: str | None = None,
    inputs=(),
    outputs=(),
    ns: str = "pipelines",
    minutes: int = 0,
    run_facets: dict | None = None,
    job_facets: dict | None = None,
) -> dict:
    """A RunEvent dict."""
    return {
        "eventType": event_type,
        "eventTime": (T0 + timedelta(minutes=minutes)).isoformat(),
        "producer": PRODUCER,
        "schemaURL": f"{BASE}#/$defs/RunEvent",
        "run": {"runId": run_id or str(uuid.uuid4()), "facets": run_facets or {}},
        "job": {"namespace": ns, "name": job, "facets": job_facets or {}},
        "inputs": list(inputs),
        "outputs": list(outputs),
    }


def complete_run(client, job: str, inputs=(), outputs=(), minutes: int = 0, **kw) -> str:
    """POST a START and a COMPLETE event for one run; return its run id."""
    run_id = kw.pop("run_id", None) or str(uuid.uuid4())
    for i, et in enumerate(("START", "COMPLETE")):
        r = client.post(
            "/api/v1/lineage",
            json=run_event(et, job, run_id=run_id, inputs=inputs, outputs=outputs,
                           minutes=minutes + i, **kw),
        )
        assert r.status_code == 201, r.get_json()
    return run_id
