"""Helpers shared by the API blueprints: sessions, body parsing, pagination, time parameters."""

from __future__ import annotations

import gzip
import json
import zlib
from datetime import UTC, datetime

from flask import current_app, request

from catalog.db import session_scope
from catalog.errors import BadRequest, PayloadTooLarge


def state():
    """The app's :class:`catalog.app.CatalogState`."""
    return current_app.extensions["catalog"]


def db_session():
    """One write transaction for this request: commits on success, rolls back on error."""
    return session_scope(state().sessions)


def read_session():
    """One read-only transaction for this request (never waits for SQLite's write lock)."""
    return session_scope(state().read_sessions)


def json_body() -> object:
    """The request body as JSON, gunzipped when ``Content-Encoding: gzip``; 400 if malformed."""
    raw = request.get_data(cache=False)
    limit = state().settings.max_body_bytes
    encoding = (request.headers.get("Content-Encoding") or "").strip().lower()
    if encoding == "gzip":
        try:
            # Bounded decompression: a small gzip bomb must not exhaust memory.
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = d.decompress(raw, limit + 1)
            if len(raw) > limit or d.unconsumed_tail:
                raise PayloadTooLarge(f"decompressed body exceeds {limit} bytes")
            if not d.eof:
                raise BadRequest("truncated gzip body")
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise BadRequest(f"body is not valid gzip: {exc}") from None
    elif encoding not in ("", "identity"):
        raise BadRequest(f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    if not raw:
        raise BadRequest("request body is empty; expected JSON")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer query parameter within bounds, else 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer", field=name) from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise BadRequest(f"query parameter {name!r} must be {bound}", field=name)
    return value


def page_args(default_limit: int = 100) -> tuple[int, int]:
    """``limit`` and ``offset`` query parameters, capped by the configured page size."""
    cap = state().settings.max_page_size
    return int_arg("limit", default_limit, minimum=1, maximum=cap), int_arg("offset", 0)


def bool_arg(name: str, default: bool) -> bool:
    """A true/false query parameter, else 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"query parameter {name!r} must be true or false", field=name)


def time_arg(name: str) -> datetime | None:
    """An ISO-8601 time query parameter (UTC if no offset), else 400 naming it."""
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"query parameter {name!r} must be an ISO-8601 time, got {raw!r}", field=name
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def depth_arg(default: int = 10) -> int:
    """The ``depth`` of a lineage query, capped by the configured maximum."""
    return int_arg("depth", default, minimum=0, maximum=state().settings.max_lineage_depth)
