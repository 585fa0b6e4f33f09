"""Home and search pages; this blueprint also serves the pages' static files."""

from __future__ import annotations

from flask import render_template, request

from catalog.context import read_session
from catalog.read.fulltext import FACETS, search_catalog
from catalog.read.health import overview
from catalog.web.common import int_param, page_blueprint

bp = page_blueprint("web_home", __name__, static_folder="static", static_url_path="/assets",
               template_folder="templates")

PER_PAGE = 20


@bp.get("/")
def home():
    """Counts, recently written datasets and failed runs, and a search box."""
    with read_session() as session:
        return render_template("home.html", o=overview(session))


@bp.get("/search")
def search():
    """Full-text search with facets (kind, namespace, quality, tag, owner) and pages."""
    q = request.args.get("q", "")
    filters = {f: request.args.get(f, "") for f in FACETS if request.args.get(f)}
    page = int_param("page", 1, 1, 10_000)
    with read_session() as session:
        result = search_catalog(session, q, filters, limit=PER_PAGE,
                                offset=(page - 1) * PER_PAGE)
    args = {"q": q, **filters}
    pages = max(1, -(-result.total // PER_PAGE))
    without = {f: {k: v for k, v in args.items() if k != f} for f in FACETS}
    return render_template("search.html", q=q, filters=filters, result=result, page=page,
                           pages=pages, args=args, facet_names=FACETS, without=without)
