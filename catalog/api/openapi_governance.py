"""OpenAPI paths and schemas of the governance endpoints (audit trail, classifications,
exemptions)."""

from __future__ import annotations

from catalog.api.openapi_parts import (
    ASOF,
    BODY_ERRORS,
    BOOL,
    INT,
    NAME,
    NS,
    NSTR,
    NTIME,
    PAGE,
    STR,
    STRINGS,
    TIME,
    array,
    nobj,
    obj,
    op,
    param,
    ref,
)

_FILTERS = [
    param("entityType", desc="e.g. dataset, namespace, tag, model, token, user, "
                             "column_classification"),
    param("entityKey", desc="e.g. NAMESPACE/NAME for a dataset, the model's name"),
    param("actor", desc="user name or token:<name>"),
    param("since", schema=TIME, desc="From this time (inclusive)."),
    param("until", schema=TIME, desc="Up to this time (exclusive)."),
]
_FIELD, _TAG = param("field", "path"), param("tag", "path", desc="e.g. pii.email")
_DS = "/api/v1/namespaces/{namespace}/datasets/{name}"
_STATE = obj(["field", "tag", "status", "source", "reason"], field=STR, tag=STR,
             status={"type": "string", "enum": ["applied", "suggested", "rejected"]},
             source={**STR, "description": "steward, or detector:<name>"}, reason=NSTR)
_SOURCE = obj(["namespace", "dataset", "field"], namespace=STR, dataset=STR, field=STR)
_CHANGE = {"type": "object", "nullable": True, "additionalProperties": True}

SCHEMAS: dict[str, dict] = {
    "AuditEntry": obj(
        ["seq", "at", "actor", "action", "entityType", "entityKey", "before", "after",
         "prevHash", "hash"],
        seq=INT, at=TIME, actor=STR, action=STR, entityType=STR, entityKey=STR,
        before=_CHANGE, after=_CHANGE, prevHash=STR, hash=STR),
    "AuditPage": obj(["entries", "limit", "offset", "hasMore"],
                     entries=array(ref("AuditEntry")), limit=INT, offset=INT, hasMore=BOOL),
    "Classifications": obj(
        ["namespace", "dataset", "columns", "suggestions"], namespace=STR, dataset=STR,
        columns=array(obj(["field", "tags", "inherited"], field=STR, tags=STRINGS,
                          inherited=array(obj(["tag", "source"], tag=STR, source=_SOURCE)))),
        suggestions=array(_STATE)),
    "Suggestions": obj(["suggested"], suggested=array(_STATE)),
    "Exemption": obj(
        ["id", "model", "tag", "dataset", "field", "reason", "approvedBy", "createdAt",
         "revokedAt"],
        id=INT, model=STR, tag=STR,
        dataset=nobj(["namespace", "name"], namespace=STR, name=STR), field=NSTR,
        reason=STR, approvedBy=STR, createdAt=TIME, revokedAt=NTIME),
    "ExemptionList": obj(["exemptions"], exemptions=array(ref("Exemption"))),
    "ExemptionRequest": {
        "type": "object", "required": ["tag", "reason"], "additionalProperties": False,
        "properties": {"tag": {**STR, "description": "pii.<kind> or pii.*"}, "reason": STR,
                       "namespace": STR, "dataset": STR, "field": STR}},
}

_EXPORT = {"type": "string", "description": "One entry per line (JSON lines), or CSV."}

PATHS: dict[str, dict] = {
    "/api/v1/audit": {
        "get": op("Audit trail entries, oldest first (auditor, admin)", [*_FILTERS, *PAGE],
                  returns="AuditPage", tag="governance"),
    },
    "/api/v1/audit/export": {
        "get": op("The audit trail as JSON lines or CSV", [
            *_FILTERS, param("format", schema={"enum": ["jsonl", "csv"]})], tag="governance",
            returns=_EXPORT, media=("application/x-ndjson", "text/csv")),
    },
    f"{_DS}/classifications": {
        "get": op("Column classifications: own, inherited (with source), suggested",
                  [NS, NAME, ASOF], returns="Classifications", tag="governance",
                  errors=("404",)),
    },
    f"{_DS}/classifications/detect": {
        "post": op("Suggest classifications by detectors (stored, not applied)", [NS, NAME],
                   returns="Suggestions", tag="governance", errors=("404",)),
    },
    f"{_DS}/fields/{{field}}/classifications/{{tag}}": {
        "put": op("Tag a column (accepts a suggestion)", [NS, NAME, _FIELD, _TAG],
                  returns="Classifications", tag="governance",
                  body={"type": "object", "properties": {"reason": STR}}, body_required=False,
                  errors=("404", *BODY_ERRORS)),
        "delete": op("Untag a column or reject a suggestion", [NS, NAME, _FIELD, _TAG],
                     returns="Classifications", tag="governance", errors=("404",)),
    },
    "/api/v1/models/{name}/exemptions": {
        "get": op("Exemptions approved for a model (revoked ones included)", [NAME],
                  returns="ExemptionList", tag="governance"),
        "post": op("Approve a model's use of pii-tagged columns", [NAME],
                   body="ExemptionRequest", ok="201", returns="Exemption", tag="governance",
                   errors=("404", *BODY_ERRORS)),
    },
    "/api/v1/models/{name}/exemptions/{exemption_id}": {
        "delete": op("Revoke an exemption", [
            NAME, param("exemption_id", "path", schema={"type": "integer"})],
            returns="Exemption", tag="governance", errors=("404",)),
    },
}
