"""OpenAPI paths of the governance endpoints (audit trail, classifications, exemptions)."""

from __future__ import annotations

from catalog.api.openapi import _ASOF, _NAME, _NS, _OBJ, _PAGE, _op, _p

_TIME = {"type": "string", "format": "date-time"}
_FILTERS = [
    _p("entityType", desc="e.g. dataset, model, token, user, column_classification"),
    _p("entityKey", desc="e.g. NAMESPACE/NAME for a dataset, the model's name"),
    _p("actor", desc="user name or token:<name>"),
    _p("since", schema=_TIME, desc="From this time (inclusive)."),
    _p("until", schema=_TIME, desc="Up to this time (exclusive)."),
]
_FIELD, _TAG = _p("field", "path"), _p("tag", "path", desc="e.g. pii.email")
_DS = "/api/v1/namespaces/{namespace}/datasets/{name}"

PATHS: dict[str, dict] = {
    "/api/v1/audit": {
        "get": _op("Audit trail entries, oldest first (auditor, admin)", [*_FILTERS, *_PAGE],
                   tag="governance", errors=("400", "401", "403")),
    },
    "/api/v1/audit/export": {
        "get": _op("The audit trail as JSON lines or CSV", [
            *_FILTERS, _p("format", schema={"enum": ["jsonl", "csv"]})], tag="governance",
            errors=("400", "401", "403")),
    },
    f"{_DS}/classifications": {
        "get": _op("Column classifications: own, inherited (with source), suggested",
                   [_NS, _NAME, _ASOF], tag="governance"),
    },
    f"{_DS}/classifications/detect": {
        "post": _op("Suggest classifications by detectors (stored, not applied)", [_NS, _NAME],
                    tag="governance"),
    },
    f"{_DS}/fields/{{field}}/classifications/{{tag}}": {
        "put": _op("Tag a column (accepts a suggestion)", [_NS, _NAME, _FIELD, _TAG],
                   tag="governance"),
        "delete": _op("Untag a column or reject a suggestion", [_NS, _NAME, _FIELD, _TAG],
                      tag="governance"),
    },
    "/api/v1/models/{name}/exemptions": {
        "get": _op("Exemptions approved for a model", [_NAME], tag="governance"),
        "post": _op("Approve a model's use of pii-tagged columns", [_NAME], body=_OBJ, ok="201",
                    tag="governance"),
    },
    "/api/v1/models/{name}/exemptions/{exemption_id}": {
        "delete": _op("Revoke an exemption", [
            _NAME, _p("exemption_id", "path", schema={"type": "integer"})], tag="governance"),
    },
}
