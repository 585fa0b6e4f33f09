"""Get-or-create helpers that stay correct under concurrent writers on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from catalog.errors import NotFound
from catalog.models import Dataset, Job, Namespace, Source, Tag


def insert_ignore(session: Session, model, values: dict, conflict: list[str]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns 1 if inserted, 0 if the key already existed."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(model).values(**values).on_conflict_do_nothing(index_elements=conflict)
    return session.execute(stmt).rowcount


def for_write(stmt, *of):
    """``stmt`` locking its rows for an update that leaves their keys alone.

    FOR NO KEY UPDATE on PostgreSQL: unlike FOR UPDATE it does not wait for (or block) the
    FOR KEY SHARE locks that foreign-key checks of concurrent inserts take, which deadlocked two
    runs of one job. SQLite ignores it: a writer holds the whole database from BEGIN IMMEDIATE.
    """
    return stmt.with_for_update(key_share=True, of=list(of) or None).execution_options(
        populate_existing=True
    )


def _greatest(dialect_name: str):
    return func.greatest if dialect_name == "postgresql" else func.max


def _least(dialect_name: str):
    return func.least if dialect_name == "postgresql" else func.min


def upsert_seen(
    session: Session, model, values: dict, conflict: list[str], seen_at: datetime
) -> None:
    """Insert a row with first/last seen times, or widen the stored window to ``seen_at``."""
    name = session.get_bind().dialect.name
    dialect = postgresql if name == "postgresql" else sqlite
    stmt = dialect.insert(model).values(**values, first_seen_at=seen_at, last_seen_at=seen_at)
    table = model.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=conflict,
        set_={
            "first_seen_at": _least(name)(table.c.first_seen_at, stmt.excluded.first_seen_at),
            "last_seen_at": _greatest(name)(table.c.last_seen_at, stmt.excluded.last_seen_at),
        },
    )
    session.execute(stmt)


def get_or_create_namespace(session: Session, name: str) -> Namespace:
    """The namespace called ``name``, created if new."""
    ns = session.scalar(select(Namespace).where(Namespace.name == name))
    if ns is None:
        insert_ignore(session, Namespace, {"name": name}, ["name"])
        ns = session.scalar(select(Namespace).where(Namespace.name == name))
    return ns


def get_or_create_source(session: Session, name: str, uri: str | None) -> Source:
    """The source called ``name``; its URI is updated when a new one is reported."""
    src = session.scalar(select(Source).where(Source.name == name))
    if src is None:
        insert_ignore(session, Source, {"name": name, "uri": uri}, ["name"])
        src = session.scalar(select(Source).where(Source.name == name))
    elif uri and src.uri != uri:
        src.uri = uri
    return src


def get_or_create_dataset(session: Session, namespace: str, name: str) -> Dataset:
    """The dataset ``namespace``/``name``, created (kind "table") if new."""
    ns = get_or_create_namespace(session, namespace)
    query = select(Dataset).where(Dataset.namespace_id == ns.id, Dataset.name == name)
    ds = session.scalar(query)
    if ds is None:
        insert_ignore(
            session,
            Dataset,
            {"namespace_id": ns.id, "name": name, "physical_name": name, "facets": {}},
            ["namespace_id", "name"],
        )
        ds = session.scalar(query)
    return ds


def get_or_create_job(session: Session, namespace: str, name: str) -> Job:
    """The job ``namespace``/``name``, created if new."""
    ns = get_or_create_namespace(session, namespace)
    query = select(Job).where(Job.namespace_id == ns.id, Job.name == name)
    job = session.scalar(query)
    if job is None:
        insert_ignore(
            session,
            Job,
            {"namespace_id": ns.id, "name": name, "facets": {}},
            ["namespace_id", "name"],
        )
        job = session.scalar(query)
    return job


def get_or_create_tag(session: Session, name: str) -> Tag:
    """The tag called ``name``, created if new."""
    tag = session.scalar(select(Tag).where(Tag.name == name))
    if tag is None:
        insert_ignore(session, Tag, {"name": name}, ["name"])
        tag = session.scalar(select(Tag).where(Tag.name == name))
    return tag


def find_namespace(session: Session, name: str) -> Namespace:
    """The namespace called ``name`` or :class:`NotFound`."""
    ns = session.scalar(select(Namespace).where(Namespace.name == name))
    if ns is None:
        raise NotFound(f"namespace {name!r} not found", field="namespace")
    return ns


def find_dataset(session: Session, namespace: str, name: str) -> Dataset:
    """The dataset ``namespace``/``name`` or :class:`NotFound`."""
    ds = session.scalar(
        select(Dataset)
        .join(Namespace, Dataset.namespace_id == Namespace.id)
        .where(Namespace.name == namespace, Dataset.name == name)
    )
    if ds is None:
        raise NotFound(f"dataset {namespace}:{name} not found", field="dataset")
    return ds


def find_job(session: Session, namespace: str, name: str) -> Job:
    """The job ``namespace``/``name`` or :class:`NotFound`."""
    job = session.scalar(
        select(Job)
        .join(Namespace, Job.namespace_id == Namespace.id)
        .where(Namespace.name == namespace, Job.name == name)
    )
    if job is None:
        raise NotFound(f"job {namespace}:{name} not found", field="job")
    return job
