"""governance: users, API tokens, login attempts, column classifications, policy exemptions

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-28 05:00:00

Why: the catalog authenticates every request (tokens for machines, logins for people), rate-limits
logins across gunicorn workers (attempts are rows, not process memory), tags columns with
sensitivity classifications and records the exemptions that let a model train on them.
Existing rows: untouched (new, empty tables). A deployment upgraded to this revision has no users
or tokens: create them with `catalog users create` / `catalog tokens create`.
Downgrade drops the five tables (and every user, token and classification with them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_login_attempts_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_name_at", ["name", "at"], unique=False)
        batch_op.create_index("ix_login_attempts_addr_at", ["remote_addr", "at"], unique=False)
    op.create_table(
        "column_classifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=512), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"],
                                name=op.f("fk_column_classifications_dataset_id_datasets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_column_classifications")),
        sa.UniqueConstraint("dataset_id", "field", "tag",
                            name=op.f("uq_column_classifications_dataset_id_field_tag")),
    )
    with op.batch_alter_table("column_classifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_column_classifications_dataset_id"), ["dataset_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_column_classifications_tag"), ["tag"], unique=False)
    op.create_table(
        "policy_exemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("tag", sa.String(length=128), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=512), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("approved_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"],
                                name=op.f("fk_policy_exemptions_dataset_id_datasets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_exemptions")),
    )
    with op.batch_alter_table("policy_exemptions", schema=None) as batch_op:
        batch_op.create_index("ix_policy_exemptions_model", ["model_name", "tag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("policy_exemptions", schema=None) as batch_op:
        batch_op.drop_index("ix_policy_exemptions_model")
    op.drop_table("policy_exemptions")
    with op.batch_alter_table("column_classifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_column_classifications_tag"))
        batch_op.drop_index(batch_op.f("ix_column_classifications_dataset_id"))
    op.drop_table("column_classifications")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_addr_at")
        batch_op.drop_index("ix_login_attempts_name_at")
    op.drop_table("login_attempts")
    op.drop_table("api_tokens")
    op.drop_table("users")
