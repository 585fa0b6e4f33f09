"""Pipeline executions the catalog started itself in background worker processes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models.base import Base, utcnow


class PipelineExecution(Base):
    """A pipeline run requested through the API; its progress is the OpenLineage run it reports.

    The worker reports like any outside pipeline, under ``run_uuid``; this row remembers the
    request (queued: not yet taken), which supervisor took it and when it last checked in, so a
    dead worker can be found and its run marked ABORT, and a cancellation.
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
    # Who asked for the run (``token:<name>`` or a user name): its worker's token acts for them.
    requested_by: Mapped[str | None] = mapped_column(String(256))
    # Where its worker reports (CATALOG_PUBLIC_URL or the server's own address at request time).
    report_url: Mapped[str | None] = mapped_column(Text)
    # The supervisor that took the run off the queue ("<host>:<pid>", a pool thread adds its
    # name); null while the run waits.
    taken_by: Mapped[str | None] = mapped_column(String(256))
    taken_at: Mapped[datetime | None] = mapped_column()
    # The supervisor's last check-in while its worker runs; one silent past the lease
    # (CATALOG_RUN_LEASE_SECONDS) died, and the reaper ends the run ABORT.
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    # The worker process's exit status (negative: killed by that signal); null while it runs.
    exit_code: Mapped[int | None] = mapped_column(Integer)
    # A cancellation through the API: who, and when (the run is ABORT from then on).
    cancelled_by: Mapped[str | None] = mapped_column(String(256))
    cancelled_at: Mapped[datetime | None] = mapped_column()
