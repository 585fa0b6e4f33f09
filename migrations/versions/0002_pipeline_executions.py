"""pipeline executions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:35:21.060396

Why: the catalog starts pipelines itself (POST /api/v1/pipelines/<name>/runs) in background
worker processes; it remembers how each was started so stale workers can be found.
Existing rows: untouched (a new table). Downgrade drops the table and forgets those workers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipeline_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("run_uuid", sa.String(length=36), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_executions")),
        sa.UniqueConstraint("run_uuid", name=op.f("uq_pipeline_executions_run_uuid")),
    )
    with op.batch_alter_table("pipeline_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_executions_pipeline"), ["pipeline"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pipeline_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_executions_pipeline"))

    op.drop_table("pipeline_executions")
