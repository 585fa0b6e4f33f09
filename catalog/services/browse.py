"""Read side of namespaces, datasets, jobs and runs: listing and lookup for the API and pages."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from catalog.errors import NotFound
from catalog.models import Dataset, DatasetField, DatasetVersion, Job, Namespace, Run, RunIO
from catalog.services.common import find_dataset, find_job, find_namespace


def _count(session: Session, query) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def list_namespaces(session: Session, limit: int, offset: int) -> tuple[list[Namespace], int]:
    """Namespaces by name, and the total count."""
    query = select(Namespace)
    rows = session.scalars(query.order_by(Namespace.name).limit(limit).offset(offset)).all()
    return list(rows), _count(session, query)


def _dataset_options():
    return (
        selectinload(Dataset.fields).selectinload(DatasetField.tags),
        selectinload(Dataset.tags),
        selectinload(Dataset.owners),
        selectinload(Dataset.current_version),
    )


def list_datasets(
    session: Session, namespace: str, limit: int, offset: int
) -> tuple[list[Dataset], int]:
    """Datasets of a namespace by name, and the total count."""
    ns = find_namespace(session, namespace)
    query = select(Dataset).where(Dataset.namespace_id == ns.id)
    rows = session.scalars(
        query.options(*_dataset_options()).order_by(Dataset.name).limit(limit).offset(offset)
    ).all()
    return list(rows), _count(session, query)


def get_dataset(session: Session, namespace: str, name: str) -> Dataset:
    """One dataset or :class:`NotFound`, with fields, tags, owners and version loaded at once.

    (Loaded lazily it took a query per field for the field's tags.)
    """
    ds = find_dataset(session, namespace, name)
    return session.scalars(select(Dataset).where(Dataset.id == ds.id)
                           .options(*_dataset_options())).one()


def list_dataset_versions(
    session: Session, namespace: str, name: str, limit: int, offset: int
) -> tuple[list[DatasetVersion], int]:
    """Versions of a dataset, newest first, and the total count."""
    ds = find_dataset(session, namespace, name)
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    rows = session.scalars(
        query.options(selectinload(DatasetVersion.run))
        .order_by(DatasetVersion.version.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), _count(session, query)


def get_dataset_version(session: Session, namespace: str, name: str, version: str):
    """One version by UUID or number, or :class:`NotFound`."""
    ds = find_dataset(session, namespace, name)
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    if version.isdigit():
        query = query.where(DatasetVersion.version == int(version))
    else:
        query = query.where(DatasetVersion.uuid == version)
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"version {version!r} of {namespace}:{name} not found", field="version")
    return found


def latest_runs(session: Session, job_ids: list[int]) -> dict[int, Run]:
    """The newest run (by creation time, then id) of each job in ``job_ids``, in one query."""
    if not job_ids:
        return {}
    ranked = (
        select(
            Run.id,
            func.row_number()
            .over(partition_by=Run.job_id, order_by=(Run.created_at.desc(), Run.id.desc()))
            .label("n"),
        )
        .where(Run.job_id.in_(job_ids))
        .subquery()
    )
    rows = session.scalars(
        select(Run).join(ranked, Run.id == ranked.c.id).where(ranked.c.n == 1)
        .options(selectinload(Run.job_version))
    ).all()
    return {r.job_id: r for r in rows}


def list_jobs(session: Session, namespace: str, limit: int, offset: int):
    """Jobs of a namespace by name, the newest run of each, and the total count."""
    ns = find_namespace(session, namespace)
    query = select(Job).where(Job.namespace_id == ns.id)
    rows = list(
        session.scalars(
            query.options(selectinload(Job.current_version), selectinload(Job.parent))
            .order_by(Job.name).limit(limit).offset(offset)
        ).all()
    )
    return rows, latest_runs(session, [j.id for j in rows]), _count(session, query)


def get_job(session: Session, namespace: str, name: str) -> tuple[Job, Run | None]:
    """One job and its newest run, or :class:`NotFound`."""
    job = find_job(session, namespace, name)
    return job, latest_runs(session, [job.id]).get(job.id)


def list_runs(session: Session, namespace: str, name: str, limit: int, offset: int):
    """Runs of a job, newest first, and the total count."""
    job = find_job(session, namespace, name)
    query = select(Run).where(Run.job_id == job.id)
    rows = session.scalars(
        query.options(selectinload(Run.job_version))
        .order_by(Run.created_at.desc(), Run.id.desc()).limit(limit).offset(offset)
    ).all()
    return list(rows), _count(session, query)


def get_run(session: Session, run_id: str) -> tuple[Run, list[RunIO]]:
    """One run with the dataset versions it read and wrote, or :class:`NotFound`."""
    run = session.scalar(select(Run).where(Run.uuid == run_id))
    if run is None:
        raise NotFound(f"run {run_id} not found", field="runId")
    io = session.scalars(
        select(RunIO)
        .where(RunIO.run_id == run.id)
        .options(selectinload(RunIO.dataset_version))
        .order_by(RunIO.direction, RunIO.id)
    ).all()
    return run, list(io)


def run_io_map(session: Session, runs: list[Run]) -> dict[int, list[RunIO]]:
    """Run I/O of several runs in one query."""
    out: dict[int, list[RunIO]] = {r.id: [] for r in runs}
    if runs:
        rows = session.scalars(
            select(RunIO).where(RunIO.run_id.in_(list(out)))
            .options(selectinload(RunIO.dataset_version)).order_by(RunIO.id)
        ).all()
        for io in rows:
            out[io.run_id].append(io)
    return out
