"""Runs of jobs, their state history and the dataset versions they read and wrote."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models.base import Base, utcnow

RUN_STATES = ("NEW", "START", "RUNNING", "COMPLETE", "FAIL", "ABORT")
TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")


class Run(Base):
    """One execution of a job, identified by the producer's run UUID."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_job_created", "job_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    job_version_id: Mapped[int | None] = mapped_column(ForeignKey("job_versions.id"))
    # Parent run UUID from the parent facet; not a foreign key since parents may arrive later.
    parent_run_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(16), default="NEW")
    # Event time of the event that set `state`; older events never overwrite a newer state.
    state_at: Mapped[datetime | None] = mapped_column()
    nominal_start_time: Mapped[datetime | None] = mapped_column()
    nominal_end_time: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    # Merged run facets from all events of this run, unknown ones verbatim.
    facets: Mapped[dict] = mapped_column(default=dict)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    job = relationship("Job", foreign_keys=[job_id], lazy="joined")
    job_version = relationship("JobVersion", foreign_keys=[job_version_id])


class RunStateChange(Base):
    """Each state a run reported, in event time order: the run's history."""

    __tablename__ = "run_state_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunIO(Base):
    """A dataset a run read ("input") or wrote ("output"), at the version it saw or wrote.

    Outputs declared before the run completes have no version yet; a FAIL or ABORT run never
    gets one, so partial outputs are never registered as a version.
    """

    __tablename__ = "run_io"
    __table_args__ = (
        UniqueConstraint("run_id", "dataset_id", "direction"),
        Index("ix_run_io_dataset", "dataset_id", "direction"),
        Index("ix_run_io_version", "dataset_version_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL")
    )
    # "input" or "output".
    direction: Mapped[str] = mapped_column(String(6))
    # Input/output dataset facets from the event (dataQualityMetrics, outputStatistics...).
    facets: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    dataset = relationship("Dataset", lazy="joined")
    dataset_version = relationship("DatasetVersion")

