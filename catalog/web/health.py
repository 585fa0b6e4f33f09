"""Data health overview for stewards."""

from __future__ import annotations

from flask import render_template

from catalog.context import read_session
from catalog.read.health import health as build_health
from catalog.web import charts
from catalog.web.common import int_param, page_blueprint

bp = page_blueprint("web_health", __name__)


@bp.get("/health")
def health():
    """Failing datasets, stale ones (past their freshness window), unused ones, coverage."""
    days = int_param("unused_days", 30, 1, 3650)
    with read_session() as session:
        h = build_health(session, days)
        return render_template("health.html", h=h, **_charts(h))


def _charts(h) -> dict:
    x = [d.day for d in h.days]
    checks = charts.Chart("Share of expectations passed, per day", x,
                          [charts.Series("passed", [d.pass_rate for d in h.days])],
                          fmt=charts.percent, y_min=0, y_max=1)
    runs = charts.Chart("Runs ended per day", x, [
        charts.Series("completed", [float(d.completed) for d in h.days]),
        charts.Series("failed", [float(d.failed) for d in h.days])], fmt=charts.count, y_min=0)
    return {"checks_chart": checks, "runs_chart": runs}
