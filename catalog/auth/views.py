"""Login and logout pages (the session cookie the other pages authenticate with)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, jsonify, redirect, render_template, request, session

from catalog.auth.csrf import CSRF_FIELD, csrf_token, token_matches
from catalog.context import db_session
from catalog.errors import BadRequest, LoginFailed, TooManyAttempts, UnsupportedMediaType
from catalog.services import auth as auth_svc

bp = Blueprint("auth", __name__, template_folder="templates")
# The login page is not in a page blueprint: give its template the CSRF helper here.
bp.add_app_template_global(csrf_token, "csrf_token")


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/``.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so ``/\\t/evil``
    would leave the site: any control character, backslash or whitespace refuses the target,
    as does anything with a scheme or a host.
    """
    if not target or len(target) > 2048 or not target.startswith("/"):
        return "/"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in target) or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target


def _form_or_json() -> tuple[bool, object]:
    """(is JSON, the fields): a form must carry the session's CSRF token; JSON must say it is
    JSON (a cross-site page cannot send that without the browser asking first)."""
    if request.mimetype == "application/json":
        return True, request.get_json(silent=True)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if not token_matches(request.form.get(CSRF_FIELD)):
            abort(403, description="The form's CSRF token is missing or invalid. Reload the "
                                   "page and try again.")
        return False, request.form
    raise UnsupportedMediaType("send a form (from the login page) or application/json")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Form login; JSON bodies get JSON back. Failed attempts are rate-limited per name and IP."""
    if request.method == "GET":
        return render_template("login.html", error=None, next=safe_next(request.args.get("next")))
    as_json, data = _form_or_json()
    if not hasattr(data, "get"):
        raise BadRequest('a login is {"name": ..., "password": ...}')
    name, password = str(data.get("name") or ""), str(data.get("password") or "")
    target = safe_next(data.get("next") or request.args.get("next"))
    addr = request.remote_addr or "unknown"
    try:
        with db_session() as s:
            user = auth_svc.check_login(s, name, password, addr)
            principal = (user.id, user.name, user.role, user.session_version) if user else None
    except TooManyAttempts as exc:
        if as_json:
            raise
        return render_template("login.html", error=exc.message, next=target), 429
    if principal is None:
        message = "wrong user name or password"
        if as_json:
            raise LoginFailed(message)
        return render_template("login.html", error=message, next=target), 401
    session.clear()  # a new session (and CSRF token) at login: no fixation
    session["uid"], session["sv"] = principal[0], principal[3]
    if as_json:
        # A script that goes on with the cookie sends this back as X-CSRF-Token on writes.
        return jsonify({"user": principal[1], "role": principal[2], "csrfToken": csrf_token()})
    return redirect(target)


@bp.post("/logout")
def logout():
    """End the session here and on the server: every cookie issued to the user stops working."""
    as_json, _ = _form_or_json()
    uid = session.get("uid")
    if isinstance(uid, int):
        with db_session() as s:
            auth_svc.end_sessions(s, uid)
    session.clear()
    if as_json:
        return jsonify({"loggedOut": True})
    return redirect("/login")
