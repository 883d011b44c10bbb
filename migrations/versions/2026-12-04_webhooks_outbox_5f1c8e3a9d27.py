"""webhooks and their outbox: signed status callbacks for the integrations

Revision ID: 5f1c8e3a9d27
Revises: 790a5745eddc
Create Date: 2026-12-04 23:05:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

# revision identifiers, used by Alembic.
revision = "5f1c8e3a9d27"
down_revision = "790a5745eddc"
branch_labels = None
depends_on = None

PENDING = "delivered_at IS NULL AND dead_at IS NULL"


def _id() -> sa.Column[int]:
    return sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        sa.Identity(always=False, start=1, increment=1),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "webhooks",
        _id(),
        sa.Column("integration", sa.String(length=80), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("brand_ids", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("disabled_at", DateTimeUTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        sa.UniqueConstraint("integration", name=op.f("uq_webhooks_integration")),
    )
    op.create_table(
        "outbox_events",
        _id(),
        sa.Column("webhook_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("stream", sa.String(length=72), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("next_attempt_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_until", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("delivered_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("dead_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name=op.f("fk_outbox_events_webhook_id_webhooks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_events_event_id")),
    )
    op.create_index(
        "ix_outbox_events_pending",
        "outbox_events",
        ["webhook_id", "stream", "id"],
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )
    op.create_index("ix_outbox_events_webhook_created", "outbox_events", ["webhook_id", "created_at"])
    op.create_table(
        "brand_busy",
        sa.Column("brand_id", sa.String(length=64), nullable=False),
        sa.Column("busy", sa.Boolean(), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_brand_busy")),
    )
    op.create_table(
        "late_orders",
        _id(),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_late_orders_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_late_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_late_orders_order_id")),
    )


def downgrade() -> None:
    op.drop_table("late_orders")
    op.drop_table("brand_busy")
    op.drop_index("ix_outbox_events_webhook_created", table_name="outbox_events")
    op.drop_index("ix_outbox_events_pending", table_name="outbox_events")
    op.drop_table("outbox_events")
    op.drop_table("webhooks")
