"""Authentication and authorization of every request, in one ``before_request`` hook.

A request is authenticated by a bearer token (``Authorization: Bearer <token>``, which
openlineage-python's ``api_key`` auth sends) or by the login session cookie, then authorized
against :mod:`catalog.auth.policy`. ``flask.g.actor`` names the caller for the audit trail
(a user name, or ``token:<name>``); ``flask.g.principal`` holds actor, role and kind.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from flask import Flask, current_app, g, redirect, request, session

from catalog.auth import csrf
from catalog.auth.policy import (
    LINEAGE_WRITE,
    PUBLIC,
    READ,
    required_permission,
    role_allows,
)
from catalog.auth.token_cache import TokenCache
from catalog.environ import WARMUP_ENVIRON
from catalog.errors import Forbidden, Unauthorized
from catalog.services import auth as auth_svc
from catalog.services.auth import Principal

ANONYMOUS = Principal("anonymous", "viewer", "anonymous")
# All a run-scoped worker token may do, whatever its role allows (see services.run_tokens).
SCOPED_PERMISSIONS = frozenset({LINEAGE_WRITE, READ})
# Where the app keeps its TokenCache (one per app, so apps on different databases never mix).
TOKEN_CACHE = "catalog_token_cache"


def _bearer() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        # Never echo the header back: it may hold a credential in another scheme.
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return value.strip()


def token_cache(app: Flask | None = None) -> TokenCache:
    """The app's cache of verified bearer tokens (see :mod:`catalog.auth.token_cache`)."""
    return (app or current_app).extensions[TOKEN_CACHE]


def _token_principal(token: str) -> Principal:
    """The principal of a bearer token: from this process's cache, else from the database."""
    from catalog.context import db_session, read_session

    cache = token_cache()
    digest = auth_svc.hash_token(token)
    hit, principal = cache.get(digest)
    if hit and principal is not None:
        return principal
    if not hit:
        with read_session() as s:
            found = auth_svc.verify_token(s, token)
        if found is not None and found.orphaned:
            _end_orphaned(found)
        if found is not None:
            if found.stale:
                with db_session() as s:
                    auth_svc.touch_token(s, found.token_id)
            cache.put(digest, found.principal, found.expires_at)
            return found.principal
    raise Unauthorized("the token is unknown, expired or revoked")


def _end_orphaned(found: auth_svc.VerifiedToken):
    """A worker token whose starter is gone: its run fails now, and the token is refused."""
    from catalog.context import db_session
    from catalog.services import run_tokens

    scope = found.principal.scope
    if scope is not None:
        with db_session() as s:
            row = s.get(auth_svc.ApiToken, found.token_id)
            run_tokens.fail_orphaned_run(s, scope, row.on_behalf_of if row else "?")
    raise Unauthorized("the token was refused: the principal that started its run was revoked "
                       "or disabled")


def authenticate() -> Principal | None:
    """The caller, from a bearer token or the session cookie; None without credentials."""
    from catalog.context import read_session

    internal = request.environ.get(WARMUP_ENVIRON)
    if isinstance(internal, Principal):
        return internal  # set only by in-process callers (catalog.warmup), never from HTTP
    token = _bearer()
    if token is not None:
        return _token_principal(token)
    uid, version = session.get("uid"), session.get("sv")
    if isinstance(uid, int):
        with read_session() as s:
            principal = (auth_svc.user_principal(s, uid, version)
                         if isinstance(version, int) else None)
        if principal is None:
            session.clear()
        return principal
    return None


# Pages under /api/ (the API's own docs): a browser is sent to the login form, not answered 401.
API_PAGES = frozenset({"api_docs.page"})


def _wants_page() -> bool:
    return (request.method == "GET"
            and (not request.path.startswith("/api/") or request.endpoint in API_PAGES)
            and request.accept_mimetypes.accept_html)


def authorize_request():
    """The hook: authenticate, then check the endpoint's permission (default deny)."""
    from catalog.context import state

    permission = required_permission(request.endpoint, request.method)
    if request.endpoint is None:
        return None  # no such route: let routing answer 404/405
    if permission == PUBLIC:
        g.principal, g.actor = None, "anonymous"
        return None
    principal = authenticate()
    if principal is None:
        if not state().settings.anonymous_read:
            if _wants_page():
                return redirect(f"/login?next={quote(request.full_path.rstrip('?'))}")
            raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' "
                               "or log in at /login")
        principal = ANONYMOUS
    g.principal, g.actor = principal, principal.actor
    if (principal.kind == "user" and request.method not in ("GET", "HEAD", "OPTIONS")
            and request.path.startswith("/api/")):
        csrf.check_api_write()  # the cookie alone does not make an API write
    if principal.scope is not None and permission not in SCOPED_PERMISSIONS:
        raise Forbidden(f"a run-scoped worker token may only read and report its run, not use "
                        f"{request.endpoint}", permission=permission, role=principal.role)
    if principal is ANONYMOUS and not role_allows(principal.role, permission):
        # Anonymous reading is a demo convenience; anything more asks for credentials.
        raise Unauthorized("authentication required for this request: send 'Authorization: "
                           "Bearer <token>' or log in at /login")
    if not role_allows(principal.role, permission):
        if permission is None:
            raise Forbidden(f"{request.endpoint} is not in the policy table; only admin may use "
                            "it", permission=None, role=principal.role)
        raise Forbidden(f"role {principal.role} lacks permission {permission}",
                        permission=permission, role=principal.role)
    return None


# Scripts and styles come from our own static files only: user text can never become code.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _security_headers(response):
    # JSON must never be sniffed into HTML: reflected payloads stay inert.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":  # every page, the login page and error pages included
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
    if response.status_code == 401 and request.path.startswith("/api/"):
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="catalog"')
    return response


def register_auth(app: Flask) -> None:
    """Install the hook, the login pages and the session cookie's settings."""
    from catalog.auth.views import bp

    settings = app.extensions["catalog"].settings
    app.secret_key = settings.secret_key or secrets.token_hex(32)
    app.extensions[TOKEN_CACHE] = TokenCache(settings.token_cache_seconds)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=settings.secure_cookies)
    if settings.trusted_hosts:
        # Werkzeug refuses (400) a Host header outside the list before any view runs.
        app.config["TRUSTED_HOSTS"] = list(settings.trusted_hosts)
    app.register_blueprint(bp)
    app.before_request(authorize_request)
    app.after_request(_security_headers)
