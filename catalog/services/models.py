"""Model registry: models, versions tied to training runs and artifact datasets, and aliases."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from catalog.errors import NotFound, PromotionRefused, ValidationFailed
from catalog.ingest import datasets as dsvc
from catalog.ingest import versions
from catalog.ingest.writes import get_or_create_dataset, insert_ignore
from catalog.lineage_queries import version_ancestry
from catalog.models import (
    DatasetVersion,
    MLModel,
    ModelAlias,
    ModelDerivation,
    ModelVersion,
    QualityAssertion,
    Run,
    RunIO,
)
from catalog.models.base import utcnow
from catalog.services.audit import record_change
from catalog.services.exemptions import sensitive_input_problems
from catalog.services.registration import link_output

# Namespace of the datasets (kind "model") that stand for model artifacts in lineage.
MODEL_NAMESPACE = "models"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")
_ALIAS = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_VERSION_KEYS = {"runId", "artifactPath", "sha256", "codeVersion", "hyperparameters", "metrics",
                 "description", "namespace", "derivedFrom"}
_METHOD = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")


def _check(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise ValidationFailed(message, field=field)


def get_or_create_model(session: Session, name: str, description: str | None = None, *,
                        actor: str) -> MLModel:
    """The model called ``name``, created (with its artifact dataset) if new; audited."""
    _check(bool(_NAME.match(name)), "name",
           "model names are 1-256 letters, digits, '_', '.', '-', starting alphanumeric")
    _check(description is None or isinstance(description, str), "description",
           "description must be a string")
    model = session.scalar(select(MLModel).where(MLModel.name == name))
    before = {"description": model.description} if model is not None else None
    if model is None:
        insert_ignore(session, MLModel, {"name": name, "description": description}, ["name"])
        model = session.scalar(select(MLModel).where(MLModel.name == name))
    if description:
        model.description = description
    after = {"description": model.description}
    if after != before:
        session.flush()
        record_change(session, actor=actor, action="model.update" if before else "model.create",
                      entity_type="model", entity_key=name, before=before, after=after)
    return model


def find_model(session: Session, name: str) -> MLModel:
    """The model called ``name`` or :class:`NotFound`."""
    model = session.scalar(
        select(MLModel).where(MLModel.name == name)
        .options(selectinload(MLModel.versions).selectinload(ModelVersion.derivation),
                 selectinload(MLModel.aliases))
    )
    if model is None:
        raise NotFound(f"model {name!r} not found", field="model")
    return model


def list_models(session: Session, limit: int, offset: int) -> tuple[list[MLModel], int]:
    """Models by name and the total count."""
    rows = session.scalars(
        select(MLModel).options(
            selectinload(MLModel.versions).selectinload(ModelVersion.derivation),
            selectinload(MLModel.aliases))
        .order_by(MLModel.name).limit(limit).offset(offset)
    ).all()
    return list(rows), session.scalar(select(func.count()).select_from(MLModel))


def create_version(session: Session, name: str, body: object, *, actor: str) -> ModelVersion:
    """Register a trained version; with ``runId`` its training inputs become its lineage."""
    _check(isinstance(body, dict), "", "body must be a JSON object")
    unknown = sorted(set(body) - _VERSION_KEYS)
    _check(not unknown, unknown[0] if unknown else "", f"unknown keys: {unknown}")
    for key in ("hyperparameters", "metrics"):
        _check(isinstance(body.get(key, {}), dict), key, f"{key} must be an object")
    for key, value in body.get("metrics", {}).items():
        _check(isinstance(value, int | float) and not isinstance(value, bool),
               f"metrics.{key}", "metrics must be numbers")
    for key in ("artifactPath", "codeVersion", "description", "namespace"):
        _check(body.get(key) is None or isinstance(body[key], str), key, f"{key} must be a string")
    sha = body.get("sha256")
    _check(sha is None or (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)),
           "sha256", "sha256 must be 64 lowercase hex digits")
    run = None
    if body.get("runId") is not None:
        run = session.scalar(select(Run).where(Run.uuid == str(body["runId"])))
        if run is None:
            raise NotFound(f"run {body['runId']} not found", field="runId")
    model = get_or_create_model(session, name, actor=actor)
    source, method, details = _derivation(session, model, body.get("derivedFrom"), run)
    namespace = body.get("namespace") or MODEL_NAMESPACE
    ds = get_or_create_dataset(session, namespace, name)
    ds.kind = "model"
    model.dataset_id = ds.id
    # Serialise version numbering per model.
    session.execute(select(MLModel.id).where(MLModel.id == model.id).with_for_update())
    number = (session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)) or 0) + 1
    now = utcnow()
    facets = {"version": {"_producer": "registry", "_schemaURL": "registry",
                          "datasetVersion": sha}} if sha else {}
    key = run.uuid if run is not None else f"registered-{number}"
    dv = versions.create_version(
        session, ds, uuid_str=dsvc.version_uuid(namespace, name, "run", key),
        facets=facets, run_id=run.id if run else None, created_at=now,
    )
    if run is not None:
        link_output(session, run, ds.id, dv.id, now)
    version = ModelVersion(
        model_id=model.id, version=number, run_id=run.id if run else None,
        dataset_version_id=dv.id, artifact_path=body.get("artifactPath"), sha256=sha,
        code_version=body.get("codeVersion"), hyperparameters=body.get("hyperparameters", {}),
        metrics=body.get("metrics", {}), description=body.get("description"), created_at=now,
    )
    session.add(version)
    session.flush()
    if source is not None:
        session.add(ModelDerivation(model_version_id=version.id, source_version_id=source.id,
                                    method=method, details=details))
        session.flush()
    after = {"version": number, "runId": run.uuid if run else None, "sha256": sha,
             "artifactPath": version.artifact_path, "metrics": version.metrics}
    if source is not None:
        after["derivedFrom"] = {"version": source.version, "method": method}
    record_change(session, actor=actor, action="model_version.create", entity_type="model",
                  entity_key=name, after=after)
    return version


def _derivation(session: Session, model: MLModel, spec: object,
                run: Run | None) -> tuple[ModelVersion | None, str | None, dict | None]:
    """(source version, method, details) from a body's ``derivedFrom``, checked; Nones if absent.

    ``derivedFrom`` is ``{"version": N, "method": "int8", ...}``: N a version of the same model,
    the method a short lowercase name, any further keys what the producer measured (kept as
    sent). The version's run must have read N's artifact: derivation is lineage too.
    """
    if spec is None:
        return None, None, None
    _check(isinstance(spec, dict), "derivedFrom", "derivedFrom must be an object")
    number, method = spec.get("version"), spec.get("method")
    _check(isinstance(number, int) and not isinstance(number, bool), "derivedFrom.version",
           "derivedFrom.version must be the number of the source version")
    _check(isinstance(method, str) and bool(_METHOD.match(method)), "derivedFrom.method",
           "derivedFrom.method must be a short lowercase name (e.g. int8, prune)")
    source = session.scalar(select(ModelVersion).where(
        ModelVersion.model_id == model.id, ModelVersion.version == number))
    _check(source is not None, "derivedFrom.version",
           f"model {model.name!r} has no version {number} to derive from")
    _check(run is not None, "runId",
           "a derived version needs the runId of the run that read its source")
    read = session.scalar(select(RunIO.id).where(
        RunIO.run_id == run.id, RunIO.direction == "input",
        RunIO.dataset_version_id == source.dataset_version_id))
    _check(read is not None and source.dataset_version_id is not None, "derivedFrom.version",
           f"run {run.uuid} did not read version {number}'s artifact "
           f"(sha256 {source.sha256 or 'unknown'})")
    return source, method, {k: v for k, v in spec.items() if k not in ("version", "method")}


def resolve_version(session: Session, name: str, ref: str) -> ModelVersion:
    """A version by number, by alias, or "latest"; else :class:`NotFound`."""
    model = find_model(session, name)
    if ref == "latest":
        if not model.versions:
            raise NotFound(f"model {name!r} has no versions", field="version")
        return model.versions[-1]
    if ref.isdigit():
        for v in model.versions:
            if v.version == int(ref):
                return v
        raise NotFound(f"model {name!r} has no version {ref}", field="version")
    for a in model.aliases:
        if a.alias == ref:
            return a.model_version
    raise NotFound(f"model {name!r} has no alias {ref!r}", field="alias")


# Aliases whose holders serve users: promotion to them is gated.
GATED_ALIASES = ("production",)
# How many runs back a gate looks for failed checks on the data a model learned from.
ANCESTRY_DEPTH = 20
# A derived (e.g. compressed) version may lose at most this fraction of its source's value of
# this validation metric, relatively; unlike the tolerance against production, not adjustable.
DERIVED_METRIC = "valid.ndcg@10"
DERIVED_TOLERANCE = 0.02


def _latest_failures(session: Session, version_ids: list[int]) -> dict[int, list[QualityAssertion]]:
    """Failed critical assertions per version, from the latest run that checked each version."""
    rows = session.scalars(
        select(QualityAssertion).where(QualityAssertion.dataset_version_id.in_(version_ids))
        .order_by(QualityAssertion.dataset_version_id, QualityAssertion.created_at,
                  QualityAssertion.id)
    ).all()
    latest_run: dict[int, int | None] = {}
    for a in rows:  # ordered by time: the last run seen per version is its latest check
        latest_run[a.dataset_version_id] = a.run_id
    failures: dict[int, list[QualityAssertion]] = {}
    for a in rows:
        stale = a.run_id != latest_run[a.dataset_version_id]
        if not stale and not a.success and (a.severity or "critical") == "critical":
            failures.setdefault(a.dataset_version_id, []).append(a)
    return failures


def promotion_problems(
    session: Session, target: ModelVersion, current: ModelVersion | None, tolerance: float
) -> list[str]:
    """Why ``target`` may not replace ``current`` in a gated alias (empty: it may)."""
    problems = []
    if target.dataset_version_id is not None:
        ancestry = version_ancestry(session, [target.dataset_version_id], ANCESTRY_DEPTH)
        failures = _latest_failures(session, list(ancestry))
        versions = {v.id: v for v in session.scalars(
            select(DatasetVersion).where(DatasetVersion.id.in_(list(failures))))}
        for vid in sorted(failures, key=lambda v: (ancestry[v], v)):
            v = versions[vid]
            checks = ", ".join(sorted(
                a.assertion + (f"({a.column})" if a.column else "") for a in failures[vid]))
            problems.append(
                f"training data {v.dataset.namespace.name}:{v.dataset.name} version {v.version} "
                f"failed critical checks: {checks}"
            )
    trained = trained_ancestor(target)
    if trained.run_id is None:
        problems.append("version has no training run, so its training data cannot be checked")
    problems += sensitive_input_problems(session, target.model.name, trained)
    if target.derived_from is not None:
        problems += derivation_problems(target)
    if current is not None and current.id != target.id:
        for key in sorted(k for k in current.metrics if k.startswith("valid.")):
            new, old = target.metrics.get(key), current.metrics[key]
            if new is None:
                problems.append(f"validation metric {key} missing (production has {old:.4f})")
            elif new < old * (1 - tolerance):
                problems.append(
                    f"validation {key} {new:.4f} regresses beyond {tolerance:.0%} of "
                    f"production version {current.version} ({old:.4f})"
                )
    return problems


def trained_ancestor(version: ModelVersion) -> ModelVersion:
    """The trained version ``version`` derives from (itself when trained), at most 20 steps up."""
    for _ in range(ANCESTRY_DEPTH):
        if version.derived_from is None:
            break
        version = version.derived_from
    return version


def derivation_problems(target: ModelVersion) -> list[str]:
    """Why a derived version may not serve: it lost too much of its source's validation NDCG@10.

    Compared with the version it was derived from and, when that was derived too, with the
    trained version at the root, so losses cannot pile up 2% at a time.
    """
    method = target.derivation.method
    new = target.metrics.get(DERIVED_METRIC)
    sources = [target.derived_from]
    root = trained_ancestor(target)
    if root is not target.derived_from:
        sources.append(root)
    problems = []
    for source in sources:
        old = source.metrics.get(DERIVED_METRIC)
        if new is None or old is None:
            missing = f"version {target.version}" if new is None else f"version {source.version}"
            problems.append(f"{method} version {target.version} cannot be compared with version "
                            f"{source.version} it derives from: {missing} records no "
                            f"{DERIVED_METRIC}")
        elif new < old * (1 - DERIVED_TOLERANCE):
            problems.append(
                f"{method} version {target.version} has {DERIVED_METRIC} {new:.4f}, "
                f"{(old - new) / old:.2%} below version {source.version} it derives from "
                f"({old:.4f}); a derived version may lose at most {DERIVED_TOLERANCE:.0%}")
    return problems


def set_alias(
    session: Session, name: str, alias: str, version: int, *, actor: str,
    tolerance: float = 0.05,
) -> ModelAlias:
    """Point ``alias`` at ``version``; gated aliases refuse data that failed checks, regressions
    and sensitive training columns without an exemption.

    Raises :class:`PromotionRefused` listing every reason (the caller audits the refusal with
    :func:`record_refusal`, in a transaction of its own since this one rolls back). A change is
    audited as ``model.alias``.
    """
    _check(bool(_ALIAS.match(alias)), "alias", "aliases are lowercase letters, digits, '_', '-'")
    _check(isinstance(tolerance, int | float) and 0 <= tolerance < 1, "tolerance",
           "tolerance must be a number in [0, 1)")
    target = resolve_version(session, name, str(version))
    row = session.get(ModelAlias, (target.model_id, alias))
    if alias in GATED_ALIASES:
        current = row.model_version if row is not None else None
        problems = promotion_problems(session, target, current, tolerance)
        if problems:
            raise PromotionRefused(
                f"version {target.version} of {name} cannot become {alias}: " + "; ".join(problems),
                field="version", reasons=problems,
            )
    before = {"alias": alias, "version": row.model_version.version} if row is not None else None
    if row is None:
        row = ModelAlias(model_id=target.model_id, alias=alias, model_version_id=target.id)
        session.add(row)
    else:
        row.model_version_id = target.id
        row.updated_at = utcnow()
    session.flush()
    after = {"alias": alias, "version": target.version}
    if after != before:
        record_change(session, actor=actor, action="model.alias", entity_type="model",
                      entity_key=name, before=before, after=after)
    return row


def record_refusal(session: Session, name: str, alias: str, version: int, reasons: list[str], *,
                   actor: str) -> None:
    """Audit a refused promotion with its reasons."""
    record_change(session, actor=actor, action="model.promote_refused", entity_type="model",
                  entity_key=name, after={"alias": alias, "version": version,
                                          "reasons": list(reasons)})
