"""HTML pages for data stewards and auditors: one blueprint module per page area.

Pages are server-rendered Jinja, their charts SVG drawn by the server (:mod:`catalog.web.charts`);
the only scripts are ``static/lineage.js`` (the lineage graph, laid out by dagre from npm, served
by :mod:`catalog.web.vendor`) and ``static/api-docs.js`` (starts Swagger UI on ``/api/docs``, see
:mod:`catalog.web.api_docs`).
Every view has a stable endpoint name (``web_<area>.<view>``) so an access policy can key on it;
reads are GET, edits are POST forms carrying a CSRF token bound to the Flask session.
"""

from __future__ import annotations

from flask import Flask

# Blueprint modules under catalog.web, in registration order.
_MODULES = ("home", "datasets", "jobs", "models", "pipelines", "lineage", "trace", "health",
            "audit", "api_docs", "vendor")



def register_web(app: Flask) -> None:
    """Attach the page blueprints, their HTML error pages and template helpers."""
    import importlib

    from catalog.auth import csrf
    from catalog.read.run_states import api_state
    from catalog.web import charts, common

    for name in _MODULES:
        module = importlib.import_module(f"catalog.web.{name}")
        app.register_blueprint(module.bp)
    app.jinja_env.globals.update(
        csrf_token=csrf.csrf_token, dataset_url=common.dataset_url, job_url=common.job_url,
        run_url=common.run_url, model_url=common.model_url, node_url=common.node_url,
    )
    # Pages name run states as the API does (Marquez's COMPLETED, not the stored COMPLETE).
    app.jinja_env.filters.update(when=common.when, pretty=common.pretty, run_state=api_state)
    app.jinja_env.globals["duration"] = common.duration
    app.jinja_env.globals["chart_block"] = charts.chart_block
    app.jinja_env.globals["may"] = common.may
    # Every HTML response gets the CSP and framing headers in catalog.auth (pages and login alike).

