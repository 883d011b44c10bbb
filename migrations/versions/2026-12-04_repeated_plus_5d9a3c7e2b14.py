"""an order may repeat a PLU on several lines: the unique (order_id, plu) becomes a plain index

Revision ID: 5d9a3c7e2b14
Revises: 8c2d4e6f1a07
Create Date: 2026-12-04 16:00:00+00:00

SQLite cannot drop a table's constraint in place: batch mode rebuilds order_items (create a
copy, drop the original, rename). With foreign keys on, dropping the original deletes its rows
first, and ON DELETE CASCADE takes the item history with them; so on SQLite the history is kept
in a temporary table across the rebuild and put back as it was (same ids, same rows).

The downgrade puts the unique constraint back; it fails, and changes nothing, while any order
has a PLU on two lines.
"""

from __future__ import annotations

from collections.abc import Callable

from alembic import op

# revision identifiers, used by Alembic.
revision = "5d9a3c7e2b14"
down_revision = "8c2d4e6f1a07"
branch_labels = None
depends_on = None


def _keeping_item_history(rebuild: Callable[[], None]) -> None:
    if op.get_bind().dialect.name != "sqlite":
        rebuild()
        return
    op.execute("CREATE TEMP TABLE kept_item_status_events AS SELECT * FROM item_status_events")
    rebuild()
    op.execute("DELETE FROM item_status_events")
    op.execute("INSERT INTO item_status_events SELECT * FROM kept_item_status_events")
    op.execute("DROP TABLE kept_item_status_events")


def upgrade() -> None:
    def rebuild() -> None:
        with op.batch_alter_table("order_items", schema=None) as batch_op:
            batch_op.drop_constraint("uq_order_items_order_plu", type_="unique")
            batch_op.create_index("ix_order_items_order_id", ["order_id"], unique=False)

    _keeping_item_history(rebuild)


def downgrade() -> None:
    def rebuild() -> None:
        with op.batch_alter_table("order_items", schema=None) as batch_op:
            batch_op.drop_index("ix_order_items_order_id")
            batch_op.create_unique_constraint("uq_order_items_order_plu", ["order_id", "plu"])

    _keeping_item_history(rebuild)
