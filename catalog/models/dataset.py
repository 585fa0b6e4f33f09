"""Datasets, their current fields, tags, owners and immutable versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models.base import Base, utcnow

# Kinds a dataset can be; OpenLineage producers that send none get "table".
DATASET_KINDS = ("table", "file", "stream", "feature_table", "model", "recommendations", "view")


class Dataset(Base):
    """A named dataset in a namespace; what it holds at each point is a :class:`DatasetVersion`."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace_id: Mapped[int] = mapped_column(ForeignKey("namespaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(1024))
    kind: Mapped[str] = mapped_column(String(32), default="table")
    # Storage location (table name, path or URI); OpenLineage's name often doubles as it.
    physical_name: Mapped[str | None] = mapped_column(Text)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id"))
    description: Mapped[str | None] = mapped_column(Text)
    # Latest version written; NULL until a producing run completes or a version is registered.
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", use_alter=True, ondelete="SET NULL")
    )
    # Latest dataset facets as received, unknown ones verbatim.
    facets: Mapped[dict] = mapped_column(default=dict)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When an output version was last written (None: never written by a run).
    last_modified_at: Mapped[datetime | None] = mapped_column()

    namespace = relationship("Namespace", lazy="joined")
    source = relationship("Source", lazy="joined")
    fields = relationship(
        "DatasetField",
        order_by="DatasetField.ordinal",
        cascade="all, delete-orphan",
        back_populates="dataset",
    )
    current_version = relationship("DatasetVersion", foreign_keys=[current_version_id])
    tags = relationship("Tag", secondary="dataset_tags", order_by="Tag.name")
    owners = relationship(
        "DatasetOwner", order_by="DatasetOwner.name", cascade="all, delete-orphan"
    )


class DatasetField(Base):
    """A column of a dataset's current schema, with the steward's description."""

    __tablename__ = "dataset_fields"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(512))
    type: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    # Position in the schema as last reported.
    ordinal: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    dataset = relationship("Dataset", back_populates="fields")
    tags = relationship("Tag", secondary="dataset_field_tags", order_by="Tag.name")


class DatasetVersion(Base):
    """An immutable snapshot of a dataset: schema, size and fingerprint as one run wrote it."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        Index("ix_dataset_versions_dataset_created", "dataset_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Public identifier, derived deterministically so re-sent events hit the same version.
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    # 1, 2, 3 ... per dataset, in order of creation.
    version: Mapped[int] = mapped_column()
    # Schema at this version: [{"name", "type", "description"}].
    schema_fields: Mapped[list] = mapped_column(default=list)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    # Content fingerprint from the producer (OpenLineage `version` facet), if reported.
    fingerprint: Mapped[str | None] = mapped_column(String(256))
    # Run that wrote this version; NULL for versions only observed as inputs or registered.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    lifecycle_state: Mapped[str | None] = mapped_column(String(32))
    # Dataset facets received with this version, verbatim.
    facets: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    dataset = relationship("Dataset", foreign_keys=[dataset_id])
    run = relationship("Run", foreign_keys=[run_id])


class Tag(Base):
    """A label on datasets or fields (e.g. ``pii.user_id``, ``gold``)."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetTag(Base):
    """Tag assignment on a dataset."""

    __tablename__ = "dataset_tags"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetFieldTag(Base):
    """Tag assignment on one field of a dataset."""

    __tablename__ = "dataset_field_tags"

    field_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_fields.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetOwner(Base):
    """An owner of a dataset (OpenLineage ownership facet: name and type)."""

    __tablename__ = "dataset_owners"
    __table_args__ = (UniqueConstraint("dataset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
