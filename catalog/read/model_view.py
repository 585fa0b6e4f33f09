"""What a model's page shows: versions with metrics side by side, training data, scoring runs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from catalog.models import MLModel, ModelVersion, Run, RunIO
from catalog.read.quality_status import version_status


@dataclass
class Comparison:
    """One measure of a derived version beside its source's (as its producer reported them)."""

    label: str
    source: float
    derived: float
    absolute: float  # derived - source
    relative: float | None  # absolute / source; None when the source is 0


@dataclass
class Derivation:
    """A version made from another without training: how, and how it compares with its source."""

    version: ModelVersion
    source: ModelVersion
    method: str
    details: dict  # the producer's other scalar facts (amount, sparsity, users timed, ...)
    comparisons: list[Comparison]


@dataclass
class ModelView:
    """A model, its metric columns, each version's training inputs and the scoring runs."""

    model: MLModel
    metric_keys: list[str]
    # version id -> [(RunIO of the training run's input, quality status of the version read)]
    training: dict[int, list[tuple[RunIO, str]]]
    aliases: dict[int, list[str]]
    scoring_runs: list[tuple[Run, list[RunIO]]]
    derivations: list[Derivation]  # newest first
    trained: dict[int, ModelVersion]  # version id -> the trained version it derives from (or it)


_METRIC = re.compile(r"(?P<name>.*?)@(?P<k>\d+)")


def metric_order(key: str) -> tuple:
    """Sort key of a metric name: by text, but a cut-off ``@K`` by number (@5, @10, @20)."""
    m = _METRIC.fullmatch(key)
    return (m["name"], int(m["k"])) if m else (key, -1)


def model_view(session: Session, model: MLModel, scoring_limit: int = 50) -> ModelView:
    """Gather the model page's data."""
    keys = sorted({k for v in model.versions for k in (v.metrics or {})}, key=metric_order)
    run_ids = [v.run_id for v in model.versions if v.run_id is not None]
    trained = trained_versions(model.versions)
    inputs: dict[int, list[RunIO]] = {}
    if run_ids:
        for io in session.scalars(
            select(RunIO).where(RunIO.run_id.in_(run_ids), RunIO.direction == "input")
            .options(selectinload(RunIO.dataset_version)).order_by(RunIO.id)
        ):
            inputs.setdefault(io.run_id, []).append(io)
    statuses = version_status(session, [io.dataset_version_id for ios in inputs.values()
                                        for io in ios if io.dataset_version_id])
    # A derived version learned nothing itself: it shows what its trained ancestor learned from.
    training = {
        v.id: [(io, statuses.get(io.dataset_version_id, "unchecked"))
               for io in inputs.get(trained[v.id].run_id, [])]
        for v in model.versions
    }
    aliases: dict[int, list[str]] = {}
    for a in model.aliases:
        aliases.setdefault(a.model_version_id, []).append(a.alias)
    scoring: list[tuple[Run, list[RunIO]]] = []
    if model.dataset_id is not None:
        # Runs that read the model, less those that made a version of it (compressing ones).
        runs = list(session.scalars(
            select(Run).join(RunIO, RunIO.run_id == Run.id)
            .where(RunIO.dataset_id == model.dataset_id, RunIO.direction == "input",
                   Run.id.not_in(run_ids))
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
    derivations = [derivation(v) for v in reversed(model.versions) if v.derivation is not None]
    return ModelView(model, keys, training, aliases, scoring, derivations, trained)


def trained_versions(versions: list[ModelVersion], depth: int = 20) -> dict[int, ModelVersion]:
    """Version id -> the trained version it derives from (itself when trained), ``depth`` up."""
    by_id = {v.id: v for v in versions}
    out = {}
    for v in versions:
        root = v
        for _ in range(depth):
            if root.derivation is None or root.derivation.source_version_id not in by_id:
                break
            root = by_id[root.derivation.source_version_id]
        out[v.id] = root
    return out


def derivation(version: ModelVersion) -> Derivation:
    """What a derived version's record says, sorted into scalar facts and source/derived pairs.

    A pair is any ``{"source": x, "derived": y}`` object of numbers in its details, at their top
    level (``fileBytes``) or one level down (``validation`` -> ``ndcg@10``).
    """
    details, comparisons = {}, []
    for key, value in version.derivation.details.items():
        if _pair(value):
            comparisons.append(_comparison(key, value))
        elif isinstance(value, dict) and value and all(_pair(v) for v in value.values()):
            comparisons += [_comparison(f"{key} {k}", value[k])
                            for k in sorted(value, key=metric_order)]
        elif isinstance(value, dict):
            details.update({f"{key} {k}": v for k, v in value.items() if not isinstance(v, dict)})
        else:
            details[key] = value
    return Derivation(version, version.derived_from, version.derivation.method, details,
                      comparisons)


def _number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _pair(value) -> bool:
    return isinstance(value, dict) and _number(value.get("source")) and _number(
        value.get("derived"))


def _comparison(label: str, pair: dict) -> Comparison:
    old, new = pair["source"], pair["derived"]
    return Comparison(label, old, new, new - old, (new - old) / old if old else None)
