"""Lineage graph edges (table and column level) and the raw OpenLineage events behind them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base, utcnow

# Node kinds in `lineage_edges`.
DATASET = "d"
JOB = "j"


class LineageEdge(Base):
    """A distinct directed edge dataset -> job (read) or job -> dataset (write).

    Maintained on ingestion from run I/O so graph queries walk one narrow, indexed table instead of
    every run's I/O rows. ``first_seen_at`` makes "lineage as of T" a filter, not a replay.
    """

    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint("src_kind", "src_id", "dst_kind", "dst_id"),
        Index("ix_lineage_edges_dst", "dst_kind", "dst_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "d" (dataset) or "j" (job); ids point at datasets.id or jobs.id accordingly.
    src_kind: Mapped[str] = mapped_column(String(1))
    src_id: Mapped[int] = mapped_column()
    dst_kind: Mapped[str] = mapped_column(String(1))
    dst_id: Mapped[int] = mapped_column()
    # Event time of the first and latest run that exercised this edge.
    first_seen_at: Mapped[datetime] = mapped_column()
    last_seen_at: Mapped[datetime] = mapped_column()


class ColumnLineage(Base):
    """Output field <- input field, as reported for one output dataset version."""

    __tablename__ = "column_lineage"
    __table_args__ = (
        UniqueConstraint(
            "output_version_id",
            "output_field",
            "input_dataset_id",
            "input_field",
            "transformation_type",
            "transformation_subtype",
        ),
        Index("ix_column_lineage_out", "output_dataset_id", "output_field"),
        Index("ix_column_lineage_in", "input_dataset_id", "input_field"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    output_dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE")
    )
    output_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE")
    )
    output_field: Mapped[str] = mapped_column(String(512))
    input_dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    # Version of the input read by the same run, when known.
    input_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL")
    )
    input_field: Mapped[str] = mapped_column(String(512))
    # DIRECT or INDIRECT; subtype IDENTITY, TRANSFORMATION, AGGREGATION, JOIN, FILTER, ...
    transformation_type: Mapped[str] = mapped_column(String(16), default="DIRECT")
    transformation_subtype: Mapped[str] = mapped_column(String(32), default="")
    description: Mapped[str | None] = mapped_column(Text)
    # True when the transformation hides the input value (hashing, aggregation to counts...).
    masking: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LineageEvent(Base):
    """Every accepted OpenLineage event, verbatim; its hash makes re-sends no-ops."""

    __tablename__ = "lineage_events"
    __table_args__ = (Index("ix_lineage_events_time", "event_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the canonical JSON (sorted keys, no whitespace).
    event_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # RunEvent, DatasetEvent or JobEvent.
    kind: Mapped[str] = mapped_column(String(16))
    event_type: Mapped[str | None] = mapped_column(String(16))
    event_time: Mapped[datetime] = mapped_column()
    run_uuid: Mapped[str | None] = mapped_column(String(36), index=True)
    job_namespace: Mapped[str | None] = mapped_column(String(512))
    job_name: Mapped[str | None] = mapped_column(String(1024))
    payload: Mapped[dict] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class EventWarning(Base):
    """A facet of a stored event that broke its schema: kept in the event, never interpreted.

    Written with the event, one INSERT per ingest, only for events that have such facets. The run
    page lists a run's; stewards see them counted per producer on the health page.
    """

    __tablename__ = "event_warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The event (lineage_events.event_hash) whose payload holds the facet.
    event_hash: Mapped[str] = mapped_column(
        ForeignKey("lineage_events.event_hash", ondelete="CASCADE"), index=True)
    # The event's producer, as sent: what stewards follow up with.
    producer: Mapped[str] = mapped_column(Text)
    # run, job, dataset, input or output (catalog.config.FACET_GROUPS).
    facet_group: Mapped[str] = mapped_column(String(8))
    # The facet's name; NULL when the facets object itself was not an object.
    facet: Mapped[str | None] = mapped_column(Text)
    # Dotted path of the offending value, e.g. run.facets.errorMessage.stackTrace.
    field: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
