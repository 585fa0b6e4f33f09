"""Tags as Marquez lists them (``GET /tags``): every label used on datasets or fields."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.models import Tag


def list_tags(session: Session, limit: int, offset: int) -> tuple[list[Tag], int]:
    """Tags by name, and the total count."""
    rows = session.scalars(select(Tag).order_by(Tag.name).limit(limit).offset(offset)).all()
    return list(rows), session.scalar(select(func.count()).select_from(Tag))
