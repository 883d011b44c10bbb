"""The outbox: every status event an integration is to hear of, written in its change's transaction.

So no committed change lacks its event and no rolled-back change has one; the delivery workers
(delivery.py) send what is pending. Which integrations hear of an order: the one that created
it, and any whose webhook follows the order's brand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from kitchen.db import DriverStatement
from kitchen.orders.records import OrderRecord
from kitchen.webhooks.models import OutboxEvent, Webhook

# How long a process trusts its list of webhooks: a webhook set on another process is heard of
# within this; one set here, at once.
RELOAD_SECONDS = 5.0
INTEGRATION_ACTOR = "api-key:"


@dataclass(frozen=True, slots=True)
class Subscription:
    webhook_id: int
    integration: str  # the API key's name
    brand_ids: frozenset[str]


class EventOrder(msgspec.Struct, rename="camel", frozen=True):
    id: str
    brand_id: str
    channel_order_id: str
    status: str
    pickup_time: str


class EventKitchen(msgspec.Struct, rename="camel", frozen=True):
    brand_id: str
    quote_minutes: float
    busy: bool


class EventQuiet(msgspec.Struct, rename="camel", frozen=True, omit_defaults=True):
    """A brand whose orders stopped coming (kitchen/quiet.py); the figures only while it is quiet."""

    brand_id: str
    quiet: bool
    last_order_at: str
    silent_minutes: int | None = None
    usual_orders: int | None = None  # orders usually taken in that time


class Event(msgspec.Struct, rename="camel", frozen=True, omit_defaults=True):
    """What a receiver gets: `id` is the same on every retry of it."""

    id: str
    type: str  # order.received, order.preparing, order.ready, order.picked_up, order.cancelled, order.late,
    # kitchen.busy, kitchen.normal, brand.quiet, brand.normal
    occurred_at: str
    order: EventOrder | None = None
    kitchen: EventKitchen | None = None
    quiet: EventQuiet | None = None


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def order_event_type(status: str) -> str:
    return "order." + status.lower()


def integration_of(actor: str | None) -> str | None:
    """The API key's name in an actor ("api-key:wolt" → "wolt"); None for a tablet, a manager, the demo."""
    return actor[len(INTEGRATION_ACTOR) :] if actor and actor.startswith(INTEGRATION_ACTOR) else None


class Outbox:
    """One per process: the webhooks to tell (cached), and the writing of their events."""

    def __init__(self) -> None:
        self._subscriptions: tuple[Subscription, ...] = ()
        self._loaded_at: float | None = None
        # Told after a commit that wrote events (the delivery worker looks at once).
        self.wake: Callable[[], None] = lambda: None

    def forget(self) -> None:
        """A webhook was set or disabled here: read them again with the next change."""
        self._loaded_at = None

    async def subscriptions(self, conn: AsyncConnection) -> tuple[Subscription, ...]:
        if self._loaded_at is None or time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            rows = await conn.execute(
                select(Webhook.id, Webhook.integration, Webhook.brand_ids).where(Webhook.disabled_at.is_(None))
            )
            self._subscriptions = tuple(
                Subscription(webhook_id, integration, frozenset(msgspec.json.decode(brands or "[]", type=list[str])))
                for webhook_id, integration, brands in rows
            )
            self._loaded_at = time.monotonic()
        return self._subscriptions

    async def order_events(
        self, conn: AsyncConnection, order: OrderRecord, creator: str | None, at: datetime, type: str | None = None
    ) -> list[PendingEvent]:
        """The events `type` of `order` (as it is after the change; by default its new status:
        order.ready) makes, one for every webhook that follows it; written by the caller."""
        type = type or order_event_type(order.status)
        integration = integration_of(creator)
        targets = [
            s for s in await self.subscriptions(conn) if s.integration == integration or order.brand_id in s.brand_ids
        ]
        if not targets:
            return []
        event_order = EventOrder(
            order.id, order.brand_id, order.channel_order_id, order.status, _stamp(order.pickup_time)
        )
        return [_pending(s.webhook_id, f"order:{order.id}", type, at, order=event_order) for s in targets]

    async def order_event(
        self, conn: AsyncConnection, order: OrderRecord, creator: str | None, at: datetime, type: str | None = None
    ) -> int:
        """Write the events of `order_events`; how many."""
        return await write_events(conn, await self.order_events(conn, order, creator, at, type), at)

    async def kitchen_event(
        self, conn: AsyncConnection, brand_id: str, busy: bool, quote_minutes: float, at: datetime
    ) -> int:
        """kitchen.busy / kitchen.normal of a brand, for every webhook: any channel may sell the brand."""
        kitchen = EventKitchen(brand_id, round(quote_minutes, 1), busy)
        type = "kitchen.busy" if busy else "kitchen.normal"
        events = [
            _pending(s.webhook_id, f"brand:{brand_id}", type, at, kitchen=kitchen)
            for s in await self.subscriptions(conn)
        ]
        return await write_events(conn, events, at)

    async def quiet_event(
        self,
        conn: AsyncConnection,
        brand_id: str,
        last_order_at: datetime,
        at: datetime,
        silence: tuple[int, int] | None = None,
    ) -> int:
        """brand.quiet (with `silence`: its minutes, and the orders usually taken in them) or
        brand.normal of a brand, for every webhook: whichever channel the silence is on, each can
        look at its side of it."""
        minutes, usual = silence or (None, None)
        quiet = EventQuiet(brand_id, silence is not None, _stamp(last_order_at), minutes, usual)
        type = "brand.quiet" if quiet.quiet else "brand.normal"
        events = [
            _pending(s.webhook_id, f"quiet:{quiet.brand_id}", type, at, quiet=quiet)
            for s in await self.subscriptions(conn)
        ]
        return await write_events(conn, events, at)


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An outbox row to write: it is pending from the change's time on, not yet tried."""

    webhook_id: int
    event_id: str
    type: str
    stream: str
    body: str  # the JSON sent, exactly


def _pending(
    webhook_id: int,
    stream: str,
    type: str,
    at: datetime,
    order: EventOrder | None = None,
    kitchen: EventKitchen | None = None,
    quiet: EventQuiet | None = None,
) -> PendingEvent:
    event_id = str(uuid.uuid4())
    body = msgspec.json.encode(Event(event_id, type, _stamp(at), order, kitchen, quiet)).decode()
    return PendingEvent(webhook_id, event_id, type, stream, body)


async def write_events(conn: AsyncConnection, events: Sequence[PendingEvent], at: datetime) -> int:
    """Insert `events`, pending from `at`, in the caller's transaction (a PostgreSQL status change
    writes its events inside its one statement instead: stores/postgres.py); how many."""
    for event in events:
        row = {"webhook_id": event.webhook_id, "event_id": event.event_id, "type": event.type}
        await _INSERT_EVENT.rows(
            conn,
            row | {"stream": event.stream, "body": event.body, "created_at": at, "next_attempt_at": at, "attempts": 0},
        )
    return len(events)


# On a change's hot path: prebuilt, and on PostgreSQL run on the driver itself (kitchen/db.py).
_INSERT_EVENT = DriverStatement(
    insert(OutboxEvent)
    .values(
        {
            column: bindparam(column)
            for column in (
                "webhook_id",
                "event_id",
                "type",
                "stream",
                "body",
                "created_at",
                "next_attempt_at",
                "attempts",
            )
        }
    )
    .returning(OutboxEvent.id)
)
