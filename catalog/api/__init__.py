"""JSON API blueprints under /api/v1, and the error handlers that keep every error JSON."""

from __future__ import annotations

from flask import Flask, jsonify
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from catalog.api.common import reject_nul_in_url
from catalog.db import as_catalog_error
from catalog.errors import CatalogError, PayloadTooLarge


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
        ops,
        pipelines,
        search,
        sources,
        tags,
    )

    modules = (lineage, namespaces, datasets, jobs, search, models, openapi, graph, pipelines,
               audit, governance, tags, sources)
    for module in modules:
        app.register_blueprint(module.bp, url_prefix="/api/v1")
    # Probes live at the root, where load balancers and orchestrators look for them.
    app.register_blueprint(ops.bp)
    app.before_request(reject_nul_in_url)

    @app.errorhandler(CatalogError)
    def _catalog_error(exc: CatalogError):
        headers = {}
        if "retryAfter" in exc.details:  # 503s: tell clients (and proxies) when to come back
            headers["Retry-After"] = str(exc.details["retryAfter"])
        return jsonify(exc.to_dict()), exc.status, headers

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError):
        known = as_catalog_error(exc)
        if known is None:
            return _unexpected(exc)
        app.logger.warning("database error answered %d: %s", known.status, exc.orig)
        return _catalog_error(known)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = app.extensions["catalog"].settings.max_body_bytes
        return _catalog_error(PayloadTooLarge(
            f"request body exceeds the limit of {limit} bytes (CATALOG_MAX_BODY_BYTES); "
            "send smaller batches", limit=limit))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        body = {"error": exc.name.replace(" ", ""), "message": exc.description}
        return jsonify(body), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return jsonify({"error": "InternalServerError", "message": "internal error"}), 500
