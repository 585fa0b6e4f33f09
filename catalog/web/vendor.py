"""JavaScript libraries the pages load, from npm: ``/vendor/<name>``, by name, never by path.

Nothing of them is committed: ``make install`` installs what package.json and package-lock.json
pin into ``node_modules/`` (ignored by git), and this blueprint serves the files listed in
:data:`ASSETS` from there (``CATALOG_WEB_VENDOR_DIR`` for an installed package). A missing file
answers 503 naming it; the pages that use one (the lineage graph: dagre) fall back without it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from flask import Blueprint, current_app, request

from catalog.context import state
from catalog.errors import NotFound, Unavailable

bp = Blueprint("web_vendor", __name__)

# name -> (path under node_modules/, content type): nothing else of the folder is served.
ASSETS = {"dagre.min.js": ("@dagrejs/dagre/dist/dagre.min.js", "text/javascript")}


@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int) -> bytes:
    # Held in memory (keyed by modification time): a response never keeps a file open.
    return Path(path).read_bytes()


def send_asset(path: Path, mimetype: str, install_hint: str):
    """``path`` as a cacheable, conditional response; 503 naming it when it is not installed."""
    if not path.is_file():
        raise Unavailable(f"{path.name} is not installed (missing from {path.parent}): "
                          f"{install_hint}")
    response = current_app.response_class(_read(str(path), path.stat().st_mtime_ns),
                                          mimetype=mimetype)
    response.cache_control.public, response.cache_control.max_age = True, 3600
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/vendor/<name>")
def asset(name: str):
    """One library file, by its name in :data:`ASSETS`."""
    if name not in ASSETS:
        raise NotFound(f"no vendor asset {name!r}; there are {sorted(ASSETS)}", field="name")
    relative, mimetype = ASSETS[name]
    return send_asset(Path(state().settings.web_vendor_dir) / relative, mimetype,
                      "run `make install` (npm ci), or point CATALOG_WEB_VENDOR_DIR at "
                      "node_modules")
