"""The OpenAPI 3 document of the JSON API, served at ``/api/v1/openapi.json``.

Written as data next to the routes it describes; a test checks that every route is in it and
nothing else is.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from catalog.api.openapi_governance import PATHS as GOVERNANCE_PATHS
from catalog.api.openapi_parts import ASOF, ASOF_META, DEPTH, NAME, NODE, NS, OBJ, PAGE, op, param
from catalog.api.openapi_shapes import LAST_RUN_STATES, SCHEMAS

bp = Blueprint("openapi", __name__)

_EVENT = {"type": "object", "description": "OpenLineage 2-0-2 RunEvent, DatasetEvent or JobEvent",
          "required": ["eventTime", "producer", "schemaURL"], "additionalProperties": True}

PATHS: dict[str, dict] = {
    "/api/v1/lineage": {
        "post": op("Ingest one OpenLineage event", body=_EVENT, ok="201", tag="lineage",
                   errors=("400", "413", "422"), returns="IngestResult"),
        "get": op("Lineage graph around a node (Marquez shape); truncated past `limit` nodes, "
                  "with the frontier to continue from",
                  [NODE, DEPTH, ASOF, param("limit", schema={"type": "integer", "minimum": 1},
                                             desc="Most nodes, nearest first.")],
                  tag="lineage"),
    },
    "/api/v1/lineage/batch": {
        "post": op("Ingest a batch of events; status per event", tag="lineage",
                   body={"type": "array", "items": _EVENT}, ok="201",
                   errors=("400", "413"), returns="IngestBatchResult"),
    },
    "/api/v1/lineage/upstream": {
        "get": op("Everything a node depends on", [NODE, DEPTH, ASOF], tag="lineage"),
    },
    "/api/v1/lineage/downstream": {
        "get": op("Everything that depends on a node", [NODE, DEPTH, ASOF], tag="lineage"),
    },
    "/api/v1/column-lineage": {
        "get": op("Column-level lineage graph", [
            param("nodeId", required=True,
                  desc="datasetField:NS:NAME:FIELD, dataset:NS:NAME or job:NS:NAME"),
            DEPTH, ASOF, param("withDownstream", schema={"type": "boolean"})], tag="lineage"),
    },
    "/api/v1/events/lineage": {
        "get": op("Raw OpenLineage events, newest first", [
            param("before", schema={"type": "string", "format": "date-time"}),
            param("after", schema={"type": "string", "format": "date-time"}), *PAGE],
            tag="lineage"),
    },
    "/api/v1/namespaces": {"get": op("List namespaces", PAGE, tag="namespaces")},
    "/api/v1/namespaces/{namespace}": {
        "get": op("Get a namespace", [NS], tag="namespaces"),
        "put": op("Create a namespace or replace its owner and description (Marquez)", [NS],
                  body={"type": "object", "required": ["ownerName"], "properties": {
                      "ownerName": {"type": "string"},
                      "description": {"type": "string", "nullable": True}}},
                  tag="namespaces"),
    },
    "/api/v1/tags": {"get": op("List tags", PAGE, tag="tags")},
    "/api/v1/tags/{name}": {
        "put": op("Create a tag or replace its description", [NAME], tag="tags"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}/tags/{tag}": {
        "post": op("Tag a dataset", [NS, NAME, param("tag", "path")], tag="tags"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}/fields/{field}/tags/{tag}": {
        "post": op("Tag a field of a dataset", [NS, NAME, param("field", "path"),
                                                  param("tag", "path")], tag="tags"),
    },
    "/api/v1/sources": {"get": op("List data sources", PAGE, tag="sources")},
    "/api/v1/sources/{name}": {"get": op("Get a data source", [NAME], tag="sources")},
    "/api/v1/namespaces/{namespace}/datasets": {
        "get": op("List datasets of a namespace", [NS, *PAGE], tag="datasets",
                  returns="DatasetList"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}": {
        "get": op("Get a dataset (asOf: as it stood then)", [NS, NAME, ASOF_META],
                  tag="datasets", returns={"anyOf": [
                       {"$ref": "#/components/schemas/Dataset"},
                       {"$ref": "#/components/schemas/DatasetAsOf"}]}),
        "put": op("Register or update a dataset", [NS, NAME], body=OBJ, tag="datasets",
                  returns="Dataset"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}/versions": {
        "get": op("List versions of a dataset", [NS, NAME, *PAGE], tag="datasets",
                  returns="DatasetVersionList"),
    },
    "/api/v1/namespaces/{namespace}/datasets/{name}/versions/{version}": {
        "get": op("Get a dataset version by UUID or number",
                  [NS, NAME, param("version", "path")], tag="datasets",
                  returns="DatasetVersion"),
    },
    "/api/v1/namespaces/{namespace}/jobs": {
        "get": op("List jobs of a namespace", [NS, LAST_RUN_STATES, *PAGE], tag="jobs",
                  returns="JobList"),
    },
    "/api/v1/namespaces/{namespace}/jobs/{name}": {
        "get": op("Get a job", [NS, NAME], tag="jobs", returns="Job"),
    },
    "/api/v1/namespaces/{namespace}/jobs/{name}/runs": {
        "get": op("List runs of a job", [NS, NAME, *PAGE], tag="jobs", returns="RunList"),
    },
    "/api/v1/jobs/runs/{run_id}": {
        "get": op("Get a run with its input and output dataset versions",
                  [param("run_id", "path")], tag="jobs", returns="Run"),
    },
    "/api/v1/search": {
        "get": op("Search datasets and jobs (the pages' full-text index)", [
            param("q", required=True,
                  desc="Words; each must begin a word of the name, namespace, description, "
                       "columns, tags or owners (names split at '_', '.', '/', ...)."),
            param("filter", schema={"enum": ["DATASET", "JOB"]}),
            param("sort", schema={"enum": ["NAME", "UPDATE_AT"]},
                  desc="NAME (default) or latest update first."), *PAGE, ASOF_META],
            tag="search"),
    },
    "/api/v1/models": {"get": op("List registered models", PAGE, tag="models")},
    "/api/v1/models/{name}": {
        "get": op("Get a model with versions and aliases", [NAME], tag="models"),
        "put": op("Register a model name", [NAME], tag="models"),
    },
    "/api/v1/models/{name}/versions": {
        "post": op("Register a trained model version", [NAME], body=OBJ, ok="201",
                   tag="models"),
    },
    "/api/v1/models/{name}/versions/{ref}": {
        "get": op("Get a version by number, alias or 'latest'",
                  [NAME, param("ref", "path")], tag="models"),
    },
    "/api/v1/models/{name}/aliases/{alias}": {
        "put": op("Point an alias at a version", [NAME, param("alias", "path")],
                  body={"type": "object", "required": ["version"],
                         "properties": {"version": {"type": "integer"}}}, tag="models"),
    },
    "/api/v1/pipelines": {"get": op("Pipelines this deployment can run", tag="pipelines",
                                    errors=())},
    "/api/v1/pipelines/{name}": {
        "get": op("A pipeline with its steps", [NAME], tag="pipelines", errors=("404",)),
    },
    "/api/v1/pipelines/{name}/runs": {
        "post": op("Start a pipeline run in a background worker", [NAME], ok="202",
                   body={"type": "object", "additionalProperties": False, "properties": {
                        "source": {"enum": ["synthetic", "taobao", "amazon"]},
                        "events": {"type": "integer", "minimum": 100},
                        "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
                        "input": {"type": "string", "description":
                                  "a file under the server's CATALOG_DATA_DIR, relative to it"},
                        "attributes": {"type": "string", "description":
                                       "a file under CATALOG_DATA_DIR, relative to it"}}},
                   tag="pipelines", errors=("404", "415", "422", "429", "503")),
        "get": op("Runs started through the catalog", [NAME, *PAGE], tag="pipelines"),
    },
    "/api/v1/openapi.json": {"get": op("This document", tag="meta", errors=())},
}


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
        "paths": {**PATHS, **GOVERNANCE_PATHS},
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
