"""order notes and allergens; item notes, modifiers and allergens (JSON lists as text)

Revision ID: 8c2d4e6f1a07
Revises: 3b7e1f9a5c20
Create Date: 2026-12-04 13:20:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "8c2d4e6f1a07"
down_revision = "3b7e1f9a5c20"
branch_labels = None
depends_on = None

# Only nullable columns are added: SQLite adds them in place, without rebuilding the tables
# (a rebuild of order_items would cascade into the item history with foreign keys on).
_COLUMNS = {"orders": ("note", "allergens"), "order_items": ("note", "modifiers", "allergens")}


def upgrade() -> None:
    for table, columns in _COLUMNS.items():
        for column in columns:
            op.add_column(table, sa.Column(column, sa.Text(), nullable=True))


def downgrade() -> None:
    for table, columns in _COLUMNS.items():
        for column in columns:
            op.drop_column(table, column)
