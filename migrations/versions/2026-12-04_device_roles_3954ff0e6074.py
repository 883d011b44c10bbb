"""device roles: a pairing code, and the device paired with it, is a cook's tablet or a pickup screen

Revision ID: 3954ff0e6074
Revises: 7a4c2e9d1b36
Create Date: 2026-12-04 21:40:00+00:00

`role` is "board" (a cook's tablet: the boards) or "pickup" (a screen by the door that shows
couriers the orders being prepared and ready, /pickup, and nothing else). Every code and device
paired before this revision is a cook's tablet, as it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3954ff0e6074"
down_revision = "7a4c2e9d1b36"
branch_labels = None
depends_on = None


# No autocommit_block here: every revision runs inside the one migration transaction,
# so a failure on PostgreSQL rolls the whole upgrade back.
def upgrade() -> None:
    for table in ("pairing_codes", "tablets"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("role", sa.String(length=16), server_default="board", nullable=False))


def downgrade() -> None:
    for table in ("tablets", "pairing_codes"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("role")
