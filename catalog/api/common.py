"""Helpers shared by the API blueprints: sessions, body parsing, pagination, time parameters."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

from flask import request

from catalog import jsoncodec
from catalog.context import state
from catalog.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType


def json_body() -> object:
    """The request body as JSON, gunzipped when ``Content-Encoding: gzip``; 400 if malformed.

    415 unless the body says it is JSON: a form or ``text/plain`` is what a cross-site page can
    send without the browser asking first, so JSON endpoints read nothing else.
    """
    mimetype = request.mimetype
    if mimetype != "application/json" and not (
            mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise UnsupportedMediaType(
            f"Content-Type must be application/json, got {mimetype or 'none'!r}",
            field="Content-Type")
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
    if jsoncodec.too_deep(raw):
        raise BadRequest(f"JSON nested deeper than {jsoncodec.MAX_DEPTH} levels")
    try:
        body = jsoncodec.loads_document(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than {jsoncodec.MAX_DEPTH} levels") from None
    if b"\\u0000" in raw and _has_nul(body):
        # PostgreSQL can store no NUL character in text or JSONB; refuse it on every backend.
        raise BadRequest("JSON strings must not contain the NUL character (\\u0000)")
    return body


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def reject_nul_in_url() -> None:
    """400 for a NUL character in the path or query string (PostgreSQL cannot compare it)."""
    if "\x00" in request.path:
        raise BadRequest("the URL path must not contain the NUL character (%00)")
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            raise BadRequest(f"query parameter {key.replace(chr(0), '')!r} must not contain the "
                             "NUL character (%00)", field=key.replace("\x00", ""))


# Largest integer a query parameter may hold: what both backends store in a 32-bit INTEGER.
# Without it an offset of 2**63 reached the database and failed there (500).
MAX_INT_ARG = 2**31 - 1


def int_arg(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer query parameter within bounds, else 400 naming it."""
    maximum = MAX_INT_ARG if maximum is None else min(maximum, MAX_INT_ARG)
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be an integer", field=name) from None
    if value < minimum or value > maximum:
        raise BadRequest(f"query parameter {name!r} must be between {minimum} and {maximum}",
                         field=name)
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
