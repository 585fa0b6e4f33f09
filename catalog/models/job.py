"""Jobs and their versions (a version changes when code location, SQL or declared I/O change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models.base import Base, utcnow


class Job(Base):
    """A named process that reads and writes datasets; each execution is a :class:`Run`."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(1024))
    # BATCH or STREAMING (jobType facet's processingType).
    type: Mapped[str] = mapped_column(String(16), default="BATCH")
    # jobType facet: integration (e.g. DUCKDB, TORCH) and job type (e.g. QUERY, TRAIN).
    integration: Mapped[str | None] = mapped_column(String(64))
    job_type: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    # Source code location URL (sourceCodeLocation facet).
    location: Mapped[str | None] = mapped_column(Text)
    # Parent job for nested jobs (parent run facet's job); Marquez names children "parent.child".
    parent_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("job_versions.id", use_alter=True, ondelete="SET NULL")
    )
    # Latest job facets as received, unknown ones verbatim.
    facets: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    namespace = relationship("Namespace", lazy="joined")
    current_version = relationship("JobVersion", foreign_keys=[current_version_id])
    parent = relationship("Job", remote_side=[id])


class JobVersion(Base):
    """One shape of a job: its code location, SQL and declared inputs and outputs."""

    __tablename__ = "job_versions"
    __table_args__ = (UniqueConstraint("job_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Deterministic from the job's shape, so the same shape always maps to the same version.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column()
    location: Mapped[str | None] = mapped_column(Text)
    sql: Mapped[str | None] = mapped_column(Text)
    # [{"namespace", "name"}] sorted; what the version reads and writes.
    inputs: Mapped[list] = mapped_column(default=list)
    outputs: Mapped[list] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job = relationship("Job", foreign_keys=[job_id])
