"""registry: model versions derived from another without training (compressed)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00

Why: `catalog ranker compress` makes a new version of a model from an existing one (int8
quantization, pruning) instead of training it. The promotion gate must compare such a version
with its source (it may not lose more than 2% of its source's validation NDCG@10), so
``model_derivations`` records, per derived version, the version it came from, the method, and
what its producer measured against the source (sizes, speed, metric changes). A table of its
own rather than columns of ``model_versions``: on SQLite, altering that table means copying it,
and dropping the old copy would cascade-delete the aliases pointing at its versions.
Existing rows: every existing version was trained, so the table starts empty. Downgrade drops
it (derived versions then look trained).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_derivations",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("source_version_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_versions.id"],
            name=op.f("fk_model_derivations_model_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_version_id"], ["model_versions.id"],
            name=op.f("fk_model_derivations_source_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("model_version_id", name=op.f("pk_model_derivations")),
    )


def downgrade() -> None:
    op.drop_table("model_derivations")
