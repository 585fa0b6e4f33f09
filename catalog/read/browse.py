"""Read side of namespaces, datasets, jobs and runs: listing and lookup for the API and pages."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import NamedTuple

from sqlalchemy import Text, bindparam, cast, func, select
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload, selectinload

from catalog.errors import NotFound
from catalog.ingest.writes import find_dataset, find_job, find_namespace
from catalog.models import (
    Dataset,
    DatasetField,
    DatasetFieldTag,
    DatasetVersion,
    Job,
    JobVersion,
    LineageEvent,
    Namespace,
    Run,
    RunIO,
    Tag,
)


def _count(session: Session, query) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def _page_with_total(
    session: Session, query, limit: int, offset: int, not_found
) -> tuple[list, int]:
    """One page of ``query``'s entities and the total count, in one statement.

    The total rides along on every row (``count(*) over ()``). An empty page says nothing, so
    then ``not_found()`` checks the parent exists (raising NotFound) and the total is counted.
    """
    rows = session.execute(
        query.add_columns(func.count().over().label("total")).limit(limit).offset(offset)
    ).all()
    if rows:
        return [r[0] for r in rows], rows[0][-1]
    not_found()
    return [], _count(session, query) if offset else 0


# What the JSON shapes read of a run's job version (its id and, for Marquez's context, its SQL).
_JOB_VERSION_SUMMARY = (JobVersion.uuid, JobVersion.sql)

# What the JSON shapes read of a dataset's current version (its schema and facets can be large).
_VERSION_SUMMARY = (DatasetVersion.uuid, DatasetVersion.version, DatasetVersion.row_count,
                    DatasetVersion.lifecycle_state)


def list_namespaces(session: Session, limit: int, offset: int) -> tuple[list[Namespace], int]:
    """Namespaces by name, and the total count."""
    query = select(Namespace)
    rows = session.scalars(query.order_by(Namespace.name).limit(limit).offset(offset)).all()
    return list(rows), _count(session, query)


def dataset_options():
    """Loader options for what ``shapes.dataset_json`` reads of a dataset, fields apart.

    One statement: the dataset with its namespace, source, current version, tags and owners (a
    dataset has a handful of each, so their product stays small). Its fields come from
    :func:`field_views`: without ORM objects, which cost more to build than the query to run.
    """
    return (
        joinedload(Dataset.tags),
        joinedload(Dataset.owners),
        joinedload(Dataset.current_version).load_only(*_VERSION_SUMMARY),
    )


class FieldTag(NamedTuple):
    """A field's tag, as the shapes read it."""

    name: str


@dataclass
class FieldView:
    """What the shapes read of a dataset's field."""

    name: str
    type: str | None
    description: str | None
    tags: list[FieldTag] = dc_field(default_factory=list)


_FIELDS_OF = (
    select(DatasetField.dataset_id, DatasetField.id, DatasetField.name, DatasetField.type,
           DatasetField.description, Tag.name.label("tag"))
    .outerjoin(DatasetFieldTag, DatasetFieldTag.field_id == DatasetField.id)
    .outerjoin(Tag, Tag.id == DatasetFieldTag.tag_id)
    .where(DatasetField.dataset_id.in_(bindparam("ids", expanding=True)))
    .order_by(DatasetField.dataset_id, DatasetField.ordinal, DatasetField.id, Tag.name)
)


def field_views(session: Session, dataset_ids) -> dict[int, list[FieldView]]:
    """The fields of each dataset in ``dataset_ids``, in schema order, with their tags (one
    statement)."""
    out: dict[int, list[FieldView]] = {i: [] for i in dataset_ids}
    if not out:
        return out
    last_id, view = None, None
    for ds_id, field_id, name, type_, description, tag in session.execute(
            _FIELDS_OF, {"ids": sorted(out)}):
        if field_id != last_id:
            view = FieldView(name, type_, description)
            out[ds_id].append(view)
            last_id = field_id
        if tag is not None:
            view.tags.append(FieldTag(tag))
    return out


def list_datasets(
    session: Session, namespace: str, limit: int, offset: int
) -> tuple[list[Dataset], int]:
    """Datasets of a namespace by name, and the total count."""
    ns = find_namespace(session, namespace)
    query = select(Dataset).where(Dataset.namespace_id == ns.id)
    rows = session.scalars(
        query.options(*dataset_options()).order_by(Dataset.name).limit(limit).offset(offset)
    ).unique().all()
    return list(rows), _count(session, query)


def get_dataset(session: Session, namespace: str, name: str) -> Dataset:
    """One dataset or :class:`NotFound`, with fields, tags, owners and version loaded at once.

    One statement whatever the dataset holds (see ``dataset_options``); its fields are
    :func:`field_views`'.
    """
    ds = session.scalars(
        select(Dataset)
        .join(Namespace, Dataset.namespace_id == Namespace.id)
        .where(Namespace.name == namespace, Dataset.name == name)
        .options(*dataset_options())
    ).unique().one_or_none()
    if ds is None:
        find_dataset(session, namespace, name)  # raises NotFound, naming the dataset
    return ds


def list_dataset_versions(
    session: Session, namespace: str, name: str, limit: int, offset: int
) -> tuple[list[DatasetVersion], int]:
    """Versions of a dataset, newest first, and the total count: one statement per page."""
    query = (
        select(DatasetVersion)
        .join(DatasetVersion.dataset)
        .join(Namespace, Dataset.namespace_id == Namespace.id)
        .where(Namespace.name == namespace, Dataset.name == name)
        .options(contains_eager(DatasetVersion.dataset), _created_by_run())
        .order_by(DatasetVersion.version.desc())
    )
    return _page_with_total(session, query, limit, offset,
                            lambda: find_dataset(session, namespace, name))


def _created_by_run():
    # The run that wrote a version, whole (its job and namespace ride along: lazy="joined"),
    # with its job version's summary: Marquez's createdByRun is a full run.
    return joinedload(DatasetVersion.run).joinedload(Run.job_version).load_only(
        *_JOB_VERSION_SUMMARY)


def get_dataset_version(session: Session, namespace: str, name: str, version: str):
    """One version by UUID or number, or :class:`NotFound`."""
    ds = find_dataset(session, namespace, name)
    query = (select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
             .options(_created_by_run()))
    if version.isdigit():
        query = query.where(DatasetVersion.version == int(version))
    else:
        query = query.where(DatasetVersion.uuid == version)
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"version {version!r} of {namespace}:{name} not found", field="version")
    return found


def latest_run_id(job_id):
    """The id of job ``job_id``'s newest run (by creation time, then id), as a scalar subquery.

    Correlated per job, it reads one entry of the (job_id, created_at) index: a job with a
    million runs costs what a job with one does (ranking every run of the jobs did not).
    """
    r = aliased(Run)
    return (select(r.id).where(r.job_id == job_id).order_by(r.created_at.desc(), r.id.desc())
            .limit(1).correlate_except(r).scalar_subquery())


def latest_runs(session: Session, job_ids: list[int], *options) -> dict[int, Run]:
    """The newest run of each job in ``job_ids``, in one query (``options``: loader options)."""
    if not job_ids:
        return {}
    rows = session.scalars(
        select(Run).join(Job, Run.id == latest_run_id(Job.id)).where(Job.id.in_(job_ids))
        .options(*(options or (selectinload(Run.job_version),)))
    ).all()
    return {r.job_id: r for r in rows}


def _latest_run_in(states: set[str]):
    """Ids of the jobs whose newest run is stored in one of ``states``."""
    return select(Job.id).join(Run, Run.id == latest_run_id(Job.id)).where(
        Run.state.in_(sorted(states)))


def list_jobs(session: Session, namespace: str, limit: int, offset: int,
              last_run_states: set[str] | None = None):
    """Jobs of a namespace by name, the newest run of each, and the total count.

    ``last_run_states`` (stored states): only jobs whose newest run is in one of them.
    """
    ns = find_namespace(session, namespace)
    query = select(Job).where(Job.namespace_id == ns.id)
    if last_run_states:
        query = query.where(Job.id.in_(_latest_run_in(last_run_states)))
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
    """Runs of a job, newest first, and the total count: one statement per page."""
    query = (
        select(Run)
        .join(Run.job)
        .join(Namespace, Job.namespace_id == Namespace.id)
        .where(Namespace.name == namespace, Job.name == name)
        .options(contains_eager(Run.job).contains_eager(Job.namespace),
                 joinedload(Run.job_version).load_only(*_JOB_VERSION_SUMMARY))
        .order_by(Run.created_at.desc(), Run.id.desc())
    )
    return _page_with_total(session, query, limit, offset,
                            lambda: find_job(session, namespace, name))


class IONamespace(NamedTuple):
    """A run I/O row's dataset namespace, as shapes and pages read it."""

    name: str


class IODataset(NamedTuple):
    """A run I/O row's dataset."""

    name: str
    namespace: IONamespace


class IOVersion(NamedTuple):
    """A run I/O row's dataset version."""

    uuid: str
    version: int


class IOView(NamedTuple):
    """A dataset a run read or wrote (``direction``), and the version if one was recorded.

    Read as plain rows: building ORM objects for every I/O row of a page of runs cost more than
    the query.
    """

    run_id: int
    direction: str
    facets: dict
    dataset: IODataset
    dataset_version: IOVersion | None


_RUN_IO = (
    select(RunIO.run_id, RunIO.direction, RunIO.facets, Dataset.name, Namespace.name,
           DatasetVersion.uuid, DatasetVersion.version)
    .join(Dataset, Dataset.id == RunIO.dataset_id)
    .join(Namespace, Namespace.id == Dataset.namespace_id)
    .outerjoin(DatasetVersion, DatasetVersion.id == RunIO.dataset_version_id)
    .where(RunIO.run_id.in_(bindparam("runs", expanding=True)))
    .order_by(RunIO.id)
)


def _run_io(session: Session, run_ids) -> list[IOView]:
    return [IOView(run_id, direction, facets or {}, IODataset(name, IONamespace(ns)),
                   IOVersion(v_uuid, v_number) if v_uuid is not None else None)
            for run_id, direction, facets, name, ns, v_uuid, v_number
            in session.execute(_RUN_IO, {"runs": list(run_ids)})]


def get_run(session: Session, run_id: str) -> tuple[Run, list[IOView]]:
    """One run with the dataset versions it read and wrote, or :class:`NotFound` (2 statements)."""
    run = session.scalar(select(Run).where(Run.uuid == run_id)
                         .options(joinedload(Run.job_version).load_only(*_JOB_VERSION_SUMMARY)))
    if run is None:
        raise NotFound(f"run {run_id} not found", field="runId")
    io = _run_io(session, [run.id])
    return run, sorted(io, key=lambda x: x.direction != "input")  # inputs first, stable


def run_io_map(session: Session, runs: list[Run]) -> dict[int, list[IOView]]:
    """Run I/O of several runs in one statement."""
    out: dict[int, list[IOView]] = {r.id: [] for r in runs}
    if runs:
        for io in _run_io(session, out):
            out[io.run_id].append(io)
    return out


def list_event_payloads(
    session: Session, before, after, limit: int, offset: int
) -> tuple[list[str], int]:
    """Raw events newest first, as the JSON text the database holds, and the total count.

    The text goes out as it is: decoding each payload only to encode it again was most of the
    endpoint's CPU time.
    """
    query = select(cast(LineageEvent.payload, Text))
    if before:
        query = query.where(LineageEvent.event_time <= before)
    if after:
        query = query.where(LineageEvent.event_time >= after)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(LineageEvent.event_time.desc(), LineageEvent.id.desc())
        .limit(limit).offset(offset)
    ).all()
    return list(rows), total
