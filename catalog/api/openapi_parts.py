"""Building blocks of the OpenAPI document: parameters, operations, shared schemas.

Imported by the modules that hold the paths (``openapi``, ``openapi_governance``); imports none.
"""

from __future__ import annotations

ERR = {"$ref": "#/components/responses/Error"}
OBJ = {"type": "object", "additionalProperties": True}


def param(name: str, where: str = "query", schema: dict | None = None, required=False, desc=""):
    """One parameter (path parameters are always required)."""
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema or {"type": "string"}, "description": desc}


NS = param("namespace", "path", desc="Namespace name (URL-encode '/' and ':' if present).")
NAME = param("name", "path")
PAGE = [
    param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}, desc="Page size."),
    param("offset", schema={"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
          desc="Rows to skip."),
]
DEPTH = param("depth", schema={"type": "integer", "minimum": 0, "maximum": 50},
              desc="Hops to follow.")
ASOF = param("asOf", schema={"type": "string", "format": "date-time"},
             desc="Lineage as it stood at this time.")
ASOF_META = param("asOf", schema={"type": "string", "format": "date-time"},
                  desc="Metadata as it stood at this time.")
NODE = param("nodeId", required=True, desc="dataset:NS:NAME or job:NS:NAME")


def op(summary: str, params=(), body: dict | None = None, ok: str = "200", tag: str = "",
       errors=("400", "404", "422"), returns: str | dict | None = None) -> dict:
    """One operation; ``returns`` names its response schema in components (else any object)."""
    schema = {"$ref": f"#/components/schemas/{returns}"} if isinstance(returns, str) else (
        returns or OBJ)
    operation = {"summary": summary, "tags": [tag] if tag else [], "parameters": list(params),
                 "responses": {ok: {"description": "OK", "content": {"application/json": {
                     "schema": schema}}}}}
    for code in errors:
        operation["responses"][code] = ERR
    if body is not None:
        operation["requestBody"] = {"required": True,
                                    "content": {"application/json": {"schema": body}}}
    return operation
