"""OpenAPI paths of the governance endpoints (audit trail, classifications, exemptions)."""

from __future__ import annotations

from catalog.api.openapi_parts import ASOF, NAME, NS, OBJ, PAGE, op, param

_TIME = {"type": "string", "format": "date-time"}
_FILTERS = [
    param("entityType", desc="e.g. dataset, model, token, user, column_classification"),
    param("entityKey", desc="e.g. NAMESPACE/NAME for a dataset, the model's name"),
    param("actor", desc="user name or token:<name>"),
    param("since", schema=_TIME, desc="From this time (inclusive)."),
    param("until", schema=_TIME, desc="Up to this time (exclusive)."),
]
_FIELD, _TAG = param("field", "path"), param("tag", "path", desc="e.g. pii.email")
_DS = "/api/v1/namespaces/{namespace}/datasets/{name}"

PATHS: dict[str, dict] = {
    "/api/v1/audit": {
        "get": op("Audit trail entries, oldest first (auditor, admin)", [*_FILTERS, *PAGE],
                  tag="governance", errors=("400", "401", "403")),
    },
    "/api/v1/audit/export": {
        "get": op("The audit trail as JSON lines or CSV", [
            *_FILTERS, param("format", schema={"enum": ["jsonl", "csv"]})], tag="governance",
            errors=("400", "401", "403")),
    },
    f"{_DS}/classifications": {
        "get": op("Column classifications: own, inherited (with source), suggested",
                  [NS, NAME, ASOF], tag="governance"),
    },
    f"{_DS}/classifications/detect": {
        "post": op("Suggest classifications by detectors (stored, not applied)", [NS, NAME],
                   tag="governance"),
    },
    f"{_DS}/fields/{{field}}/classifications/{{tag}}": {
        "put": op("Tag a column (accepts a suggestion)", [NS, NAME, _FIELD, _TAG],
                  tag="governance"),
        "delete": op("Untag a column or reject a suggestion", [NS, NAME, _FIELD, _TAG],
                     tag="governance"),
    },
    "/api/v1/models/{name}/exemptions": {
        "get": op("Exemptions approved for a model", [NAME], tag="governance"),
        "post": op("Approve a model's use of pii-tagged columns", [NAME], body=OBJ, ok="201",
                   tag="governance"),
    },
    "/api/v1/models/{name}/exemptions/{exemption_id}": {
        "delete": op("Revoke an exemption", [
            NAME, param("exemption_id", "path", schema={"type": "integer"})], tag="governance"),
    },
}
