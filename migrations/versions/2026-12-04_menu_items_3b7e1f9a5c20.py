"""menu items: which station cooks a brand's PLU, and its prep time

Revision ID: 3b7e1f9a5c20
Revises: e4b8d2f6a1c3
Create Date: 2026-12-04 05:20:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

# revision identifiers, used by Alembic.
revision = "3b7e1f9a5c20"
down_revision = "e4b8d2f6a1c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "menu_items",
        sa.Column("brand_id", sa.String(length=64), nullable=False),
        sa.Column("plu", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("station", sa.String(length=40), nullable=False),
        sa.Column("prep_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "prep_seconds IS NULL OR prep_seconds BETWEEN 0 AND 86400", name=op.f("ck_menu_items_prep_within_a_day")
        ),
        sa.CheckConstraint("station <> ''", name=op.f("ck_menu_items_station_named")),
        sa.PrimaryKeyConstraint("brand_id", "plu", name=op.f("pk_menu_items")),
    )
    op.create_index(op.f("ix_menu_items_station"), "menu_items", ["station"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_menu_items_station"), table_name="menu_items")
    op.drop_table("menu_items")
