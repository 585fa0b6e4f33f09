"""Auditor's trace pages and their JSON and CSV exports."""

from __future__ import annotations

import json
import re

from flask import Response, render_template, request

from catalog.context import read_session
from catalog.errors import BadRequest, NotFound
from catalog.jsoncodec import iso
from catalog.read import trace as svc
from catalog.read.dataset_view import dataset_by_path
from catalog.services import models as registry
from catalog.web.common import int_param, page_blueprint, splits, time_param

bp = page_blueprint("web_trace", __name__)

FORMATS = ("html", "json", "csv")


def _respond(t: svc.Trace, title: str, filename: str, **context):
    fmt = request.args.get("format", "html")
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of {list(FORMATS)}", field="format")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", filename)[:100]
    if fmt == "json":
        body = json.dumps(svc.trace_json(t, iso), indent=2)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": f'attachment; filename="{safe}.json"'})
    if fmt == "csv":
        return Response(svc.trace_csv(t, iso), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{safe}.csv"'})
    return render_template("trace.html", t=t, title=title, args=request.args.to_dict(),
                           **context)


def _options():
    return int_param("depth", 20, 1, 50), time_param("as_of")


@bp.get("/trace/datasets/<path:rest>")
def dataset_trace(rest: str):
    """Trace a dataset version (``version``, else the newest by ``as_of``) to raw sources."""
    depth, as_of = _options()
    number = int_param("version", 0, 0) or None
    with read_session() as session:
        ds = dataset_by_path(session, splits(rest), rest)
        start = svc.start_version(session, ds, number, as_of)
        t = svc.trace(session, start, depth, as_of)
        return _respond(t, f"{ds.namespace.name}/{ds.name} v{start.version}",
                        f"trace-{ds.name}-v{start.version}", dataset=ds, model=None)


@bp.get("/trace/models/<name>/<int:version>")
def model_trace(name: str, version: int):
    """Trace a model version's artifact back through its training data to raw sources."""
    depth, as_of = _options()
    with read_session() as session:
        mv = registry.resolve_version(session, name, str(version))
        if mv.dataset_version is None:
            raise NotFound(f"model {name} v{version} has no artifact version to trace",
                           field="version")
        t = svc.trace(session, mv.dataset_version, depth, as_of)
        return _respond(t, f"model {name} v{version}", f"trace-{name}-v{version}",
                        dataset=mv.dataset_version.dataset, model=mv)
