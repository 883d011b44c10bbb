"""board taps: each board's own undo stack

Revision ID: 3e7b9c1d5a20
Revises: 3954ff0e6074
Create Date: 2026-12-04 22:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

# revision identifiers, used by Alembic.
revision = "3e7b9c1d5a20"
down_revision = "3954ff0e6074"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "board_taps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column("device", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("closed_at", DateTimeUTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_board_taps_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_taps")),
    )
    op.create_index("ix_board_taps_device_at", "board_taps", ["device", "at"])


def downgrade() -> None:
    op.drop_index("ix_board_taps_device_at", table_name="board_taps")
    op.drop_table("board_taps")
