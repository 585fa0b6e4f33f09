"""OpenAPI schemas of the Marquez-shaped reads (runs, jobs, datasets and their versions) and of
what ingestion answers.

They list what a Marquez client reads (and the keys we add), with Marquez's ``RunState`` enum for
every run state. Objects stay open (``additionalProperties``): a new key is no breaking change.
"""

from __future__ import annotations

from catalog.read.run_states import API_STATES, FILTER_WORDS

_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": "string", "format": "date-time", "nullable": True}
_FACETS = {"type": "object", "additionalProperties": True}
_STRINGS = {"type": "array", "items": _STR}


def _ref(name: str, nullable: bool = False) -> dict:
    ref = {"$ref": f"#/components/schemas/{name}"}
    return {"allOf": [ref], "nullable": True} if nullable else ref


def _obj(required: list[str], **props) -> dict:
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": True}


def _list(key: str, item: str) -> dict:
    return _obj([key], **{key: {"type": "array", "items": _ref(item)},
                          "totalCount": {"type": "integer"}})


_ID = _obj(["namespace", "name"], namespace=_STR, name=_STR)
_VERSION_ID = _obj(["namespace", "name", "version"], namespace=_STR, name=_STR, version=_NSTR)
_IO = _obj(["datasetVersionId", "facets"], datasetVersionId=_VERSION_ID, facets=_FACETS)
_WARNINGS = {"type": "array", "items": _obj(["field", "message"], field=_STR, message=_STR),
             "description": "Facets that broke their schema: stored with the event as sent, "
                            "not interpreted (CATALOG_STRICT_FACETS refuses them instead)."}

SCHEMAS: dict[str, dict] = {
    "RunState": {"type": "string", "enum": list(API_STATES),
                 "description": "Marquez's RunState. Stored OpenLineage event types map: "
                                "START -> RUNNING, COMPLETE -> COMPLETED, FAIL -> FAILED, "
                                "ABORT -> ABORTED."},
    "Run": _obj(
        ["id", "createdAt", "updatedAt", "state", "startedAt", "endedAt", "durationMs",
         "args", "jobVersion", "context", "facets"],
        id=_STR, createdAt=_TIME, updatedAt=_TIME, nominalStartTime=_NTIME,
        nominalEndTime=_NTIME, state=_ref("RunState"), startedAt=_NTIME, endedAt=_NTIME,
        durationMs={"type": "integer", "nullable": True,
                    "description": "endedAt - startedAt; null until both are known."},
        args={"type": "object", "additionalProperties": _STR},
        jobVersion=_VERSION_ID,
        context={"type": "object", "additionalProperties": _STR,
                 "description": "Deprecated in Marquez: the job version's SQL, if any."},
        parentRunId=_NSTR, errorMessage=_NSTR, facets=_FACETS,
        inputDatasetVersions={"type": "array", "items": _IO},
        outputDatasetVersions={"type": "array", "items": _IO},
        inputVersions={"type": "array", "items": _VERSION_ID},
        outputVersions={"type": "array", "items": _VERSION_ID},
    ),
    "Job": _obj(
        ["id", "type", "name", "simpleName", "createdAt", "updatedAt", "namespace", "inputs",
         "outputs", "context", "latestRun", "facets", "currentVersion"],
        id=_ID, type=_STR, name=_STR, simpleName=_STR, parentJobName=_NSTR,
        createdAt=_TIME, updatedAt=_TIME, namespace=_STR,
        inputs={"type": "array", "items": _ID},
        outputs={"type": "array", "items": _ID},
        location=_NSTR, description=_NSTR,
        context={"type": "object", "additionalProperties": _STR},
        latestRun=_ref("Run", nullable=True), facets=_FACETS, currentVersion=_NSTR,
    ),
    "Dataset": _obj(
        ["id", "type", "name", "physicalName", "createdAt", "updatedAt", "namespace",
         "sourceName", "fields", "tags", "lastModifiedAt", "lastLifecycleState",
         "description", "currentVersion", "facets", "deleted"],
        id=_ID, type={"type": "string", "enum": ["DB_TABLE", "STREAM"]}, name=_STR,
        physicalName=_STR, createdAt=_TIME, updatedAt=_TIME, namespace=_STR,
        sourceName=_NSTR, fields={"type": "array", "items": _obj(
            ["name", "type", "tags"], name=_STR, type=_NSTR, tags=_STRINGS,
            description=_NSTR)},
        tags=_STRINGS, lastModifiedAt=_NTIME, lastLifecycleState=_NSTR, description=_NSTR,
        currentVersion=_NSTR, facets=_FACETS, deleted={"type": "boolean"},
    ),
    "DatasetVersion": _obj(
        ["id", "type", "name", "physicalName", "createdAt", "version", "namespace",
         "sourceName", "fields", "lifecycleState", "createdByRun", "facets"],
        id=_VERSION_ID, type={"type": "string", "enum": ["DB_TABLE", "STREAM"]}, name=_STR,
        physicalName=_STR, createdAt=_TIME, version=_STR, versionNumber={"type": "integer"},
        namespace=_STR, sourceName=_NSTR, fields={"type": "array", "items": _FACETS},
        lifecycleState=_NSTR, createdByRun=_ref("Run", nullable=True), facets=_FACETS,
    ),
    "DatasetAsOf": _obj(["id", "asOf"], id=_ID, asOf=_TIME),
    "RunList": _list("runs", "Run"),
    "JobList": _list("jobs", "Job"),
    "DatasetList": _list("datasets", "Dataset"),
    "DatasetVersionList": _list("versions", "DatasetVersion"),
    "IngestResult": _obj(
        ["status", "kind", "runId", "warnings"],
        status={"type": "string", "enum": ["created", "duplicate"]}, kind=_STR, runId=_NSTR,
        warnings=_WARNINGS),
    "IngestBatchResult": _obj(
        ["accepted", "failed", "results"], accepted={"type": "integer"},
        failed={"type": "integer"}, results={"type": "array", "items": _obj(
            ["index", "status"], index={"type": "integer"},
            status={"type": "string", "enum": ["created", "duplicate", "error"]},
            warnings=_WARNINGS)}),
}

# The ``lastRunStates`` filter of the job list: Marquez's names or the OpenLineage ones.
LAST_RUN_STATES = {
    "name": "lastRunStates", "in": "query", "required": False,
    "style": "form", "explode": True,
    "schema": {"type": "array", "items": {"type": "string", "enum": list(FILTER_WORDS)}},
    "description": "Only jobs whose latest run is in one of these states (repeat the "
                   "parameter or separate by commas). Marquez's names (COMPLETED, FAILED, ...) "
                   "and OpenLineage's (COMPLETE, FAIL, ...) both work; RUNNING covers START.",
}
