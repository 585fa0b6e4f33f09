"""ML models, their versions and aliases: the registry, tied to lineage through training runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models.base import Base, utcnow


class MLModel(Base):
    """A registered model name; its versions are produced by training runs."""

    __tablename__ = "ml_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    # The dataset (kind "model") whose versions are this model's artifacts in lineage.
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    versions = relationship(
        "ModelVersion", order_by="ModelVersion.version", back_populates="model"
    )
    aliases = relationship("ModelAlias", order_by="ModelAlias.alias")


class ModelVersion(Base):
    """One artifact, trained or derived from another version: settings, metrics, file, checksum."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("ml_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column()
    # Training run; its inputs are the exact dataset versions the model learned from.
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    # The artifact as a dataset version (kind "model"), so lineage flows through the model.
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    artifact_path: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(256))
    hyperparameters: Mapped[dict] = mapped_column(default=dict)
    metrics: Mapped[dict] = mapped_column(default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model = relationship("MLModel", back_populates="versions")
    run = relationship("Run")
    dataset_version = relationship("DatasetVersion")
    # How it was made from another version without training; None for a trained version.
    derivation = relationship("ModelDerivation", uselist=False,
                              foreign_keys="ModelDerivation.model_version_id")

    @property
    def derived_from(self) -> ModelVersion | None:
        """The version this one was made from without training; None for a trained one."""
        return self.derivation.source if self.derivation is not None else None


class ModelDerivation(Base):
    """A version made from another of the same model without training (compressed, say).

    Which one, how, and what its producer measured against it.
    """

    __tablename__ = "model_derivations"

    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    # The source version; the derived version's run read its artifact.
    source_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    method: Mapped[str] = mapped_column(String(64))  # e.g. "int8", "prune"
    # As the producer sent them: scalars (amount, sparsity, ...) and {"source", "derived"} pairs
    # (fileBytes, usersPerSecond, validation metrics, ...).
    details: Mapped[dict] = mapped_column(default=dict)

    source = relationship("ModelVersion", foreign_keys=[source_version_id])


class ModelAlias(Base):
    """A movable name (``production``, ``candidate``) pointing at one model version."""

    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("ml_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    model_version = relationship("ModelVersion")
