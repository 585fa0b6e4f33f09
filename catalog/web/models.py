"""Model pages: the registry's models, versions side by side, training data, scoring runs."""

from __future__ import annotations

from flask import render_template

from catalog.context import read_session
from catalog.read.model_view import model_view
from catalog.services import models as registry
from catalog.web import charts
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
        key = [k for k in KEY_METRICS if k in view.metric_keys]
        return render_template(
            "model.html", view=view, key_metrics=key,
            other_metrics=[k for k in view.metric_keys if k not in key],
            metrics_chart=metrics_chart(view), scoring_charts=scoring_charts(view))


# Shown first on the model page, the popularity baseline beside the model's own.
KEY_METRICS = ("test.hr@10", "popularity.test.hr@10", "test.ndcg@10", "popularity.test.ndcg@10")
# Drawn across versions.
CHARTED = ("test.ndcg@10", "test.hr@10", "valid.ndcg@10", "popularity.test.ndcg@10")


def metrics_chart(view) -> charts.Chart:
    """The charted metrics across versions, oldest first."""
    versions = view.model.versions
    return charts.Chart(
        "Metrics across versions", [f"v{v.version}" for v in versions],
        [charts.Series(k, charts.series_of(versions, lambda v, k=k: (v.metrics or {}).get(k)))
         for k in CHARTED if k in view.metric_keys], fmt=lambda x: f"{x:.4f}", y_min=0)


def scoring_charts(view) -> list[tuple[charts.Chart, str]]:
    """Users per second and wall time of the scoring runs, oldest first."""
    runs = [r for r, _ in reversed(view.scoring_runs)
            if isinstance((r.facets or {}).get("scoring"), dict)]
    x = [f"{(r.started_at or r.created_at):%m-%d %H:%M} "
         f"v{r.facets['scoring'].get('model_version', '?')}" for r in runs]
    speed = charts.Chart("Scoring runs: users per second", x, [charts.Series(
        "users/s", charts.series_of(runs, lambda r: r.facets["scoring"].get("users_per_second")))],
        fmt=lambda v: f"{v:,.0f}", y_min=0)
    wall = charts.Chart("Scoring runs: wall time (s)", x, [charts.Series(
        "seconds", charts.series_of(runs, lambda r: r.facets["scoring"].get("wall_seconds")))],
        fmt=lambda v: f"{v:,.1f}", y_min=0)
    return [(speed, "chart-scoring-speed"), (wall, "chart-scoring-wall")]
