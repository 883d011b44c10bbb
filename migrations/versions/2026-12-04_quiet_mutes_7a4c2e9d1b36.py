"""quiet mutes: a manager's answer to a brand's quiet-channel alarm

Revision ID: 7a4c2e9d1b36
Revises: 5d9a3c7e2b14
Create Date: 2026-12-04 20:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

# revision identifiers, used by Alembic.
revision = "7a4c2e9d1b36"
down_revision = "5d9a3c7e2b14"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quiet_mutes",
        sa.Column("brand_id", sa.String(length=64), nullable=False),
        sa.Column("seen_last_order_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("muted_until", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_quiet_mutes")),
    )


def downgrade() -> None:
    op.drop_table("quiet_mutes")
