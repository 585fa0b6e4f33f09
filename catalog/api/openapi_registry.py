"""OpenAPI paths and schemas of the model registry and of the pipelines the catalog runs."""

from __future__ import annotations

from catalog.api.openapi_parts import (
    BODY_ERRORS,
    INT,
    NAME,
    NINT,
    NSTR,
    OBJ,
    PAGE,
    STR,
    STRINGS,
    TIME,
    array,
    nobj,
    obj,
    op,
    page_of,
    param,
    ref,
)

_NUMBERS = {"type": "object", "additionalProperties": {"type": "number"}}

SCHEMAS: dict[str, dict] = {
    "ModelVersion": obj(
        ["model", "version", "createdAt", "runId", "artifactPath", "sha256", "codeVersion",
         "hyperparameters", "metrics", "description", "aliases", "datasetVersion"],
        model=STR, version=INT, createdAt=TIME, runId=NSTR, artifactPath=NSTR, sha256=NSTR,
        codeVersion=NSTR, hyperparameters=OBJ, metrics=_NUMBERS, description=NSTR,
        aliases=STRINGS,
        datasetVersion=nobj(["namespace", "name", "version"], namespace=STR, name=STR,
                            version=STR)),
    "Model": obj(
        ["name", "description", "createdAt", "updatedAt", "aliases", "latestVersion",
         "versions"],
        name=STR, description=NSTR, createdAt=TIME, updatedAt=TIME,
        aliases={"type": "object", "additionalProperties": INT,
                 "description": "Version number by alias."},
        latestVersion=NINT, versions=array(ref("ModelVersion"))),
    "ModelList": page_of("models", "Model"),
    "ModelVersionRegistration": {
        "type": "object", "additionalProperties": False, "properties": {
            "runId": {**STR, "description": "The training run: its inputs become the "
                                            "version's lineage."},
            "artifactPath": STR, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "codeVersion": STR, "hyperparameters": OBJ, "metrics": _NUMBERS,
            "description": STR, "namespace": STR}},
    "Pipeline": obj(["name", "namespace", "steps"], name=STR, namespace=STR, steps=array(obj(
        ["name", "job", "inputs", "output"], name=STR, job=STR, inputs=STRINGS, output=NSTR,
        grain=NSTR, purpose=NSTR, sql=NSTR, suite=NSTR))),
    "PipelineList": obj(["pipelines"], pipelines=array(ref("Pipeline"))),
    "PipelineRunRequest": {
        "type": "object", "additionalProperties": False, "properties": {
            "source": {"enum": ["synthetic", "taobao", "amazon"]},
            "events": {"type": "integer", "minimum": 100},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
            "input": {"type": "string", "description":
                      "a file under the server's CATALOG_DATA_DIR, relative to it"},
            "attributes": {"type": "string", "description":
                           "a file under CATALOG_DATA_DIR, relative to it"}}},
    "PipelineRunStarted": obj(["runId", "pipeline", "state", "params", "createdAt", "run"],
                              runId=STR, pipeline=STR, state={"enum": ["NEW"]}, params=OBJ,
                              createdAt=TIME,
                              run={**STR, "description": "Where to follow the run."}),
    "PipelineRunList": obj(["runs"], runs=array(obj(
        ["runId", "params", "pid", "createdAt", "takenBy", "takenAt", "exitCode",
         "cancelledBy"], runId=STR, params=OBJ, pid=NINT, createdAt=TIME,
        takenBy={**NSTR, "description": "The supervisor that took it (host:pid); null while "
                 "it waits."},
        takenAt={**TIME, "nullable": True},
        exitCode={**NINT, "description": "The worker's exit status (negative: the signal "
                  "that killed it); null while it runs."},
        cancelledBy=NSTR))),
    "PipelineRunCancelled": obj(["runId", "pipeline", "state", "was", "run"], runId=STR,
                                pipeline=STR, state={"enum": ["ABORT"]},
                                was={"enum": ["queued", "running"]}, run=STR),
}

_REF = param("ref", "path", desc="A version number, an alias, or 'latest'.")
_ALIAS = param("alias", "path", desc="e.g. staging, production (gated)")

PATHS: dict[str, dict] = {
    "/api/v1/models": {"get": op("List registered models", PAGE, returns="ModelList",
                                 tag="models")},
    "/api/v1/models/{name}": {
        "get": op("Get a model with versions and aliases", [NAME], returns="Model",
                  tag="models", errors=("404",)),
        "put": op("Register a model name (idempotent)", [NAME], returns="Model", tag="models",
                  body={"type": "object", "properties": {"description": STR}},
                  body_required=False, errors=BODY_ERRORS),
    },
    "/api/v1/models/{name}/versions": {
        "post": op("Register a trained model version", [NAME], body="ModelVersionRegistration",
                   ok="201", returns="ModelVersion", tag="models",
                   errors=("404", *BODY_ERRORS)),
    },
    "/api/v1/models/{name}/versions/{ref}": {
        "get": op("Get a version by number, alias or 'latest'", [NAME, _REF],
                  returns="ModelVersion", tag="models", errors=("404",)),
    },
    "/api/v1/models/{name}/aliases/{alias}": {
        "put": op("Point an alias at a version; production is gated (409 with reasons)",
                  [NAME, _ALIAS], returns="Model", tag="models",
                  body={"type": "object", "required": ["version"], "properties": {
                      "version": {"type": "integer"},
                      "tolerance": {"type": "number", "minimum": 0, "maximum": 1,
                                    "exclusiveMaximum": True,
                                    "description": "Allowed relative regression of valid.* "
                                                   "metrics (default 0.05)."}}},
                  errors=("404", "409", *BODY_ERRORS)),
    },
    "/api/v1/pipelines": {"get": op("Pipelines this deployment can run", returns="PipelineList",
                                    tag="pipelines")},
    "/api/v1/pipelines/{name}": {
        "get": op("A pipeline with its steps", [NAME], returns="Pipeline", tag="pipelines",
                  errors=("404",)),
    },
    "/api/v1/pipelines/{name}/runs": {
        "post": op("Queue a pipeline run for a background worker (NEW until one takes it; 429 "
                   "past CATALOG_MAX_API_RUNS + CATALOG_MAX_QUEUED_RUNS)", [NAME], ok="202",
                   returns="PipelineRunStarted", body="PipelineRunRequest", body_required=False,
                   tag="pipelines", errors=("404", *BODY_ERRORS, "429", "503")),
        "get": op("Runs started through the catalog, newest first", [NAME, *PAGE],
                  returns="PipelineRunList", tag="pipelines", errors=("404",)),
    },
    "/api/v1/pipelines/{name}/runs/{run_id}/cancel": {
        "post": op("Cancel a run started through the catalog: it ends ABORT and its token is "
                   "revoked; a queued one leaves the queue, a running one's worker is stopped",
                   [NAME, param("run_id", "path", desc="The run's id (runId).")],
                   returns="PipelineRunCancelled", tag="pipelines", errors=("404", "409")),
    },
}
