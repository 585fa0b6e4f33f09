"""OpenAPI schemas of the Marquez-shaped reads and writes (runs, jobs, datasets and their
versions, namespaces, tags, sources, lineage graphs, the event feed, search) and of what
ingestion answers.

They list what a Marquez client reads (and the keys we add), with Marquez's ``RunState`` enum for
every run state. Objects stay open (``additionalProperties``): a new key is no breaking change.
"""

from __future__ import annotations

from catalog.api.openapi_parts import (
    BOOL,
    INT,
    NINT,
    NSTR,
    NTIME,
    OBJ,
    STR,
    STRINGS,
    TIME,
    array,
    obj,
    page_of,
    ref,
)
from catalog.read.run_states import API_STATES, FILTER_WORDS

_FACETS = OBJ
_TYPE = {"type": "string", "enum": ["DB_TABLE", "STREAM"]}
_ID = obj(["namespace", "name"], namespace=STR, name=STR)
_VERSION_ID = obj(["namespace", "name", "version"], namespace=STR, name=STR, version=NSTR)
_IO = obj(["datasetVersionId", "facets"], datasetVersionId=_VERSION_ID, facets=_FACETS)
_OWNER = obj(["name"], name=STR, type=NSTR)
_FIELD = obj(["name", "type", "tags"], name=STR, type=NSTR, tags=STRINGS, description=NSTR)
_EDGES = array(obj(["origin", "destination"], origin=STR, destination=STR))
_WARNINGS = {**array(obj(["field", "message"], field=STR, message=STR)),
             "description": "Facets that broke their schema: stored with the event as sent, "
                            "not interpreted (CATALOG_STRICT_FACETS refuses them instead)."}

_MARQUEZ: dict[str, dict] = {
    "RunState": {"type": "string", "enum": list(API_STATES),
                 "description": "Marquez's RunState. Stored OpenLineage event types map: "
                                "START -> RUNNING, COMPLETE -> COMPLETED, FAIL -> FAILED, "
                                "ABORT -> ABORTED."},
    "Run": obj(
        ["id", "createdAt", "updatedAt", "state", "startedAt", "endedAt", "durationMs",
         "args", "jobVersion", "context", "facets"],
        id=STR, createdAt=TIME, updatedAt=TIME, nominalStartTime=NTIME,
        nominalEndTime=NTIME, state=ref("RunState"), startedAt=NTIME, endedAt=NTIME,
        durationMs={**NINT, "description": "endedAt - startedAt; null until both are known."},
        args={"type": "object", "additionalProperties": STR},
        jobVersion=_VERSION_ID,
        context={"type": "object", "additionalProperties": STR,
                 "description": "Deprecated in Marquez: the job version's SQL, if any."},
        parentRunId=NSTR, errorMessage=NSTR, facets=_FACETS,
        inputDatasetVersions=array(_IO), outputDatasetVersions=array(_IO),
        inputVersions=array(_VERSION_ID), outputVersions=array(_VERSION_ID),
    ),
    "Job": obj(
        ["id", "type", "name", "simpleName", "createdAt", "updatedAt", "namespace", "inputs",
         "outputs", "context", "latestRun", "facets", "currentVersion"],
        id=_ID, type=STR, name=STR, simpleName=STR, parentJobName=NSTR,
        createdAt=TIME, updatedAt=TIME, namespace=STR, inputs=array(_ID), outputs=array(_ID),
        location=NSTR, description=NSTR, integration=NSTR, jobType=NSTR,
        context={"type": "object", "additionalProperties": STR},
        latestRun=ref("Run", nullable=True), facets=_FACETS, currentVersion=NSTR,
    ),
    "Dataset": obj(
        ["id", "type", "name", "physicalName", "createdAt", "updatedAt", "namespace",
         "sourceName", "fields", "tags", "lastModifiedAt", "lastLifecycleState",
         "description", "currentVersion", "facets", "deleted"],
        id=_ID, type=_TYPE, kind=STR, name=STR, physicalName=STR, createdAt=TIME,
        updatedAt=TIME, namespace=STR, sourceName=NSTR, fields=array(_FIELD), tags=STRINGS,
        owners=array(_OWNER), lastModifiedAt=NTIME, lastLifecycleState=NSTR,
        description=NSTR, currentVersion=NSTR, currentVersionNumber=NINT, rowCount=NINT,
        facets=_FACETS, deleted=BOOL,
    ),
    "DatasetVersion": obj(
        ["id", "type", "name", "physicalName", "createdAt", "version", "namespace",
         "sourceName", "fields", "lifecycleState", "createdByRun", "facets"],
        id=_VERSION_ID, type=_TYPE, name=STR, physicalName=STR, createdAt=TIME, version=STR,
        versionNumber=INT, namespace=STR, sourceName=NSTR, fields=array(OBJ), rowCount=NINT,
        fingerprint=NSTR, lifecycleState=NSTR, createdByRun=ref("Run", nullable=True),
        facets=_FACETS,
    ),
    "DatasetAsOf": obj(
        ["id", "namespace", "name", "asOf", "createdAt", "kind", "description", "owners",
         "tags", "fields", "currentVersion"],
        id=_ID, namespace=STR, name=STR, asOf=TIME, createdAt=TIME, kind=STR,
        description=NSTR, owners=array(_OWNER), tags=STRINGS, fields=array(_FIELD),
        currentVersion=NSTR, currentVersionNumber=NINT, versionCreatedAt=NTIME,
        rowCount=NINT, metadataAuditedAt=NTIME),
    "Namespace": obj(["name", "createdAt", "updatedAt", "ownerName", "description"],
                     name=STR, createdAt=TIME, updatedAt=TIME, ownerName=NSTR, description=NSTR,
                     isHidden=BOOL),
    "NamespaceMeta": {"type": "object", "required": ["ownerName"], "properties": {
        "ownerName": {"type": "string", "minLength": 1, "maxLength": 256},
        "description": {"type": "string", "nullable": True, "maxLength": 20_000}}},
    "Tag": obj(["name", "description"], name=STR, description=NSTR),
    "TagDescription": {"type": "object", "properties": {
        "description": {"type": "string", "nullable": True, "maxLength": 20_000}}},
    "Source": obj(["type", "name", "createdAt", "updatedAt", "connectionUrl", "description"],
                  type={**NSTR, "description": "The connection URL's scheme, upper-cased."},
                  name=STR, createdAt=TIME, updatedAt=TIME, connectionUrl=NSTR,
                  description=NSTR),
    "RunList": page_of("runs", "Run"),
    "JobList": page_of("jobs", "Job"),
    "DatasetList": page_of("datasets", "Dataset"),
    "DatasetVersionList": page_of("versions", "DatasetVersion"),
    "NamespaceList": page_of("namespaces", "Namespace"),
    "TagList": page_of("tags", "Tag"),
    "SourceList": page_of("sources", "Source"),
}

_TRANSFORMATION = obj(["type", "subtype", "description", "masking"], type=STR, subtype=NSTR,
                      description=NSTR, masking=BOOL)
_INPUT_FIELD = obj(
    ["namespace", "dataset", "datasetVersion", "field", "transformations"],
    namespace=STR, dataset=STR, datasetVersion=NSTR, field=STR,
    transformationDescription=NSTR, transformationType=NSTR,
    transformations=array(_TRANSFORMATION))

_LINEAGE: dict[str, dict] = {
    "LineageGraph": obj(
        ["graph", "truncated", "frontier"],
        graph=array(obj(["id", "type", "data", "inEdges", "outEdges"],
                        id=STR, type={"type": "string", "enum": ["DATASET", "JOB"]},
                        data={"anyOf": [ref("Dataset"), ref("Job")]},
                        inEdges=_EDGES, outEdges=_EDGES)),
        truncated={**BOOL, "description": "The walk stopped at `limit` nodes."},
        frontier={**STRINGS, "description": "Ids of nodes whose neighbours were left out."}),
    "ColumnLineageGraph": obj(["graph"], graph=array(obj(
        ["id", "type", "data", "inEdges", "outEdges"],
        id=STR, type={"type": "string", "enum": ["DATASET_FIELD"]},
        data=obj(["namespace", "dataset", "datasetVersion", "field", "fieldType", "inputFields"],
                 namespace=STR, dataset=STR, datasetVersion=NSTR, field=STR, fieldType=NSTR,
                 transformationDescription=NSTR, transformationType=NSTR,
                 inputFields=array(_INPUT_FIELD)),
        inEdges=_EDGES, outEdges=_EDGES))),
    "LineageWalk": obj(
        ["nodeId", "direction", "depth", "asOf", "nodes"],
        nodeId=STR, direction={"type": "string", "enum": ["upstream", "downstream"]},
        depth=INT, asOf=NTIME,
        nodes=array(obj(["id", "type", "distance", "name", "namespace"],
                        id=STR, type={"type": "string", "enum": ["DATASET", "JOB"]},
                        distance=INT, name=STR, namespace=STR))),
    "EventList": obj(["events", "totalCount"], events=array(OBJ), totalCount=INT),
    "IngestResult": obj(
        ["status", "kind", "runId", "warnings"],
        status={"type": "string", "enum": ["created", "duplicate"]},
        kind={"type": "string", "enum": ["RunEvent", "DatasetEvent", "JobEvent"]},
        runId=NSTR, warnings=_WARNINGS),
    "IngestBatchResult": obj(
        ["accepted", "failed", "results"], accepted=INT, failed=INT,
        results=array(obj(
            ["index", "status"], index=INT,
            status={"type": "string", "enum": ["created", "duplicate", "error"]},
            kind=STR, runId=NSTR, warnings=_WARNINGS,
            code={**INT, "description": "The HTTP status this event alone would get."},
            error=STR, message=STR, field=STR))),
    "SearchResults": obj(["totalCount", "results"], totalCount=INT, results=array(obj(
        ["type", "name", "namespace", "nodeId"],
        type={"type": "string", "enum": ["DATASET", "JOB"]}, name=STR, updatedAt=NTIME,
        namespace=STR, nodeId=STR))),
    "OpenLineageEvent": {"type": "object",
                         "description": "OpenLineage 2-0-2 RunEvent, DatasetEvent or JobEvent",
                         "required": ["eventTime", "producer", "schemaURL"],
                         "additionalProperties": True},
    "DatasetRegistration": {
        "type": "object", "additionalProperties": False,
        "description": "A dataset registered without OpenLineage; a new version is written "
                       "when the schema or fingerprint changes, or a runId is given.",
        "properties": {
            "type": STR, "kind": STR, "physicalName": STR, "sourceName": STR,
            "sourceUri": STR, "description": NSTR, "tags": STRINGS,
            "owners": {"type": "array", "items": {"anyOf": [STR, _OWNER]}},
            "fields": array(obj(["name"], name=STR, type=NSTR, description=NSTR)),
            "fingerprint": STR, "rowCount": {"type": "integer", "minimum": 0},
            "runId": STR}},
}

SCHEMAS: dict[str, dict] = {**_MARQUEZ, **_LINEAGE}

# The ``lastRunStates`` filter of the job list: Marquez's names or the OpenLineage ones.
LAST_RUN_STATES = {
    "name": "lastRunStates", "in": "query", "required": False,
    "style": "form", "explode": True,
    "schema": {"type": "array", "items": {"type": "string", "enum": list(FILTER_WORDS)}},
    "description": "Only jobs whose latest run is in one of these states (repeat the "
                   "parameter or separate by commas). Marquez's names (COMPLETED, FAILED, ...) "
                   "and OpenLineage's (COMPLETE, FAIL, ...) both work; RUNNING covers START.",
}
