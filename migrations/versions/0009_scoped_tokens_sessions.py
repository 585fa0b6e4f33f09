"""security: run-scoped worker tokens and server-side session versions

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:00:00

Why: a worker started through the API reported with a plain 24-hour pipeline token, good for any
job and outliving its run and the token of whoever started it. Its token now names the run it may
report (``scope_*``) and the principal it acts for (``on_behalf_of``): it is refused once that
principal is revoked or disabled, and revoked when the run ends. Logging out did not end a
session: a copied cookie stayed good until it expired. A user's ``session_version`` is now in
every session cookie, and logout bumps it.
Existing rows: tokens get NULL scope (unscoped, as before) and users session_version 0, so every
existing token and login keeps working. Downgrade drops the four columns.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scope_job_namespace", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("scope_job_name", sa.String(length=256), nullable=True))
        batch.add_column(sa.Column("scope_run_uuid", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("on_behalf_of", sa.String(length=256), nullable=True))
        batch.create_index(batch.f("ix_api_tokens_scope_run_uuid"), ["scope_run_uuid"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_version", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_version")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index(batch.f("ix_api_tokens_scope_run_uuid"))
        batch.drop_column("on_behalf_of")
        batch.drop_column("scope_run_uuid")
        batch.drop_column("scope_job_name")
        batch.drop_column("scope_job_namespace")
