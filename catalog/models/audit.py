"""The audit trail: an append-only, hash-chained log of every change to catalog metadata."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base


class AuditEntry(Base):
    """One change: who did what to which entity, with the state before and after.

    Rows are never updated or deleted (database triggers refuse it); each row's ``hash`` covers its
    content and the previous row's hash, so a rewritten or removed row breaks the chain that
    ``catalog audit verify`` walks.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Position in the chain, 1, 2, 3, ... without gaps; unique so two writers cannot both append
    # after the same predecessor.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # User name, token name ("token:<name>") or a system actor such as "system:reaper".
    actor: Mapped[str] = mapped_column(String(256), index=True)
    # Dotted verb, e.g. "dataset.update", "model.promote", "token.create".
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    # Natural key of the entity, e.g. "namespace/name" or "model@version".
    entity_key: Mapped[str] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column()
    after: Mapped[dict | None] = mapped_column()
    # sha256 hex of the previous entry ("" for the first) and of this one.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_key"),)
