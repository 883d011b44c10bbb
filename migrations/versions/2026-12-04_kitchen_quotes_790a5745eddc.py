"""kitchen quotes: each brand's prep-time quote and busy flag, recorded by the load watch

Revision ID: 790a5745eddc
Revises: b7d4e2a9c613
Create Date: 2026-12-04 22:50:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

# revision identifiers, used by Alembic.
revision = "790a5745eddc"
down_revision = "b7d4e2a9c613"
branch_labels = None
depends_on = None


# No autocommit_block here: every revision runs inside the one migration transaction,
# so a failure on PostgreSQL rolls the whole upgrade back.
def upgrade() -> None:
    op.create_table(
        "kitchen_quotes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column("brand_id", sa.String(length=64), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("minutes", sa.Float(), nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kitchen_quotes")),
    )
    with op.batch_alter_table("kitchen_quotes", schema=None) as batch_op:
        batch_op.create_index("ix_kitchen_quotes_brand_at", ["brand_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kitchen_quotes", schema=None) as batch_op:
        batch_op.drop_index("ix_kitchen_quotes_brand_at")
    op.drop_table("kitchen_quotes")
