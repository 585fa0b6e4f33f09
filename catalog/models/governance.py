"""Sensitivity classifications of columns and the exemptions that let a model use them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base, utcnow

# Classification states: a detector's suggestion waits for a steward to accept or reject it.
APPLIED = "applied"
SUGGESTED = "suggested"
REJECTED = "rejected"


class ColumnClassification(Base):
    """A sensitivity tag (e.g. ``pii.email``) on one column of a dataset.

    Set by a steward (applied at once) or suggested by a detector (applied only once accepted).
    A rejected suggestion is kept so the detector does not suggest it again. History lives in the
    audit trail; this row is the current state.
    """

    __tablename__ = "column_classifications"
    __table_args__ = (UniqueConstraint("dataset_id", "field", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True
    )
    # Column name; not a foreign key to dataset_fields, which follow the latest schema only.
    field: Mapped[str] = mapped_column(String(512))
    tag: Mapped[str] = mapped_column(String(128), index=True)
    # applied, suggested or rejected.
    status: Mapped[str] = mapped_column(String(16))
    # "steward" or "detector:<name>".
    source: Mapped[str] = mapped_column(String(64))
    # Why a detector suggested it, or the steward's note.
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PolicyExemption(Base):
    """Approval for a model to be trained on columns carrying a sensitivity tag.

    ``dataset_id``/``field`` NULL: the exemption covers the tag wherever it reaches the model.
    """

    __tablename__ = "policy_exemptions"
    __table_args__ = (Index("ix_policy_exemptions_model", "model_name", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_name: Mapped[str] = mapped_column(String(256))
    # A tag or a prefix ending in '*' ("pii.*").
    tag: Mapped[str] = mapped_column(String(128))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    field: Mapped[str | None] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
