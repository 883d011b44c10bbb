"""history and orders: leave room on each page for the row's next version (fillfactor)

Revision ID: 9e2b7f41c6d0
Revises: 7c41d2e8a9b3
Create Date: 2026-11-28 05:00:00+00:00

Every history row is updated once, when its stay ends (`ended_at`), and an order row on every
change. With full pages PostgreSQL must put the new version on another page and add it to every
index of the table; with room left on the page it can update in place (a HOT update) and touch
no index. Only new pages are affected; SQLite has no such setting.
"""

from __future__ import annotations

from alembic import op

# revision identifiers, used by Alembic.
revision = "9e2b7f41c6d0"
down_revision = "7c41d2e8a9b3"
branch_labels = None
depends_on = None

FILLFACTOR = {"item_status_events": 85, "order_status_events": 85, "orders": 80}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, fillfactor in FILLFACTOR.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in FILLFACTOR:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
