"""What a dataset's page shows, gathered in a fixed number of queries.

Description, owners, tags and schema come with the dataset; around them: its versions, the
latest profile, quality history per version, the producing job and run, consumers, models
trained on it, and for recommendation lists the model that scored them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from catalog.errors import NotFound
from catalog.models import (
    Dataset,
    DatasetField,
    DatasetProfile,
    DatasetVersion,
    Job,
    LineageEdge,
    MLModel,
    ModelVersion,
    Namespace,
    QualityAssertion,
    Run,
    RunIO,
)
from catalog.read.quality_status import version_status

# Versions listed on the page (newest first); older ones are reached through the diff form.
VERSIONS_SHOWN = 50
# Versions whose quality results are listed.
QUALITY_VERSIONS = 20


def find_by_path(session: Session, model, pairs: list[tuple[str, str]]):
    """The first ``model`` (Dataset or Job) named by one of the (namespace, name) ``pairs``."""
    if not pairs:
        return None
    rows = session.execute(
        select(Namespace.name, model.name, model.id)
        .join(Namespace, model.namespace_id == Namespace.id)
        .where(or_(*(and_(Namespace.name == ns, model.name == n) for ns, n in pairs)))
    ).all()
    found = {(ns, n): id_ for ns, n, id_ in rows}
    for pair in pairs:
        if pair in found:
            return session.get(model, found[pair])
    return None


def dataset_by_path(session: Session, pairs: list[tuple[str, str]], shown: str) -> Dataset:
    """The dataset named by one of ``pairs``, loaded for its page, or :class:`NotFound`."""
    ds = find_by_path(session, Dataset, pairs)
    if ds is None:
        raise NotFound(f"no dataset {shown!r} in the catalog", field="dataset")
    return session.scalar(
        select(Dataset).where(Dataset.id == ds.id).options(
            selectinload(Dataset.fields).selectinload(DatasetField.tags),
            selectinload(Dataset.tags), selectinload(Dataset.owners),
            selectinload(Dataset.current_version),
        ).execution_options(populate_existing=True)
    )


@dataclass
class QualityRow:
    """Quality of one version: its status and the assertions of its checks, latest first."""

    version: DatasetVersion
    status: str
    assertions: list[QualityAssertion]

    @property
    def failed(self) -> list[QualityAssertion]:
        """Failed assertions of the latest check."""
        latest = self.assertions[0].run_id if self.assertions else None
        return [a for a in self.assertions if not a.success and a.run_id == latest]


@dataclass
class DatasetView:
    """Everything the dataset page renders."""

    dataset: Dataset
    versions: list[DatasetVersion]
    version_count: int
    status: str
    profile: DatasetProfile | None
    quality: list[QualityRow]
    producer: Run | None
    consumers: list[tuple[Job, object]]
    producers: list[Job]
    trained: list[tuple[ModelVersion, DatasetVersion | None]]
    scored_by: list[MLModel] = field(default_factory=list)
    freshness_hours: int | None = None


def dataset_view(session: Session, ds: Dataset) -> DatasetView:
    """Gather the dataset page's data."""
    versions = list(session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
        .options(selectinload(DatasetVersion.run))
        .order_by(DatasetVersion.version.desc()).limit(VERSIONS_SHOWN)
    ))
    count = versions[0].version if versions else 0
    checked = versions[:QUALITY_VERSIONS]
    statuses = version_status(session, [v.id for v in checked])
    by_version: dict[int, list[QualityAssertion]] = {v.id: [] for v in checked}
    if checked:
        for a in session.scalars(
            select(QualityAssertion).where(QualityAssertion.dataset_version_id.in_(by_version))
            .order_by(QualityAssertion.created_at.desc(), QualityAssertion.id)
        ):
            by_version[a.dataset_version_id].append(a)
    quality = [QualityRow(v, statuses[v.id], by_version[v.id]) for v in checked]
    profile = None
    if versions:
        profile = session.scalar(
            select(DatasetProfile).join(DatasetVersion,
                                        DatasetProfile.dataset_version_id == DatasetVersion.id)
            .where(DatasetVersion.dataset_id == ds.id)
            .options(selectinload(DatasetProfile.columns))
            .order_by(DatasetVersion.version.desc(), DatasetProfile.created_at.desc()).limit(1)
        )
    cur = ds.current_version
    producer = cur.run if cur is not None and cur.run_id is not None else None
    consumers = session.execute(
        select(Job, LineageEdge.last_seen_at)
        .join(LineageEdge, and_(LineageEdge.dst_kind == "j", LineageEdge.dst_id == Job.id))
        .where(LineageEdge.src_kind == "d", LineageEdge.src_id == ds.id)
        .order_by(Job.name).limit(200)
    ).all()
    producers = list(session.scalars(
        select(Job).join(LineageEdge, and_(LineageEdge.src_kind == "j",
                                           LineageEdge.src_id == Job.id))
        .where(LineageEdge.dst_kind == "d", LineageEdge.dst_id == ds.id).order_by(Job.name)
    ))
    trained = session.execute(
        select(ModelVersion, DatasetVersion)
        .join(RunIO, and_(RunIO.run_id == ModelVersion.run_id, RunIO.direction == "input"))
        .outerjoin(DatasetVersion, DatasetVersion.id == RunIO.dataset_version_id)
        .where(RunIO.dataset_id == ds.id)
        .options(selectinload(ModelVersion.model))
        .order_by(ModelVersion.created_at.desc()).limit(100)
    ).all()
    scored_by: list[MLModel] = []
    if ds.kind == "recommendations" and producer is not None:
        scored_by = list(session.scalars(
            select(MLModel).join(RunIO, and_(RunIO.dataset_id == MLModel.dataset_id,
                                             RunIO.direction == "input"))
            .where(RunIO.run_id == producer.id).order_by(MLModel.name)
        ))
    return DatasetView(
        ds, versions, count, statuses.get(cur.id, "unchecked") if cur else "unchecked",
        profile, quality, producer, [tuple(r) for r in consumers], producers,
        [tuple(r) for r in trained], scored_by, freshness_window(ds.facets),
    )


def freshness_window(facets: dict | None) -> int | None:
    """Hours within which a new version is expected (``freshness`` facet), if declared."""
    value = (facets or {}).get("freshness")
    hours = value.get("windowHours") if isinstance(value, dict) else None
    return hours if isinstance(hours, int) and not isinstance(hours, bool) and hours > 0 else None


def version_by_number(session: Session, ds: Dataset, number: int) -> DatasetVersion:
    """Version ``number`` of ``ds`` or :class:`NotFound`."""
    v = session.scalar(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id,
                                                    DatasetVersion.version == number))
    if v is None:
        raise NotFound(f"{ds.namespace.name}/{ds.name} has no version {number}", field="version")
    return v
