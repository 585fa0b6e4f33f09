"""ingest: warnings about facets that broke their schema

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 10:00:00

Why: events from real producers (dbt, Spark, the Python client's examples) were refused with 422
because one facet broke its schema. The catalog now stores such an event as sent and leaves that
facet uninterpreted; ``event_warnings`` keeps, per stored event, which facet and why, for the
ingest response, the run page and the stewards' view per producer.
Existing rows: untouched. Every event stored before this revision passed the strict validation,
so none has a warning to backfill. Downgrade drops the table (the events themselves stay).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_hash", sa.String(length=64), nullable=False),
        sa.Column("producer", sa.Text(), nullable=False),
        sa.Column("facet_group", sa.String(length=8), nullable=False),
        sa.Column("facet", sa.Text(), nullable=True),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["event_hash"], ["lineage_events.event_hash"],
                                name=op.f("fk_event_warnings_event_hash_lineage_events"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_warnings")),
    )
    with op.batch_alter_table("event_warnings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_warnings_event_hash"), ["event_hash"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_warnings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_warnings_event_hash"))
    op.drop_table("event_warnings")
