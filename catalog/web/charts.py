"""Line charts the server draws as SVG: no script, the pages' CSP unchanged, a table beside each.

A chart is one or more series over the same x labels (versions, days, runs); each point is a
``<circle class="pt">`` with a ``<title>`` naming its value, so a pointer shows it and a test can
count them. Every value drawn is escaped (a series named by a producer is text, never markup).
The template puts :func:`table` (the same numbers) in a ``<details>`` under the chart: the
chart's text alternative, for screen readers and for copying.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 560, 190
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 34
MAX_X_LABELS = 8


@dataclass
class Series:
    """One line: a value (or None, a gap) per x label."""

    name: str
    values: list[float | None]


@dataclass
class Chart:
    """What a page draws: ``x`` labels, the series over them, and how values read."""

    title: str
    x: list[str]
    series: list[Series]
    fmt: Callable[[float], str] = lambda v: f"{v:,.4g}"
    y_min: float | None = None  # e.g. 0 for counts and rates
    y_max: float | None = None  # e.g. 1 for rates

    @property
    def points(self) -> int:
        return sum(v is not None for s in self.series for v in s.values)


def percent(v: float) -> str:
    return f"{100 * v:.1f}%"


def count(v: float) -> str:
    return f"{v:,.0f}"


def _bounds(chart: Chart) -> tuple[float, float]:
    values = [v for s in chart.series for v in s.values if v is not None]
    lo = chart.y_min if chart.y_min is not None else min(values)
    hi = chart.y_max if chart.y_max is not None else max(values)
    if chart.y_max is not None:
        hi = max(hi, max(values))
    if chart.y_min is not None:
        lo = min(lo, min(values))
    if hi == lo:
        lo, hi = lo - 1 if lo else 0.0, hi + 1 if hi else 1.0
    return lo, hi


def svg(chart: Chart, chart_id: str) -> Markup:
    """The chart as an inline ``<svg>`` (``role="img"``, titled); empty markup with no points."""
    if chart.points == 0:
        return Markup("")
    lo, hi = _bounds(chart)
    n = len(chart.x)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_at(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return TOP + plot_h * (1 - (v - lo) / (hi - lo))

    title_id = f"{chart_id}-title"
    parts = [f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-labelledby="{escape(title_id)}" '
             f'preserveAspectRatio="xMinYMin meet">',
             f'<title id="{escape(title_id)}">{escape(chart.title)}</title>']
    for v in (lo, (lo + hi) / 2, hi):  # grid and y labels
        y = y_at(v)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{escape(chart.fmt(v))}</text>')
    step = max(1, -(-n // MAX_X_LABELS))
    for i, label in enumerate(chart.x):
        if i % step == 0 or i == n - 1:
            parts.append(f'<text class="axis" x="{x_at(i):.1f}" y="{HEIGHT - 12}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    for k, s in enumerate(chart.series):
        runs: list[list[str]] = [[]]  # a gap (None) breaks the line
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{x_at(i):.1f},{y_at(v):.1f}")
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline class="line s{k}" points="{" ".join(run)}"/>')
        for i, v in enumerate(s.values):
            if v is not None:
                parts.append(
                    f'<circle class="pt s{k}" cx="{x_at(i):.1f}" cy="{y_at(v):.1f}" r="3.5" '
                    f'data-series="{escape(s.name)}" data-x="{escape(chart.x[i])}">'
                    f'<title>{escape(s.name)}, {escape(chart.x[i])}: {escape(chart.fmt(v))}'
                    f'</title></circle>')
    if len(chart.series) > 1:  # legend
        for k, s in enumerate(chart.series):
            x = LEFT + k * 150
            parts.append(f'<circle class="key s{k}" cx="{x + 4}" cy="{HEIGHT - 2}" r="3.5"/>'
                         f'<text class="axis legend-label" x="{x + 12}" y="{HEIGHT + 2}">'
                         f'{escape(s.name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def table(chart: Chart, x_header: str) -> Markup:
    """The chart's numbers as a table: one row per x label, one column per series."""
    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in chart.series)
    rows = []
    for i, label in enumerate(chart.x):
        cells = "".join(
            f'<td class="num">{escape(chart.fmt(s.values[i])) if s.values[i] is not None else ""}'
            f"</td>" for s in chart.series)
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    return Markup(f'<table class="chart-table"><caption class="visually-hidden">'
                  f'{escape(chart.title)}</caption><thead><tr><th scope="col">'
                  f'{escape(x_header)}</th>{head}</tr></thead><tbody>{"".join(rows)}'
                  f"</tbody></table>")


def chart_block(chart: Chart, chart_id: str, x_header: str) -> Markup:
    """The chart and, folded under it, its table: what a page includes."""
    if chart.points == 0:
        return Markup("")
    return Markup(f'<figure class="chart-box">{svg(chart, chart_id)}<figcaption>'
                  f'<details><summary>{escape(chart.title)}: table</summary>'
                  f'{table(chart, x_header)}</details></figcaption></figure>')


def series_of(rows: Sequence, key: Callable) -> list[float | None]:
    """``key(row)`` for each row, None where it has no number."""
    out = []
    for r in rows:
        v = key(r)
        out.append(float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)
    return out
