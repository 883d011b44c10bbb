"""Orders, their items and the append-only status history of both."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from advanced_alchemy.base import DefaultBase, IdentityBase
from advanced_alchemy.mixins import AuditColumns
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

ID_LENGTH = 64
STATUS_LENGTH = 16
ACTOR_LENGTH = 100
REASON_LENGTH = 200  # why a finished order was brought back: a line of text


class EventSource(StrEnum):
    """Where a status event came from. Only CHANNEL events are not stamped by our clock."""

    CHANNEL = "channel"  # reported in the create payload; kept, never used for analytics
    API = "api"
    BOARD = "board"
    DEMO = "demo"


# A server-stamped stay that has not ended: the status its order or item is in now. The database
# allows one per stream, so no code path can leave a stream in two statuses at once.
OPEN_SERVER_STAY = "ended_at IS NULL AND source <> 'channel'"
# The stay an order is in once picked up or cancelled here: what the board's Recent list reads.
FINAL_SERVER_STAY = f"{OPEN_SERVER_STAY} AND status IN ('PICKED_UP', 'CANCELLED')"
# A stay never ends before it began (the service stamps every change of an order after the last).
STAY_ENDS_AFTER_IT_BEGINS = "ended_at IS NULL OR ended_at >= at"


def history_invariants(stream: str) -> tuple[CheckConstraint | Index, ...]:
    """What the database itself refuses in one history table, whose stream column is `stream`."""
    table = "order_status_events" if stream == "order_id" else "item_status_events"
    return (
        CheckConstraint(STAY_ENDS_AFTER_IT_BEGINS, name="stay_ends_after_it_begins"),
        Index(
            f"uq_{table}_one_open_stay",
            stream,
            unique=True,
            postgresql_where=text(OPEN_SERVER_STAY),
            sqlite_where=text(OPEN_SERVER_STAY),
        ),
    )


class StatusEventColumns:
    """What every history row has, whether it belongs to an order or to an item.

    `ended_at` is set when the next server event of the same stream is written, so the
    time spent in a status is a column difference, not a window over the stream.
    """

    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    source: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    # Who made the change: "api-key:wolt", "tablet:Grill", "manager:anna"; None for channel history.
    actor: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))


class Order(DefaultBase, AuditColumns):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("brand_id", "channel_order_id", name="uq_orders_brand_channel_order"),
        Index("ix_orders_created_at", "created_at"),
        Index("ix_orders_status_pickup_time", "status", "pickup_time"),
        Index("ix_orders_account", "account"),
        # Room on the page for the next version of the row, so a change can update it in place.
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    account: Mapped[str] = mapped_column(String(ID_LENGTH))
    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    channel_order_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_phone: Mapped[str | None] = mapped_column(String(40))
    delivery_street: Mapped[str | None] = mapped_column(String(200))
    delivery_city: Mapped[str | None] = mapped_column(String(100))
    delivery_postal_code: Mapped[str | None] = mapped_column(String(20))
    pickup_time: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    channel_created_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    # Bumped by every status change; a change that finds it moved while it waited for the
    # order's lock reads the order again (orders/read.py).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # sha256 of the create payload as received: tells a retried POST from a conflicting one.
    payload_hash: Mapped[str] = mapped_column(String(64))
    # Who made the last status change (updated_at says when): the board offers undo only for its own.
    last_change_source: Mapped[str | None] = mapped_column(String(STATUS_LENGTH))
    # A cancelled order stays on the boards, struck through, until a cook acknowledges it.
    cancel_acknowledged_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    # The channel's note for the whole order, and its allergens as a JSON list (orders/lines.py).
    note: Mapped[str | None] = mapped_column(Text)
    allergens: Mapped[str | None] = mapped_column(Text)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan", lazy="raise"
    )
    history: Mapped[list[OrderStatusEvent]] = relationship(
        order_by="OrderStatusEvent.id", cascade="all, delete-orphan", lazy="raise"
    )


class OrderItem(IdentityBase):
    __tablename__ = "order_items"
    # Not unique by PLU: an order may have the same burger on two lines, one without onions.
    __table_args__ = (Index("ix_order_items_order_id", "order_id"),)

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    plu: Mapped[str] = mapped_column(String(ID_LENGTH))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    # As the channel sent them; modifiers and allergens are JSON lists (orders/lines.py).
    note: Mapped[str | None] = mapped_column(Text)
    modifiers: Mapped[str | None] = mapped_column(Text)
    allergens: Mapped[str | None] = mapped_column(Text)

    order: Mapped[Order] = relationship(back_populates="items", lazy="raise")
    history: Mapped[list[ItemStatusEvent]] = relationship(
        order_by="ItemStatusEvent.id", cascade="all, delete-orphan", lazy="raise"
    )


class OrderStatusEvent(StatusEventColumns, IdentityBase):
    """One status an order entered."""

    __tablename__ = "order_status_events"
    __table_args__ = (
        Index("ix_order_status_events_order_at", "order_id", "at"),
        # The board's Recent list: orders finished lately, by when. Only open final stays are in
        # it (one entry per pickup or cancellation); `ended_at` is in the open-stay index's
        # predicate already, so ending a stay costs what it did.
        Index(
            "ix_order_status_events_final_at",
            "at",
            postgresql_where=text(FINAL_SERVER_STAY),
            sqlite_where=text(FINAL_SERVER_STAY),
        ),
        *history_invariants("order_id"),
        # Each row is updated once (ended_at): room on the page keeps its new version beside the old.
        {"postgresql_with": {"fillfactor": 85}},
    )

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    # Why the change was made, where one is required: bringing a finished order back. Else None.
    reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))


class ItemStatusEvent(StatusEventColumns, IdentityBase):
    """One status an item entered; `order_id` is repeated so an order's item history loads in one query."""

    __tablename__ = "item_status_events"
    __table_args__ = (
        Index("ix_item_status_events_item_at", "item_id", "at"),
        Index("ix_item_status_events_order_id", "order_id"),
        *history_invariants("item_id"),
        # Each row is updated once (ended_at): room on the page keeps its new version beside the old.
        {"postgresql_with": {"fillfactor": 85}},
    )

    item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
