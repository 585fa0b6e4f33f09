"""The serving process's HTTP API: thin handlers over :class:`ranker.serve.runtime.Runtime`.

``GET /recommendations?user=ID&k=10``, ``POST /events``, ``POST /feedback``, ``GET /healthz``,
``GET /readyz``. Errors are JSON like the catalog's: ``{"error", "message", "field"}``; a request
that names an unknown parameter or field is refused (400) rather than half understood.
"""

from __future__ import annotations

import re

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ranker.serve.model import BEHAVIOURS
from ranker.serve.runtime import FEEDBACK, NotFound, Runtime, Unprocessable

ID = re.compile(r"^[0-9]{1,18}$")  # a source id: a non-negative BIGINT
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY = 16 * 1024


class BadRequest(Exception):
    """A parameter or field is missing, malformed or out of range (400)."""

    def __init__(self, message: str, field: str | None):
        super().__init__(message)
        self.field = field


def _error(status: int, error: str, message: str, field: str | None = None):
    body = {"error": error, "message": message}
    if field is not None:
        body["field"] = field
    return jsonify(body), status


def _only(given, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown {where} {', '.join(unknown)}; allowed: "
                         f"{', '.join(allowed)}", unknown[0])


def _id(value, field: str) -> int:
    """A user or item id from a query string or JSON: digits (or a JSON integer) only."""
    if isinstance(value, bool) or value is None or not ID.match(str(value)):
        raise BadRequest(f"{field} must be a non-negative integer id, got {value!r}", field)
    return int(value)


def _body(fields: tuple[str, ...]) -> dict:
    if not request.is_json:
        raise BadRequest("the body must be JSON (Content-Type: application/json)", None)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", None)
    _only(body, fields, "field")
    missing = [f for f in fields if f not in body]
    if missing:
        raise BadRequest(f"missing field {missing[0]}", missing[0])
    return body


def create_app(runtime: Runtime) -> Flask:
    """The WSGI app of one serving process."""
    app = Flask("ranker.serve")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.sort_keys = False
    max_k = runtime.settings.max_k

    @app.get("/recommendations")
    def recommendations():
        _only(request.args, ("user", "k"), "parameter")
        for name in request.args:
            if len(request.args.getlist(name)) > 1:
                raise BadRequest(f"parameter {name} given more than once", name)
        user = _id(request.args.get("user"), "user")
        raw_k = request.args.get("k", "10")
        if not raw_k.isdigit() or not 1 <= int(raw_k) <= max_k:
            raise BadRequest(f"k must be an integer, 1 to {max_k}; got {raw_k!r}", "k")
        body = runtime.recommendations(user, int(raw_k))
        return jsonify(body), 200, {"X-Request-Id": body["requestId"]}

    @app.post("/events")
    def events():
        body = _body(("user", "item", "behavior"))
        if body["behavior"] not in BEHAVIOURS:
            raise BadRequest(f"behavior must be one of {', '.join(BEHAVIOURS)}", "behavior")
        return jsonify(runtime.event(_id(body["user"], "user"), _id(body["item"], "item"),
                                     body["behavior"])), 201

    @app.post("/feedback")
    def feedback():
        body = _body(("requestId", "item", "type"))
        if not isinstance(body["requestId"], str) or not REQUEST_ID.match(body["requestId"]):
            raise BadRequest("requestId must be the 32 hex digits a list was served with",
                             "requestId")
        if body["type"] not in FEEDBACK:
            raise BadRequest(f"type must be one of {', '.join(FEEDBACK)}", "type")
        return jsonify(runtime.feedback(body["requestId"], _id(body["item"], "item"),
                                        body["type"])), 201

    @app.get("/healthz")
    def healthz():
        challenger = runtime.challenger.version.describe() if runtime.challenger else None
        return jsonify({"status": "ok", "model": runtime.current.version.describe(),
                        "challenger": challenger, "runId": runtime.run_id,
                        "counts": runtime.snapshot()})

    @app.get("/readyz")
    def readyz():
        if runtime.draining or runtime.stopping.is_set():
            return _error(503, "Stopping", "the serving process is shutting down")
        return jsonify({"status": "ready", "model": runtime.current.version.describe()})

    @app.after_request
    def count_refusals(response):
        if 400 <= response.status_code < 500:
            runtime.count(rejected=1)
        return response

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest):
        return _error(400, "BadRequest", str(exc), exc.field)

    @app.errorhandler(NotFound)
    def not_found(exc: NotFound):
        return _error(404, "NotFound", str(exc), "requestId")

    @app.errorhandler(Unprocessable)
    def unprocessable(exc: Unprocessable):
        return _error(422, "Unprocessable", str(exc), exc.field)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # unknown path, wrong method, body too large
        return _error(exc.code or 500, type(exc).__name__, exc.description or exc.name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # a bug or a failed disk: not acknowledged, so not served
        app.logger.exception("request failed: %s %s", request.method, request.path)
        return _error(500, "InternalError", "the request failed on the server")

    return app
