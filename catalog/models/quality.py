"""Data quality results attached to dataset versions: assertions and profiles."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models.base import Base, utcnow


class QualityAssertion(Base):
    """One expectation's outcome on one dataset version (dataQualityAssertions facet)."""

    __tablename__ = "quality_assertions"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    # Run that checked it (a pipeline step or a separate validation job).
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    assertion: Mapped[str] = mapped_column(Text)
    column: Mapped[str | None] = mapped_column(String(512))
    success: Mapped[bool] = mapped_column()
    # "critical" failures block downstream use and promotion; others warn.
    severity: Mapped[str | None] = mapped_column(String(16))
    # Remaining keys of the assertion (expected, observed, ...), verbatim.
    details: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetProfile(Base):
    """Dataset-level metrics of a version as one run measured them (dataQualityMetrics)."""

    __tablename__ = "dataset_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_count: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    columns = relationship(
        "ColumnProfile", cascade="all, delete-orphan", order_by="ColumnProfile.column"
    )


class ColumnProfile(Base):
    """Per-column metrics inside a :class:`DatasetProfile`."""

    __tablename__ = "column_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_profiles.id", ondelete="CASCADE"), index=True
    )
    column: Mapped[str] = mapped_column(String(512))
    null_count: Mapped[int | None] = mapped_column(BigInteger)
    distinct_count: Mapped[int | None] = mapped_column(BigInteger)
    count: Mapped[float | None] = mapped_column(Float)
    sum: Mapped[float | None] = mapped_column(Float)
    min: Mapped[float | None] = mapped_column(Float)
    max: Mapped[float | None] = mapped_column(Float)
    quantiles: Mapped[dict | None] = mapped_column()
