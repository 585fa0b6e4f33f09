"""Search over dataset and job names and descriptions (Marquez: ``/search``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal, or_, select, true, union_all
from sqlalchemy.orm import Session

from catalog.errors import BadRequest
from catalog.models import Dataset, DatasetField, DatasetVersion, Job, Namespace

FILTERS = ("DATASET", "JOB")
SORTS = ("NAME", "UPDATE_AT")


@dataclass
class Hit:
    """One search result."""

    type: str
    name: str
    namespace: str
    updated_at: datetime


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    session: Session, q: str, kind: str | None, sort: str, limit: int, offset: int,
    as_of: datetime | None = None,
) -> tuple[list[Hit], int]:
    """Datasets (by name, description or column) and jobs (by name or description) matching q.

    ``as_of``: only datasets and jobs that existed by then.
    """
    if not q.strip():
        raise BadRequest("query parameter 'q' must not be empty", field="q")
    if kind is not None and kind not in FILTERS:
        raise BadRequest(f"filter must be one of {list(FILTERS)}", field="filter")
    if sort not in SORTS:
        raise BadRequest(f"sort must be one of {list(SORTS)}", field="sort")
    pattern = _like(q.strip())
    parts = []
    if kind in (None, "DATASET"):
        column_hit = (
            select(DatasetField.id)
            .where(DatasetField.dataset_id == Dataset.id)
            .where(func.lower(DatasetField.name).like(pattern, escape="\\"))
            .exists()
        )
        parts.append(
            select(literal("DATASET").label("type"), Dataset.name.label("name"),
                   Namespace.name.label("namespace"), Dataset.updated_at.label("updated_at"))
            .join(Namespace, Dataset.namespace_id == Namespace.id)
            .where(or_(func.lower(Dataset.name).like(pattern, escape="\\"),
                       func.lower(func.coalesce(Dataset.description, "")).like(
                           pattern, escape="\\"),
                       column_hit))
            .where(true() if as_of is None else or_(
                Dataset.created_at <= as_of,
                select(DatasetVersion.id).where(DatasetVersion.dataset_id == Dataset.id,
                                                DatasetVersion.created_at <= as_of).exists()))
        )
    if kind in (None, "JOB"):
        parts.append(
            select(literal("JOB").label("type"), Job.name.label("name"),
                   Namespace.name.label("namespace"), Job.updated_at.label("updated_at"))
            .join(Namespace, Job.namespace_id == Namespace.id)
            .where(or_(func.lower(Job.name).like(pattern, escape="\\"),
                       func.lower(func.coalesce(Job.description, "")).like(
                           pattern, escape="\\")))
            .where(Job.created_at <= as_of if as_of is not None else true())
        )
    u = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    order = [u.c.name, u.c.namespace] if sort == "NAME" else [u.c.updated_at.desc(), u.c.name]
    rows = session.execute(select(u).order_by(*order, u.c.type).limit(limit).offset(offset)).all()
    total = session.scalar(select(func.count()).select_from(u))
    return [Hit(r.type, r.name, r.namespace, r.updated_at) for r in rows], total
