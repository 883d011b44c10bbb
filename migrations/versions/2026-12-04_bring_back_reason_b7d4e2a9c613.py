"""bring back: why a finished order was brought back (reason), and the index its list reads

Revision ID: b7d4e2a9c613
Revises: 3e7b9c1d5a20
Create Date: 2026-12-04 22:10:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7d4e2a9c613"
down_revision = "3e7b9c1d5a20"
branch_labels = None
depends_on = None

# As in kitchen/orders/models.py, written out: a migration must not change when the models do.
FINAL_SERVER_STAY = "ended_at IS NULL AND source <> 'channel' AND status IN ('PICKED_UP', 'CANCELLED')"


# No autocommit_block here: every revision runs inside the one migration transaction,
# so a failure on PostgreSQL rolls the whole upgrade back.
def upgrade() -> None:
    with op.batch_alter_table("order_status_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_order_status_events_final_at",
        "order_status_events",
        ["at"],
        postgresql_where=sa.text(FINAL_SERVER_STAY),
        sqlite_where=sa.text(FINAL_SERVER_STAY),
    )


def downgrade() -> None:
    op.drop_index("ix_order_status_events_final_at", table_name="order_status_events")
    with op.batch_alter_table("order_status_events", schema=None) as batch_op:
        batch_op.drop_column("reason")
