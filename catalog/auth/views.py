"""Login and logout pages (the session cookie the other pages authenticate with)."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, request, session

from catalog.api.common import db_session
from catalog.errors import BadRequest
from catalog.services import auth as auth_svc

bp = Blueprint("auth", __name__, template_folder="templates")


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an absolute or scheme-relative URL would be an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Form login; JSON bodies get JSON back. Failed attempts are rate-limited per name and IP."""
    if request.method == "GET":
        return render_template("login.html", error=None, next=_safe_next(request.args.get("next")))
    as_json = request.is_json
    data = request.get_json(silent=True) if as_json else request.form
    if not hasattr(data, "get"):
        raise BadRequest('a login is {"name": ..., "password": ...}')
    name, password = str(data.get("name") or ""), str(data.get("password") or "")
    target = _safe_next(data.get("next") or request.args.get("next"))
    addr = request.remote_addr or "unknown"
    try:
        with db_session() as s:
            user = auth_svc.check_login(s, name, password, addr)
            principal = (user.id, user.name, user.role) if user else None
    except auth_svc.TooManyAttempts as exc:
        if as_json:
            raise
        return render_template("login.html", error=exc.message, next=target), 429
    if principal is None:
        message = "wrong user name or password"
        if as_json:
            raise auth_svc.LoginFailed(message)
        return render_template("login.html", error=message, next=target), 401
    session.clear()
    session["uid"] = principal[0]
    if as_json:
        return jsonify({"user": principal[1], "role": principal[2]})
    return redirect(target)


@bp.post("/logout")
def logout():
    """End the session."""
    session.clear()
    if request.is_json or request.path.startswith("/api/"):
        return jsonify({"loggedOut": True})
    return redirect("/login")
