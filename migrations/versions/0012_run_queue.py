"""pipeline executions: queued, taken, supervised, cancelled

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10 09:00:00

Why: runs started through the API now go through a queue (Redis with RQ, or the server's own
supervised pool) to a worker that takes them: the row remembers who asked (the worker's token is
minted, acting for them, when the run is taken), where the worker reports, which supervisor took
the run and when it last checked in (a silent one died: the reaper ends its run), the worker's
exit status, and a cancellation.
Existing rows: every row written before this revision had its worker started at once, so it is
marked taken (``taken_at`` = ``created_at``, by ``launcher``): no supervisor takes it again, and
with no heartbeat it is left to the stale-run reaper as before. Downgrade drops the columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("requested_by", "report_url", "taken_by", "taken_at", "heartbeat_at", "exit_code",
           "cancelled_by", "cancelled_at")


def upgrade() -> None:
    with op.batch_alter_table("pipeline_executions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requested_by", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("report_url", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("taken_by", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("exit_code", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancelled_by", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE pipeline_executions SET taken_at = created_at, taken_by = 'launcher'")


def downgrade() -> None:
    with op.batch_alter_table("pipeline_executions", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
