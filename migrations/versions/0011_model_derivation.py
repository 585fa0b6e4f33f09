"""registry: a model version derived from another without training (compressed)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00

Why: `catalog ranker compress` makes a new version of a model from an existing one (int8
quantization, pruning) instead of training it. The promotion gate must compare such a version
with its source (it may not lose more than 2% of its source's validation NDCG@10), so the
version records which version it came from (``derived_from_id``) and how, with what its
producer measured against the source (``derivation``: method, sizes, speed, metric changes).
Existing rows: every existing version was trained, so both columns stay NULL. Downgrade drops
the two columns (derived versions then look trained).
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
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("derived_from_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column(
            "derivation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True))
        batch.create_foreign_key(batch.f("fk_model_versions_derived_from_id_model_versions"),
                                 "model_versions", ["derived_from_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_constraint(batch.f("fk_model_versions_derived_from_id_model_versions"),
                              type_="foreignkey")
        batch.drop_column("derivation")
        batch.drop_column("derived_from_id")
