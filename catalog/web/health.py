"""Data health overview for stewards."""

from __future__ import annotations

from flask import render_template

from catalog.context import read_session
from catalog.read.health import health as build_health
from catalog.web.common import int_param, page_blueprint

bp = page_blueprint("web_health", __name__)


@bp.get("/health")
def health():
    """Failing datasets, stale ones (past their freshness window), unused ones, coverage."""
    days = int_param("unused_days", 30, 1, 3650)
    with read_session() as session:
        return render_template("health.html", h=build_health(session, days))
