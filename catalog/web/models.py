"""Model pages: the registry's models, versions side by side, training data, scoring runs."""

from __future__ import annotations

from flask import render_template

from catalog.context import read_session
from catalog.read.model_view import model_view
from catalog.services import models as registry
from catalog.web.common import int_param, page_blueprint

bp = page_blueprint("web_models", __name__)

PER_PAGE = 50


@bp.get("/models")
def models():
    """Registered models by name."""
    page = int_param("page", 1, 1)
    with read_session() as session:
        rows, total = registry.list_models(session, PER_PAGE, (page - 1) * PER_PAGE)
        return render_template("models.html", models=rows, total=total, page=page,
                               pages=max(1, -(-total // PER_PAGE)))


@bp.get("/models/<name>")
def model(name: str):
    """One model: versions with metrics and aliases, training-data lineage, scoring runs."""
    with read_session() as session:
        view = model_view(session, registry.find_model(session, name))
        return render_template("model.html", view=view)
