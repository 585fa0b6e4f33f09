"""The OpenAPI 3 document of the JSON API, served at ``/api/v1/openapi.json``.

Written as data next to the routes it describes; a test checks that every route is in it and
nothing else is.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from catalog.api import openapi_governance, openapi_registry, openapi_shapes
from catalog.api.openapi_parts import (
    ASOF,
    ASOF_META,
    BODY_ERRORS,
    DEPTH,
    ERROR_SCHEMA,
    NAME,
    NODE,
    NS,
    OBJ,
    PAGE,
    SECURITY,
    SECURITY_SCHEMES,
    TIME,
    error_responses,
    op,
    param,
)
from catalog.api.openapi_shapes import LAST_RUN_STATES

bp = Blueprint("openapi", __name__)

_DS = "/api/v1/namespaces/{namespace}/datasets/{name}"
_TAG = param("tag", "path", desc="A tag name: letters, digits, '_', '.', ':' or '-'.")

PATHS: dict[str, dict] = {
    "/api/v1/lineage": {
        "post": op("Ingest one OpenLineage event (201; identical re-sends too)",
                   body="OpenLineageEvent", ok="201", returns="IngestResult", tag="lineage",
                   errors=BODY_ERRORS),
        "get": op("Lineage graph around a node (Marquez shape); truncated past `limit` nodes, "
                  "with the frontier to continue from",
                  [NODE, DEPTH, ASOF, param("limit", schema={"type": "integer", "minimum": 1},
                                             desc="Most nodes, nearest first.")],
                  returns="LineageGraph", tag="lineage", errors=("404",)),
    },
    "/api/v1/lineage/batch": {
        "post": op("Ingest a batch of events; a status per event (201 all stored, 207 some "
                   "refused)", tag="lineage", body={"type": "array", "items": {
                       "$ref": "#/components/schemas/OpenLineageEvent"}},
                   ok=("201", "207"), returns="IngestBatchResult", errors=BODY_ERRORS),
    },
    "/api/v1/lineage/upstream": {
        "get": op("Everything a node depends on", [NODE, DEPTH, ASOF], returns="LineageWalk",
                  tag="lineage", errors=("404",)),
    },
    "/api/v1/lineage/downstream": {
        "get": op("Everything that depends on a node", [NODE, DEPTH, ASOF],
                  returns="LineageWalk", tag="lineage", errors=("404",)),
    },
    "/api/v1/column-lineage": {
        "get": op("Column-level lineage graph", [
            param("nodeId", required=True,
                  desc="datasetField:NS:NAME:FIELD, dataset:NS:NAME (all its fields) or "
                       "job:NS:NAME (all fields of the datasets it writes)"),
            DEPTH, ASOF, param("withDownstream", schema={"type": "boolean"})],
            returns="ColumnLineageGraph", tag="lineage", errors=("404",)),
    },
    "/api/v1/events/lineage": {
        "get": op("Raw OpenLineage events, newest first", [
            param("before", schema=TIME), param("after", schema=TIME), *PAGE],
            returns="EventList", tag="lineage", errors=("422",)),
    },
    "/api/v1/namespaces": {"get": op("List namespaces", PAGE, returns="NamespaceList",
                                     tag="namespaces")},
    "/api/v1/namespaces/{namespace}": {
        "get": op("Get a namespace", [NS], returns="Namespace", tag="namespaces",
                  errors=("404",)),
        "put": op("Create a namespace or replace its owner and description (Marquez)", [NS],
                  body="NamespaceMeta", returns="Namespace", tag="namespaces",
                  errors=BODY_ERRORS),
    },
    "/api/v1/namespaces/{namespace}/datasets": {
        "get": op("List datasets of a namespace", [NS, *PAGE], returns="DatasetList",
                  tag="datasets", errors=("404",)),
    },
    _DS: {
        "get": op("Get a dataset (asOf: as it stood then)", [NS, NAME, ASOF_META],
                  tag="datasets", errors=("404",), returns={"anyOf": [
                       {"$ref": "#/components/schemas/Dataset"},
                       {"$ref": "#/components/schemas/DatasetAsOf"}]}),
        "put": op("Register or update a dataset", [NS, NAME], body="DatasetRegistration",
                  returns="Dataset", tag="datasets", errors=("404", *BODY_ERRORS)),
    },
    f"{_DS}/versions": {
        "get": op("List versions of a dataset", [NS, NAME, *PAGE], tag="datasets",
                  returns="DatasetVersionList", errors=("404",)),
    },
    f"{_DS}/versions/{{version}}": {
        "get": op("Get a dataset version by UUID or number",
                  [NS, NAME, param("version", "path")], tag="datasets",
                  returns="DatasetVersion", errors=("404",)),
    },
    f"{_DS}/tags/{{tag}}": {
        "post": op("Tag a dataset (a new tag is created); takes no body", [NS, NAME, _TAG],
                   returns="Dataset", tag="tags", errors=("404", "422")),
    },
    f"{_DS}/fields/{{field}}/tags/{{tag}}": {
        "post": op("Tag a field of a dataset (a new tag is created); takes no body",
                   [NS, NAME, param("field", "path"), _TAG], returns="Dataset", tag="tags",
                   errors=("404", "422")),
    },
    "/api/v1/namespaces/{namespace}/jobs": {
        "get": op("List jobs of a namespace", [NS, LAST_RUN_STATES, *PAGE], tag="jobs",
                  returns="JobList", errors=("404",)),
    },
    "/api/v1/namespaces/{namespace}/jobs/{name}": {
        "get": op("Get a job", [NS, NAME], tag="jobs", returns="Job", errors=("404",)),
    },
    "/api/v1/namespaces/{namespace}/jobs/{name}/runs": {
        "get": op("List runs of a job", [NS, NAME, *PAGE], tag="jobs", returns="RunList",
                  errors=("404",)),
    },
    "/api/v1/jobs/runs/{run_id}": {
        "get": op("Get a run with its input and output dataset versions",
                  [param("run_id", "path")], tag="jobs", returns="Run", errors=("404",)),
    },
    "/api/v1/search": {
        "get": op("Search datasets and jobs (the pages' full-text index)", [
            param("q", required=True,
                  desc="Words; each must begin a word of the name, namespace, description, "
                       "columns, tags or owners (names split at '_', '.', '/', ...)."),
            param("filter", schema={"enum": ["DATASET", "JOB"]}),
            param("sort", schema={"enum": ["NAME", "UPDATE_AT"]},
                  desc="NAME (default) or latest update first."), *PAGE, ASOF_META],
            returns="SearchResults", tag="search"),
    },
    "/api/v1/tags": {"get": op("List tags", PAGE, returns="TagList", tag="tags")},
    "/api/v1/tags/{name}": {
        "put": op("Create a tag or replace its description", [NAME], body="TagDescription",
                  body_required=False, returns="Tag", tag="tags", errors=BODY_ERRORS),
    },
    "/api/v1/sources": {"get": op("List data sources", PAGE, returns="SourceList",
                                  tag="sources")},
    "/api/v1/sources/{name}": {
        "get": op("Get a data source", [NAME], returns="Source", tag="sources",
                  errors=("404",)),
    },
    "/api/v1/openapi.json": {"get": op("This document", returns=OBJ, tag="meta")},
    "/api/docs": {
        "get": op("This document in Swagger UI (a browser without a login is sent to /login)",
                  returns={"type": "string"}, media="text/html", tag="meta", errors=("503",)),
    },
    "/api/docs/assets/{name}": {
        "get": op("Swagger UI's stylesheet and script (npm's swagger-ui-dist)", [
            param("name", "path", schema={"enum": ["swagger-ui.css", "swagger-ui-bundle.js"]})],
            returns={"type": "string"}, media=("text/css", "text/javascript"), tag="meta",
            public=True, errors=("404", "503")),
    },
}


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Recommendation data catalog API",
            "version": "1",
            "description": "OpenLineage ingestion, Marquez-compatible reads, lineage queries, "
            "dataset and model registration, governance. Every error answers the same JSON "
            "body (`Error`).",
        },
        "security": SECURITY,
        "paths": {**PATHS, **openapi_registry.PATHS, **openapi_governance.PATHS},
        "components": {
            "schemas": {**openapi_shapes.SCHEMAS, **openapi_registry.SCHEMAS,
                        **openapi_governance.SCHEMAS, "Error": ERROR_SCHEMA},
            "responses": error_responses(),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    """Serve the OpenAPI document."""
    return jsonify(document())
