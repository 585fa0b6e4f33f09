"""Interactive API documentation at ``/api/docs``: Swagger UI over ``/api/v1/openapi.json``.

Swagger UI is not part of this repository: ``make install`` (and ``make dev``) install npm's
``swagger-ui-dist`` (pinned in package.json and package-lock.json) into ``node_modules/``, and
this blueprint serves two of its files by name from there (``CATALOG_API_DOCS_DIR``). Until they
are installed the page answers 503 saying so. The page starts the UI from our own
``static/api-docs.js``, so it keeps the pages' Content-Security-Policy (no inline script).
Under /api/, its errors are the API's JSON (hence an endpoint name without the pages' ``web_``);
a browser without a login is sent to the login form, as on every page.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template

from catalog.context import state
from catalog.errors import NotFound, Unavailable
from catalog.web.vendor import send_asset

bp = Blueprint("api_docs", __name__)

# The files the page loads, and their content types: nothing else of the folder is served.
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}


def _folder() -> Path:
    folder = Path(state().settings.api_docs_dir)
    missing = [name for name in ASSETS if not (folder / name).is_file()]
    if missing:
        raise Unavailable(f"the API docs UI is not installed ({missing[0]} is missing from "
                          f"{folder}): run `make install`, which installs swagger-ui-dist with "
                          "npm, or point CATALOG_API_DOCS_DIR at its folder")
    return folder


@bp.get("/api/docs")
def page():
    """Swagger UI over the OpenAPI document (a login's cookie or a token reads it)."""
    _folder()
    return render_template("api_docs.html")


@bp.get("/api/docs/assets/<name>")
def asset(name: str):
    """One of Swagger UI's files, by its name in :data:`ASSETS` (never a path from the URL)."""
    if name not in ASSETS:
        raise NotFound(f"no API docs asset {name!r}; there are {sorted(ASSETS)}", field="name")
    return send_asset(_folder() / name, ASSETS[name], "run `make install`")
