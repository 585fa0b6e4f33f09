"""The OpenAPI 3 document of the JSON API, served at ``/api/v1/openapi.json``.

Written as data next to the routes it describes; a test checks that every route is in it and
nothing else is.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from catalog.api.openapi_shapes import LAST_RUN_STATES, SCHEMAS

bp = Blueprint("openapi", __name__)

_ERR = {"$ref": "#/components/responses/Error"}
_OBJ = {"type": "object", "additionalProperties": True}


def _p(name: str, where: str = "query", schema: dict | None = None, required=False, desc=""):
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema or {"type": "string"}, "description": desc}


_NS = _p("namespace", "path", desc="Namespace name (URL-encode '/' and ':' if present).")
_NAME = _p("name", "path")
_PAGE = [
    _p("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}, desc="Page size."),
    _p("offset", schema={"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
       desc="Rows to skip."),
]
_DEPTH = _p("depth", schema={"type": "integer", "minimum": 0, "maximum": 50},
            desc="Hops to follow.")
_ASOF = _p("asOf", schema={"type": "string", "format": "date-time"},
           desc="Lineage as it stood at this time.")
_ASOF_META = _p("asOf", schema={"type": "string", "format": "date-time"},
                desc="Metadata as it stood at this time.")
_NODE = _p("nodeId", required=True, desc="dataset:NS:NAME or job:NS:NAME")


def _op(summary: str, params=(), body: dict | None = None, ok: str = "200", tag: str = "",
        errors=("400", "404", "422"), returns: str | dict | None = None) -> dict:
    """One operation; ``returns`` names its response schema in components (else any object)."""
    schema = {"$ref": f"#/components/schemas/{returns}"} if isinstance(returns, str) else (
        returns or _OBJ)
    op = {"summary": summary, "tags": [tag] if tag else [], "parameters": list(params),
          "responses": {ok: {"description": "OK", "content": {"application/json": {
              "schema": schema}}}}}
    for code in errors:
        op["responses"][code] = _ERR
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_EVENT = {"type": "object", "description": "OpenLineage 2-0-2 RunEvent, DatasetEvent or JobEvent",
          "required": ["eventTime", "producer", "schemaURL"], "additionalProperties": True}

PATHS: dict[str, dict] = {
    "/api/v1/lineage": {
        "post": _op("Ingest one OpenLineage event", body=_EVENT, ok="201", tag="lineage",
                    errors=("400", "413", "422")),
        "get": _op("Lineage graph around a node (Marquez shape)", [_NODE, _DEPTH, _ASOF],
                   tag="lineage"),
    },
    "/api/v1/lineage/batch": {
        "post": _op("Ingest a batch of events; status per event", tag="lineage",
                    body={"type": "array", "items": _EVENT}, ok="201",
                    errors=("400", "413")),
    },
    "/api/v1/lineage/upstream": {
        "get": _op("Everything a node depends on", [_NODE, _DEPTH, _ASOF], tag="lineage"),
    },
    "/api/v1/lineage/downstream": {
        "get": _op("Everything that depends on a node", [_NODE, _DEPTH, _ASOF], tag="lineage"),
    },
    "/api/v1/column-lineage": {
        "get": _op("Column-level lineage graph", [
            _p("nodeId", required=True, desc="datasetField:NS:NAME:FIELD or dataset:NS:NAME"),
            _DEPTH, _ASOF, _p("withDownstream", schema={"type": "boolean"})], tag="lineage"),
    },
    "/api/v1/events/lineage": {
        "get": _op("Raw OpenLineage events, newest first", [
            _p("before", schema={"type": "string", "format": "date-time"}),
            _p("after", schema={"type": "string", "format": "date-time"}), *_PAGE],
            tag="lineage"),
    },
    "/api/v1/namespaces": {"get": _op("List namespaces", _PAGE, tag="namespaces")},
    "/api/v1/namespaces/{namespace}": {"get": _op("Get a namespace", [_NS], tag="namespaces")},
    "/api/v1/namespaces/{namespace}/datasets": {
        "get": _op("List datasets of a namespace", [_NS, *_PAGE], tag="datasets",
                   returns="DatasetList"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}": {
        "get": _op("Get a dataset (asOf: as it stood then)", [_NS, _NAME, _ASOF_META],
                   tag="datasets", returns={"anyOf": [
                       {"$ref": "#/components/schemas/Dataset"},
                       {"$ref": "#/components/schemas/DatasetAsOf"}]}),
        "put": _op("Register or update a dataset", [_NS, _NAME], body=_OBJ, tag="datasets",
                   returns="Dataset"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}/versions": {
        "get": _op("List versions of a dataset", [_NS, _NAME, *_PAGE], tag="datasets",
                   returns="DatasetVersionList"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}/versions/{version}": {
        "get": _op("Get a dataset version by UUID or number",
                   [_NS, _NAME, _p("version", "path")], tag="datasets",
                   returns="DatasetVersion"),
    },
    "/api/v1/namespaces/{namespace}/jobs": {
        "get": _op("List jobs of a namespace", [_NS, LAST_RUN_STATES, *_PAGE], tag="jobs",
                   returns="JobList"),
    },
    "/api/v1/namespaces/{namespace}/jobs/{name}": {
        "get": _op("Get a job", [_NS, _NAME], tag="jobs", returns="Job"),
    },
    "/api/v1/namespaces/{namespace}/jobs/{name}/runs": {
        "get": _op("List runs of a job", [_NS, _NAME, *_PAGE], tag="jobs", returns="RunList"),
    },
    "/api/v1/jobs/runs/{run_id}": {
        "get": _op("Get a run with its input and output dataset versions",
                   [_p("run_id", "path")], tag="jobs", returns="Run"),
    },
    "/api/v1/search": {
        "get": _op("Search datasets and jobs", [
            _p("q", required=True), _p("filter", schema={"enum": ["DATASET", "JOB"]}),
            _p("sort", schema={"enum": ["NAME", "UPDATE_AT"]}), *_PAGE, _ASOF_META],
            tag="search"),
    },
    "/api/v1/models": {"get": _op("List registered models", _PAGE, tag="models")},
    "/api/v1/models/{name}": {
        "get": _op("Get a model with versions and aliases", [_NAME], tag="models"),
        "put": _op("Register a model name", [_NAME], tag="models"),
    },
    "/api/v1/models/{name}/versions": {
        "post": _op("Register a trained model version", [_NAME], body=_OBJ, ok="201",
                    tag="models"),
    },
    "/api/v1/models/{name}/versions/{ref}": {
        "get": _op("Get a version by number, alias or 'latest'",
                   [_NAME, _p("ref", "path")], tag="models"),
    },
    "/api/v1/models/{name}/aliases/{alias}": {
        "put": _op("Point an alias at a version", [_NAME, _p("alias", "path")],
                   body={"type": "object", "required": ["version"],
                         "properties": {"version": {"type": "integer"}}}, tag="models"),
    },
    "/api/v1/pipelines": {"get": _op("Pipelines this deployment can run", tag="pipelines",
                                     errors=())},
    "/api/v1/pipelines/{name}": {
        "get": _op("A pipeline with its steps", [_NAME], tag="pipelines", errors=("404",)),
    },
    "/api/v1/pipelines/{name}/runs": {
        "post": _op("Start a pipeline run in a background worker", [_NAME], ok="202",
                    body={"type": "object", "additionalProperties": False, "properties": {
                        "source": {"enum": ["synthetic", "taobao", "amazon"]},
                        "events": {"type": "integer", "minimum": 100},
                        "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
                        "input": {"type": "string", "description":
                                  "a file under the server's CATALOG_DATA_DIR, relative to it"},
                        "attributes": {"type": "string", "description":
                                       "a file under CATALOG_DATA_DIR, relative to it"}}},
                    tag="pipelines", errors=("404", "415", "422", "429", "503")),
        "get": _op("Runs started through the catalog", [_NAME, *_PAGE], tag="pipelines"),
    },
    "/api/v1/openapi.json": {"get": _op("This document", tag="meta", errors=())},
}


def governance_paths() -> dict:
    """Paths of the governance endpoints, kept in their own module."""
    from catalog.api.openapi_governance import PATHS as GOVERNANCE

    return GOVERNANCE


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Recommendation data catalog API",
            "version": "1",
            "description": "OpenLineage ingestion, Marquez-compatible reads, lineage queries, "
            "dataset and model registration.",
        },
        "paths": {**PATHS, **governance_paths()},
        "components": {
            "schemas": {
                **SCHEMAS,
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string", "description": "The offending field."},
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "Error naming the problem",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    """Serve the OpenAPI document."""
    return jsonify(document())
