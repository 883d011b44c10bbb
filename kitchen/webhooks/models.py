"""Status webhooks: where each integration hears back, and the outbox of what it is still to hear."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.base import DefaultBase, IdentityBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from kitchen.auth.models import NAME_LENGTH
from kitchen.orders.models import ID_LENGTH

URL_LENGTH = 2000
# An event not yet delivered nor given up on: what the delivery workers look for.
PENDING = "delivered_at IS NULL AND dead_at IS NULL"


class Webhook(IdentityBase):
    """An integration's callback: the orders it created (and those of `brand_ids`) are told of here."""

    __tablename__ = "webhooks"

    integration: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)  # the API key's name
    url: Mapped[str] = mapped_column(String(URL_LENGTH))
    # Signs every request (HMAC-SHA256). Kept as is: the kitchen must sign with it, so it cannot be a hash.
    secret: Mapped[str] = mapped_column(String(100))
    brand_ids: Mapped[str] = mapped_column(Text, server_default=text("'[]'"))  # JSON list: other brands it follows
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))


class OutboxEvent(IdentityBase):
    """One event for one webhook, written in the transaction of the change it tells of.

    `stream` is what must arrive in order ("order:<id>", "brand:<id>"): a later event of a stream
    waits while an earlier one is pending. `event_id` is stable across retries: receivers
    de-duplicate on it.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_pending",
            "webhook_id",
            "stream",
            "id",
            postgresql_where=text(PENDING),
            sqlite_where=text(PENDING),
        ),
        Index("ix_outbox_events_webhook_created", "webhook_id", "created_at"),
    )

    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    stream: Mapped[str] = mapped_column(String(ID_LENGTH + 8))
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, exactly; signed as is
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # A delivery worker has it until then (a worker that died mid-send lets it go this way).
    claimed_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    dead_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))


class BrandBusy(DefaultBase):
    """A brand's busy flag as the channels were last told it: one row per brand, so when several
    processes see a flip, one of them tells it (the others' conditional update finds it done)."""

    __tablename__ = "brand_busy"

    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    busy: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class BrandQuiet(DefaultBase):
    """A brand's quiet-channel alarm as the channels were last told it (kitchen/quiet.py): one row
    per brand, told once across processes the way `BrandBusy` is."""

    __tablename__ = "brand_quiet"

    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    quiet: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


class LateOrder(IdentityBase):
    """An order whose pickup time passed before it was READY: told once (the key makes it once)."""

    __tablename__ = "late_orders"

    order_id: Mapped[str] = mapped_column(String(ID_LENGTH), ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
