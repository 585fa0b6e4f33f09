"""Building blocks of the OpenAPI document: schema helpers, parameters, operations, errors.

Imported by the modules that hold the paths and schemas (``openapi``, ``openapi_shapes``,
``openapi_registry``, ``openapi_governance``); imports none of them.

Every operation answers its success status with a named schema and its errors with the catalog's
one error body (``Error``, what :meth:`catalog.errors.CatalogError.to_dict` writes). Errors every
authenticated request can meet are added to each operation: 400 (a malformed parameter, a NUL in
the URL), 401 (no or bad credentials), 403 (the role lacks the permission) and 503 (the database
is busy, unreachable or timed out; ``Retry-After`` when the client should retry).
"""

from __future__ import annotations

JSON = "application/json"

# --- schema helpers -------------------------------------------------------------------------------

STR = {"type": "string"}
NSTR = {"type": "string", "nullable": True}
INT = {"type": "integer"}
NINT = {"type": "integer", "nullable": True}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
NTIME = {"type": "string", "format": "date-time", "nullable": True}
OBJ = {"type": "object", "additionalProperties": True}
STRINGS = {"type": "array", "items": STR}


def ref(name: str, nullable: bool = False) -> dict:
    """A reference to schema ``name`` in components (``allOf``-wrapped when nullable)."""
    target = {"$ref": f"#/components/schemas/{name}"}
    return {"allOf": [target], "nullable": True} if nullable else target


def obj(required: list[str], **props) -> dict:
    """An object with ``props``, ``required`` of them always present. Open: a new key is no
    breaking change."""
    return {"type": "object", "required": required, "properties": props,
            "additionalProperties": True}


def nobj(required: list[str], **props) -> dict:
    """:func:`obj`, or null."""
    return {**obj(required, **props), "nullable": True}


def array(item: dict) -> dict:
    """An array of ``item``."""
    return {"type": "array", "items": item}


def page_of(key: str, item: str) -> dict:
    """A page of a list endpoint: ``{key: [item], "totalCount": n}``."""
    return obj([key, "totalCount"], **{key: array(ref(item)), "totalCount": INT})


# --- parameters -----------------------------------------------------------------------------------


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
ASOF = param("asOf", schema=TIME, desc="Lineage as it stood at this time.")
ASOF_META = param("asOf", schema=TIME, desc="Metadata as it stood at this time.")
NODE = param("nodeId", required=True, desc="dataset:NS:NAME or job:NS:NAME")

# --- errors ---------------------------------------------------------------------------------------

ERROR_SCHEMA = obj(
    ["error", "message"],
    error={**STR, "description": "The exception's name, e.g. ValidationFailed, NotFound."},
    message={**STR, "description": "What is wrong, for a person."},
    field={**STR, "description": "The offending parameter or body field, if one."},
    errors={"type": "object", "additionalProperties": STR,
            "description": "Every problem of a form-like body, by field."},
    reasons={"type": "array", "items": STR,
             "description": "Why a promotion was refused (409)."},
    permission={**NSTR, "description": "The permission the role lacks (403)."},
    role={**STR, "description": "The caller's role (403)."},
    retryAfter={**INT, "description": "Seconds to wait before retrying (503, 429)."},
    limit={**INT, "description": "The limit exceeded (413)."},
    cap={**STR, "description": "The setting whose cap refused a run request (429): "
         "CATALOG_MAX_API_RUNS or CATALOG_MAX_QUEUED_RUNS."},
    running={**INT, "description": "Runs started through the catalog that are running (429)."},
    queued={**INT, "description": "Runs started through the catalog that wait (429)."},
)

# Each error status the API answers: its name in components.responses, and what it means here.
ERRORS = {
    "400": ("BadRequest", "Malformed input: a bad parameter, unparseable JSON, a NUL character "
                          "in the URL."),
    "401": ("Unauthorized", "No credentials, or a token that is unknown, expired or revoked."),
    "403": ("Forbidden", "The role lacks the permission (named in `permission`), or a login's "
                         "write lacks its CSRF token."),
    "404": ("NotFound", "The named entity does not exist."),
    "409": ("Conflict", "The request contradicts stored state (e.g. a refused promotion, with "
                        "`reasons`)."),
    "413": ("PayloadTooLarge", "The body exceeds CATALOG_MAX_BODY_BYTES (after gzip decoding)."),
    "415": ("UnsupportedMediaType", "The body is not JSON (Content-Type must be "
                                    "application/json)."),
    "422": ("ValidationFailed", "Well-formed input that breaks a schema or rule (`field` names "
                                "it)."),
    "429": ("TooManyRequests", "Too many runs in progress; retry later."),
    "503": ("Unavailable", "The database is busy, unreachable or timed out, or the feature is "
                           "not set up; `Retry-After` when worth retrying."),
}
AUTH_ERRORS = ("400", "401", "403", "503")
# Errors of an operation that reads a JSON body.
BODY_ERRORS = ("413", "415", "422")

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "An API token: `catalog tokens create` prints one."},
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "session",
                   "description": "The session cookie of /login. Writes with it also need the "
                                  "session's CSRF token in X-CSRF-Token (JSON login returns it "
                                  "as csrfToken) and a same-site Origin."},
}
# Either credential will do, on every operation that does not say otherwise.
SECURITY = [{"bearerAuth": []}, {"cookieAuth": []}]


def error_responses() -> dict:
    """``components.responses``: one per error status, each the catalog's error body."""
    return {name: {"description": text, "content": {JSON: {"schema": ref("Error")}}}
            for name, text in ERRORS.values()}


# --- operations -----------------------------------------------------------------------------------


def _content(schema: dict | str, media: str | tuple[str, ...]) -> dict:
    schema = ref(schema) if isinstance(schema, str) else schema
    return {m: {"schema": schema} for m in ((media,) if isinstance(media, str) else media)}


def op(summary: str, params=(), *, returns: str | dict, ok: str | tuple[str, ...] = "200",
       tag: str, errors=(), body: dict | str | None = None, body_required: bool = True,
       media: str | tuple[str, ...] = JSON, public: bool = False, desc: str = "") -> dict:
    """One operation.

    ``returns``: its success body (a schema, or the name of one in components) under each of
    ``media``, for each status in ``ok``; ``errors``: the statuses it answers besides those every
    authenticated request can meet (none for a ``public`` operation, which needs no credentials)
    and the 404 of any operation with a path parameter.
    ``body``: the JSON request body it reads (a schema or a name), required unless said.
    """
    operation = {"summary": summary, "tags": [tag], "parameters": list(params),
                 "responses": {}}
    if desc:
        operation["description"] = desc
    for code in (ok,) if isinstance(ok, str) else ok:
        operation["responses"][code] = {"description": "OK", "content": _content(returns, media)}
    codes = set(errors) if public else set(errors) | set(AUTH_ERRORS)
    if any(p.get("in") == "path" for p in params):
        # A path value no route can hold (a name with a newline, say) is the router's 404.
        codes.add("404")
    for code in sorted(codes):
        operation["responses"][code] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    if public:
        operation["security"] = []
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": _content(body, JSON)}
    return operation
