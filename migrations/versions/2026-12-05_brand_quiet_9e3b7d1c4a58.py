"""brand quiet: a brand's quiet-channel alarm as the channels were last told it

Revision ID: 9e3b7d1c4a58
Revises: 5f1c8e3a9d27
Create Date: 2026-12-05 08:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

# revision identifiers, used by Alembic.
revision = "9e3b7d1c4a58"
down_revision = "5f1c8e3a9d27"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "brand_quiet",
        sa.Column("brand_id", sa.String(length=64), nullable=False),
        sa.Column("quiet", sa.Boolean(), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_brand_quiet")),
    )


def downgrade() -> None:
    op.drop_table("brand_quiet")
