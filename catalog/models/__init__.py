"""Mapped classes; importing this package registers every table on ``Base.metadata``."""

from catalog.models.audit import AuditEntry
from catalog.models.auth import ApiToken, LoginAttempt, User
from catalog.models.base import Base
from catalog.models.dataset import (
    Dataset,
    DatasetField,
    DatasetFieldTag,
    DatasetOwner,
    DatasetTag,
    DatasetVersion,
    Tag,
)
from catalog.models.governance import ColumnClassification, PolicyExemption
from catalog.models.job import Job, JobVersion
from catalog.models.lineage import ColumnLineage, EventWarning, LineageEdge, LineageEvent
from catalog.models.model import MLModel, ModelAlias, ModelDerivation, ModelVersion
from catalog.models.namespace import Namespace, Source
from catalog.models.pipeline import PipelineExecution
from catalog.models.quality import ColumnProfile, DatasetProfile, QualityAssertion
from catalog.models.run import Run, RunIO, RunStateChange

__all__ = [
    "ApiToken",
    "ColumnClassification",
    "LoginAttempt",
    "PolicyExemption",
    "User",
    "AuditEntry",
    "Base",
    "ColumnLineage",
    "ColumnProfile",
    "Dataset",
    "DatasetField",
    "DatasetFieldTag",
    "DatasetOwner",
    "DatasetProfile",
    "DatasetTag",
    "DatasetVersion",
    "EventWarning",
    "Job",
    "JobVersion",
    "LineageEdge",
    "LineageEvent",
    "MLModel",
    "ModelAlias",
    "ModelDerivation",
    "ModelVersion",
    "Namespace",
    "PipelineExecution",
    "QualityAssertion",
    "Run",
    "RunIO",
    "RunStateChange",
    "Source",
    "Tag",
]
