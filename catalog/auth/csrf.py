"""Cross-site request forgery: tokens for forms and for cookie-authenticated API writes.

A browser sends the session cookie with any request to the catalog, whoever's page makes it.
Forms (login, logout, steward edits) therefore carry a token bound to the session. A write under
``/api/`` authenticated by the cookie needs the same token in the ``X-CSRF-Token`` header, which
a cross-site page can neither read nor set, and its ``Origin`` (or ``Sec-Fetch-Site``) must be
this site. Bearer-token clients send no cookie and need neither.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session

from catalog.errors import Forbidden

# Form field, request header and session key of the token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_KEY = "csrf"


def csrf_token() -> str:
    """This browser session's CSRF token, created on first use (templates call it in forms)."""
    token = session.get(_CSRF_KEY)
    if not token:
        token = session[_CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def token_matches(sent: str | None) -> bool:
    """Whether ``sent`` is this session's token (constant-time)."""
    expected = session.get(_CSRF_KEY, "")
    return bool(sent) and bool(expected) and hmac.compare_digest(str(sent), str(expected))


def _same_origin() -> str | None:
    """Why the request is not from this site's own pages, or None when it is (or cannot tell)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site!r}"
    origin = request.headers.get("Origin")
    if origin is not None:
        own = urlsplit(request.host_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (own.scheme, own.netloc):
            return f"Origin {origin!r} is not this site"
    return None


def check_api_write() -> None:
    """Refuse (403) a cookie-authenticated API write without this session's token in the header,
    or sent from another origin."""
    foreign = _same_origin()
    if foreign is not None:
        raise Forbidden(f"cross-site write refused: {foreign}", field=CSRF_HEADER)
    if not token_matches(request.headers.get(CSRF_HEADER)):
        raise Forbidden(f"a write authenticated by the session cookie needs the {CSRF_HEADER} "
                        "header holding the session's CSRF token (from any page's "
                        "<meta name=\"csrf-token\">); scripts and pipelines should send "
                        "'Authorization: Bearer <token>' instead", field=CSRF_HEADER)
