"""Job and run pages: state, timings, inputs and outputs, facets, errors."""

from __future__ import annotations

from flask import render_template

from catalog.context import read_session
from catalog.errors import NotFound
from catalog.models import Job
from catalog.read import browse, job_view
from catalog.read.dataset_view import find_by_path
from catalog.web.common import int_param, page_blueprint, splits

bp = page_blueprint("web_jobs", __name__)

RUNS_PER_PAGE = 50


@bp.get("/jobs/<path:rest>")
def job(rest: str):
    """A job: what it is, what it reads and writes, and its runs (newest first)."""
    page = int_param("page", 1, 1)
    with read_session() as session:
        found = find_by_path(session, Job, splits(rest))
        if found is None:
            raise NotFound(f"no job {rest!r} in the catalog", field="job")
        ns, name = found.namespace.name, found.name
        runs, total = browse.list_runs(session, ns, name, RUNS_PER_PAGE,
                                       (page - 1) * RUNS_PER_PAGE)
        io = browse.run_io_map(session, runs[:1])
        pages = max(1, -(-total // RUNS_PER_PAGE))
        return render_template("job.html", job=found, runs=runs, total=total, page=page,
                               pages=pages, path=rest, latest_io=io.get(runs[0].id) if runs
                               else [], graph_node=f"job:{ns}:{name}",
                               depth=int_param("depth", 2, 1, 20))


@bp.get("/runs/<run_id>")
def run(run_id: str):
    """A run: state and its history, timings, dataset versions read and written, facets, and
    the facets its events carried that were not interpreted."""
    with read_session() as session:
        r, io = browse.get_run(session, run_id)
        return render_template(
            "run.html", run=r, io=io, history=job_view.state_history(session, r),
            children=job_view.child_runs(session, r), parent=job_view.parent_run(session, r),
            warnings=job_view.run_warnings(session, r),
        )
