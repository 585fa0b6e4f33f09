"""Helpers shared by the page blueprints: sessions, CSRF, entity URLs, formatting, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

from flask import Blueprint, abort, render_template, request
from werkzeug.exceptions import HTTPException

from catalog.auth.csrf import CSRF_FIELD, token_matches
from catalog.errors import BadRequest, CatalogError

# --- CSRF -----------------------------------------------------------------------------------------


def check_csrf() -> None:
    """Refuse (403) a form whose token is missing or not this session's."""
    if not token_matches(request.form.get(CSRF_FIELD, "")):
        abort(403, description="The form's CSRF token is missing or invalid (the page may be "
                               "stale or the session expired). Reload the page and try again.")


def may(permission: str) -> bool:
    """Whether the signed-in caller holds ``permission`` (pages hide what they cannot use)."""
    from flask import g

    from catalog.auth.policy import role_allows

    principal = g.get("principal")
    return principal is not None and role_allows(principal.role, permission)


# --- URLs -----------------------------------------------------------------------------------------


def _q(s: str) -> str:
    # Namespaces are URIs (s3://bucket, postgres://h:5432): keep their slashes and colons.
    return quote(s, safe="/:@")


def dataset_url(namespace: str, name: str) -> str:
    """Path of a dataset's page."""
    return f"/datasets/{_q(namespace)}/{_q(name)}"


def job_url(namespace: str, name: str) -> str:
    """Path of a job's page."""
    return f"/jobs/{_q(namespace)}/{_q(name)}"


def run_url(run_uuid: str) -> str:
    """Path of a run's page."""
    return f"/runs/{_q(run_uuid)}"


def model_url(name: str) -> str:
    """Path of a model's page."""
    return f"/models/{_q(name)}"


def node_url(node_type: str, namespace: str, name: str) -> str:
    """Page of a lineage node ("DATASET"/"d" or "JOB"/"j")."""
    return dataset_url(namespace, name) if node_type in ("DATASET", "d") else job_url(
        namespace, name)


def splits(rest: str) -> list[tuple[str, str]]:
    """Every (namespace, name) reading of ``ns/name`` in a path, shortest namespace first.

    Namespaces and names may both hold slashes; the caller keeps the first that exists.
    """
    if rest.count("/") > 32:
        raise BadRequest("path has too many slashes to name a dataset or job")
    return [(rest[:i], rest[i + 1:]) for i, c in enumerate(rest) if c == "/"
            and 0 < i < len(rest) - 1]


# --- arguments ------------------------------------------------------------------------------------


def int_param(name: str, default: int, minimum: int = 0, maximum: int = 10**9) -> int:
    """An integer query parameter within bounds, else a 400 page naming it."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name!r} must be a whole number, got {raw!r}", field=name) from None
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name!r} must be between {minimum} and {maximum}", field=name)
    return value


def time_param(name: str) -> datetime | None:
    """An ISO-8601 time (a datetime-local field's value too) in UTC, else a 400 page."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name!r} must be a date and time like 2026-01-31T12:00, got {raw!r}",
                         field=name) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- formatting -----------------------------------------------------------------------------------


def when(t: datetime | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC``, or an em dash."""
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "—"


def duration(start: datetime | None, end: datetime | None) -> str:
    """Elapsed time between two instants, humanly (``1 h 02 min``, ``3.2 s``)."""
    if not start or not end:
        return "—"
    s = (end - start).total_seconds()
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def pretty(value) -> str:
    """JSON for display (facets, details)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


# --- errors ---------------------------------------------------------------------------------------


def error_page(status: int, title: str, message: str):
    """An HTML error page with the given status."""
    return render_template("error.html", status=status, title=title, message=message), status


def page_blueprint(name: str, import_name: str, **kwargs) -> Blueprint:
    """A blueprint of pages whose errors render as HTML pages, not the API's JSON."""
    bp = Blueprint(name, import_name, **kwargs)
    bp.register_error_handler(
        CatalogError, lambda exc: error_page(exc.status, type(exc).__name__, exc.message))
    bp.register_error_handler(
        HTTPException, lambda exc: error_page(exc.code or 500, exc.name, exc.description or ""))
    return bp
