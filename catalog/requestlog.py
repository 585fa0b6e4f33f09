"""Structured request logs: one JSON line per request on the ``catalog.requests`` logger.

Each line holds method, path, status, duration and a request id (the caller's ``X-Request-ID``
when it looks like one, else a new one; echoed in the response). The query string, headers and
bodies are never logged: they may carry tokens (``Authorization``, ``?token=``) or personal data.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, request

from catalog.environ import WARMUP_ENVIRON

log = logging.getLogger("catalog.requests")
# What we accept as a caller's request id: short and printable, so it cannot forge log lines.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id() -> str:
    given = request.headers.get("X-Request-ID", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def configure_logging() -> None:
    """Send request lines to stderr as bare JSON, once per process (gunicorn or dev server)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def install(app: Flask) -> None:
    """Time every request, give it an id, and log one JSON line when the response is ready."""

    @app.before_request
    def _start():
        g.request_started = time.perf_counter()
        g.request_id = _request_id()

    @app.after_request
    def _finish(response):
        started = g.get("request_started")
        request_id = g.get("request_id") or _request_id()
        response.headers["X-Request-ID"] = request_id
        if WARMUP_ENVIRON in request.environ:
            return response  # a worker warming itself up (catalog.warmup), not a caller
        log.info(json.dumps({
            "event": "request",
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "request_id": request_id,
            "remote_addr": request.remote_addr,
            "endpoint": request.endpoint,
        }, separators=(",", ":")))
        return response
