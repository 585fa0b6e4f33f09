"""Get-or-create helpers that stay correct under concurrent writers on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from catalog.driver import update_by_id
from catalog.errors import NotFound
from catalog.models import Dataset, Job, Namespace, Source, Tag


class Tracked:
    """A row held in memory; columns changed through :meth:`set` wait in ``changes``."""

    changes: dict

    def set(self, column: str, value) -> None:
        """Change a column (recorded in ``changes`` only if the value differs)."""
        if getattr(self, column) != value:
            setattr(self, column, value)
            self.changes[column] = value


def write_tracked(session: Session, table, rows) -> None:
    """UPDATE the changed columns of ``rows`` (one statement per set of changed columns; each
    row, so each id, once)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.changes and row.id is not None:
            columns = tuple(sorted(row.changes))
            groups.setdefault(columns, []).append(
                {"_id": row.id, **{c: row.changes[c] for c in columns}})
            row.changes = {}
    for params in groups.values():
        update_by_id(session, table, params)


def dialect_insert(session: Session, table):
    """The backend's INSERT, which knows ON CONFLICT (PostgreSQL and SQLite spell it alike)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_ignore(session: Session, model, values: dict, conflict: list[str]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns 1 if inserted, 0 if the key already existed."""
    stmt = dialect_insert(session, model).values(**values).on_conflict_do_nothing(
        index_elements=conflict)
    return session.execute(stmt).rowcount


def ids_by_name(session: Session, model, names) -> dict[str, int]:
    """Ids of the ``model`` rows (namespaces, tags) called ``names``, creating missing ones.

    One SELECT when all exist; else one INSERT ... ON CONFLICT DO NOTHING of the missing ones in
    name order (so concurrent creators queue rather than deadlock) and a second SELECT.
    """
    table, wanted = model.__table__, sorted(set(names))
    query = select(table.c.name, table.c.id).where(table.c.name.in_(wanted))
    found = dict(session.execute(query).all())
    missing = [n for n in wanted if n not in found]
    if missing:
        stmt = dialect_insert(session, table).on_conflict_do_nothing(index_elements=["name"])
        session.execute(stmt, [{"name": n} for n in missing])
        found.update(session.execute(query.where(table.c.name.in_(missing))).all())
    return found


def namespace_ids(session: Session, names) -> dict[str, int]:
    """Namespace ids by name, creating missing namespaces."""
    return ids_by_name(session, Namespace, names)


def tag_ids(session: Session, names) -> dict[str, int]:
    """Tag ids by name, creating missing tags."""
    return ids_by_name(session, Tag, names)


def source_id(session: Session, name: str, uri: str | None) -> int:
    """The id of the source called ``name``; its URI is updated when a new one is reported."""
    table = Source.__table__
    row = session.execute(select(table.c.id, table.c.uri).where(table.c.name == name)).first()
    if row is None:
        insert_ignore(session, Source, {"name": name, "uri": uri}, ["name"])
        row = session.execute(select(table.c.id, table.c.uri).where(table.c.name == name)).one()
    if uri and row.uri != uri:
        session.execute(update(table).where(table.c.id == row.id).values(uri=uri))
    return row.id


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
