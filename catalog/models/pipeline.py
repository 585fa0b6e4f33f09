"""Pipeline executions the catalog started itself in background worker processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base, utcnow


class PipelineExecution(Base):
    """A pipeline run requested through the API; its progress is the OpenLineage run it reports.

    The worker reports like any outside pipeline, under ``run_uuid``; this row only remembers how
    it was started, so a stale worker can be found and its run marked ABORT.
    """

    __tablename__ = "pipeline_executions"

    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(256), index=True)
    # Run id of the pipeline's parent run in lineage (runs.uuid once the worker reports).
    run_uuid: Mapped[str] = mapped_column(String(36), unique=True)
    # Arguments the worker was started with (source, events, workdir...).
    params: Mapped[dict] = mapped_column(default=dict)
    # OS process id of the worker on the catalog's host.
    pid: Mapped[int | None] = mapped_column(Integer)
    log_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
