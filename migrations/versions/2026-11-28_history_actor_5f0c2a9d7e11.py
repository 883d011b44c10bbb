"""history: who made each change (actor)

Revision ID: 5f0c2a9d7e11
Revises: 63a629645fe4
Create Date: 2026-11-28 02:12:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "5f0c2a9d7e11"
down_revision = "63a629645fe4"
branch_labels = None
depends_on = None

TABLES = ("order_status_events", "item_status_events")


# No autocommit_block here: every revision runs inside the one migration transaction,
# so a failure on PostgreSQL rolls the whole upgrade back.
def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("actor", sa.String(length=100), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("actor")
