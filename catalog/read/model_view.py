"""What a model's page shows: versions with metrics side by side, training data, scoring runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from catalog.models import MLModel, Run, RunIO
from catalog.read.quality_status import version_status


@dataclass
class ModelView:
    """A model, its metric columns, each version's training inputs and the scoring runs."""

    model: MLModel
    metric_keys: list[str]
    # version id -> [(RunIO of the training run's input, quality status of the version read)]
    training: dict[int, list[tuple[RunIO, str]]]
    aliases: dict[int, list[str]]
    scoring_runs: list[tuple[Run, list[RunIO]]]


_METRIC = re.compile(r"(?P<name>.*?)@(?P<k>\d+)")


def metric_order(key: str) -> tuple:
    """Sort key of a metric name: by text, but a cut-off ``@K`` by number (@5, @10, @20)."""
    m = _METRIC.fullmatch(key)
    return (m["name"], int(m["k"])) if m else (key, -1)


def model_view(session: Session, model: MLModel, scoring_limit: int = 50) -> ModelView:
    """Gather the model page's data."""
    keys = sorted({k for v in model.versions for k in (v.metrics or {})}, key=metric_order)
    run_ids = [v.run_id for v in model.versions if v.run_id is not None]
    inputs: dict[int, list[RunIO]] = {}
    if run_ids:
        for io in session.scalars(
            select(RunIO).where(RunIO.run_id.in_(run_ids), RunIO.direction == "input")
            .options(selectinload(RunIO.dataset_version)).order_by(RunIO.id)
        ):
            inputs.setdefault(io.run_id, []).append(io)
    statuses = version_status(session, [io.dataset_version_id for ios in inputs.values()
                                        for io in ios if io.dataset_version_id])
    training = {
        v.id: [(io, statuses.get(io.dataset_version_id, "unchecked"))
               for io in inputs.get(v.run_id, [])]
        for v in model.versions
    }
    aliases: dict[int, list[str]] = {}
    for a in model.aliases:
        aliases.setdefault(a.model_version_id, []).append(a.alias)
    scoring: list[tuple[Run, list[RunIO]]] = []
    if model.dataset_id is not None:
        runs = list(session.scalars(
            select(Run).join(RunIO, RunIO.run_id == Run.id)
            .where(RunIO.dataset_id == model.dataset_id, RunIO.direction == "input")
            .order_by(Run.created_at.desc()).limit(scoring_limit)
        ))
        outs: dict[int, list[RunIO]] = {r.id: [] for r in runs}
        if runs:
            for io in session.scalars(
                select(RunIO).where(RunIO.run_id.in_(list(outs)), RunIO.direction == "output")
                .options(selectinload(RunIO.dataset_version))
            ):
                outs[io.run_id].append(io)
        scoring = [(r, outs[r.id]) for r in runs]
    return ModelView(model, keys, training, aliases, scoring)
