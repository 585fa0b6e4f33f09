"""Data sources as Marquez lists them (``GET /sources``): where datasets physically live, as
producers report it in OpenLineage's ``dataSource`` facet (or ``sourceName`` on registration)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.errors import NotFound
from catalog.models import Source


def list_sources(session: Session, limit: int, offset: int) -> tuple[list[Source], int]:
    """Sources by name, and the total count."""
    rows = session.scalars(select(Source).order_by(Source.name).limit(limit).offset(offset)).all()
    return list(rows), session.scalar(select(func.count()).select_from(Source))


def get_source(session: Session, name: str) -> Source:
    """The source called ``name``, else :class:`NotFound`."""
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise NotFound(f"source {name!r} not found", field="source")
    return source
