"""Dataset pages and stewards' edits of them.

``/datasets/<namespace>/<name>``: both parts may hold slashes (``s3://bucket`` / ``a/b``), so the
path after ``/datasets/`` is split at each slash in turn and the first existing dataset wins.
Edits post to ``/datasets/<namespace>/<name>/-/<form>``.
"""

from __future__ import annotations

from flask import g, redirect, render_template, request, url_for

from catalog.context import db_session, read_session
from catalog.errors import NotFound, ValidationFailed
from catalog.read.dataset_view import dataset_by_path, dataset_view, version_by_number
from catalog.read.schema_diff import diff_schemas
from catalog.services import classification, history, stewardship
from catalog.web import charts
from catalog.web.common import check_csrf, int_param, page_blueprint, splits, time_param

bp = page_blueprint("web_datasets", __name__)


def actor() -> str:
    """Who is editing: set by authentication when there is one."""
    return g.get("actor") or "anonymous"


def _render(session, ds, rest: str, *, errors=None, form=None, saved=None, status=200):
    view = dataset_view(session, ds)
    diff_from = int_param("from", 0, 0)
    diff_to = int_param("to", 0, 0)
    diff = None
    if diff_from and diff_to:
        a = version_by_number(session, ds, diff_from)
        b = version_by_number(session, ds, diff_to)
        diff = diff_schemas(a.schema_fields, b.schema_fields)
    owners_text = "\n".join(f"{o.type}:{o.name}" if o.type else o.name for o in ds.owners)
    html = render_template(
        "dataset.html", view=view, path=rest, diff=diff, diff_from=diff_from, diff_to=diff_to,
        errors=errors, form=form, saved=saved, owners_text=owners_text,
        tags_text=", ".join(t.name for t in ds.tags),
        graph_node=f"dataset:{ds.namespace.name}:{ds.name}",
        graph_fields=[f.name for f in ds.fields], depth=int_param("depth", 2, 1, 20),
        rows_chart=rows_chart(view), quality_chart=quality_chart(view),
        classes=classification.describe(session, ds.namespace.name, ds.name),
    )
    return html, status


@bp.get("/datasets/<path:rest>")
def dataset(rest: str):
    """A dataset: metadata, schema, versions and diffs, profile, quality, use, lineage."""
    with read_session() as session:
        ds = dataset_by_path(session, splits(rest), rest)
        at = time_param("as_of")
        if at is not None:
            past = history.dataset_as_of(session, ds.namespace.name, ds.name, at)
            classes = classification.describe(session, ds.namespace.name, ds.name, at)
            return render_template("dataset_as_of.html", past=past, at=at, path=rest,
                                   classes=classes, as_of_arg=request.args["as_of"])
        saved = {"dataset": "Saved.", "columns": "Column descriptions saved.",
                 "tags": "Sensitivity tags saved.",
                 "none": "Nothing changed."}.get(request.args.get("saved", ""))
        return _render(session, ds, rest, saved=saved)


@bp.post("/datasets/<path:rest>/-/edit")
def edit_dataset(rest: str):
    """Save the description, owners, tags and freshness window (form with CSRF token)."""
    check_csrf()
    with db_session() as session:
        ds = dataset_by_path(session, splits(rest), rest)
        try:
            edit = stewardship.parse_dataset_edit(request.form)
        except ValidationFailed as exc:
            return _render(session, ds, rest, errors=exc.details["errors"],
                           form=request.form.to_dict(), status=422)
        changed = stewardship.update_dataset(session, ds, edit, actor())
    return redirect(url_for("web_datasets.dataset", rest=rest,
                            saved="dataset" if changed else "none"), 303)


@bp.post("/datasets/<path:rest>/-/columns")
def edit_columns(rest: str):
    """Save column descriptions: one ``col:<name>`` field per column (form with CSRF token)."""
    check_csrf()
    texts = {k[4:]: v for k, v in request.form.items() if k.startswith("col:")}
    with db_session() as session:
        ds = dataset_by_path(session, splits(rest), rest)
        try:
            changed = stewardship.update_column_descriptions(session, ds, texts, actor())
        except ValidationFailed as exc:
            return _render(session, ds, rest, errors=exc.details["errors"],
                           form=request.form.to_dict(), status=422)
    return redirect(url_for("web_datasets.dataset", rest=rest,
                            saved="columns" if changed else "none") + "#schema-h", 303)


@bp.post("/datasets/<path:rest>/-/classify")
def classify_column(rest: str):
    """Apply (``action=apply``) or remove (``action=remove``) a sensitivity tag on a column.

    Accepting or rejecting a detector's suggestion is the same form with the suggested tag.
    """
    check_csrf()
    form = request.form
    field, tag = form.get("field", "").strip(), form.get("tag", "").strip()
    with db_session() as session:
        ds = dataset_by_path(session, splits(rest), rest)
        ns, name = ds.namespace.name, ds.name
        try:
            if form.get("action") == "remove":
                classification.declassify(session, ns, name, field, tag, actor=actor())
            elif form.get("action") == "apply":
                classification.classify(session, ns, name, field, tag, actor=actor(),
                                        reason=form.get("reason", "").strip() or None)
            else:
                raise ValidationFailed("action must be apply or remove", field="action")
        except (ValidationFailed, NotFound) as exc:
            key = exc.field if exc.field in ("field", "reason", "action") else "tag"
            session.rollback()
            return _render(session, ds, rest, errors={f"classify-{key}": exc.message},
                           form=form.to_dict(), status=422 if isinstance(
                               exc, ValidationFailed) else 404)
    return redirect(url_for("web_datasets.dataset", rest=rest, saved="tags") + "#sensitivity-h",
                    303)


def rows_chart(view) -> charts.Chart:
    """Row counts of the versions shown, oldest first."""
    versions = list(reversed(view.versions))
    return charts.Chart("Rows per version", [f"v{v.version}" for v in versions],
                        [charts.Series("rows", charts.series_of(versions, lambda v: v.row_count))],
                        fmt=charts.count, y_min=0)


def quality_chart(view) -> charts.Chart:
    """Share of the latest check's expectations that passed, per checked version, oldest first."""
    rows = [q for q in reversed(view.quality) if q.assertions]

    def passed(q) -> float:
        latest = [a for a in q.assertions if a.run_id == q.assertions[0].run_id]
        return sum(a.success for a in latest) / len(latest)

    return charts.Chart("Quality: share of expectations passed, per version",
                        [f"v{q.version.version}" for q in rows],
                        [charts.Series("passed", [passed(q) for q in rows])],
                        fmt=charts.percent, y_min=0, y_max=1)
