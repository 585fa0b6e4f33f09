"""JSON API blueprints under /api/v1, and the error handlers that keep every error JSON."""

from __future__ import annotations

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from catalog.errors import CatalogError


def register_api(app: Flask) -> None:
    """Attach every API blueprint and the JSON error handlers."""
    from catalog.api import (
        audit,
        datasets,
        governance,
        graph,
        jobs,
        lineage,
        models,
        namespaces,
        openapi,
        pipelines,
        search,
    )

    modules = (lineage, namespaces, datasets, jobs, search, models, openapi, graph, pipelines,
               audit, governance)
    for module in modules:
        app.register_blueprint(module.bp, url_prefix="/api/v1")

    @app.errorhandler(CatalogError)
    def _catalog_error(exc: CatalogError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        body = {"error": exc.name.replace(" ", ""), "message": exc.description}
        return jsonify(body), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return jsonify({"error": "InternalServerError", "message": "internal error"}), 500
