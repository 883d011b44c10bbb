"""An order that becomes late (its pickup time passed, not READY) is told once to its webhooks.

Every process looks every `KITCHEN_WEBHOOK_LATE_SECONDS`; `late_orders` has one row per order (a unique key), so
two processes that see the same order late at once tell it once: the second's insert finds the
row and writes nothing. The row and the events are one transaction.
"""

from __future__ import annotations

from sqlalchemy import exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kitchen.board.rules import stale_before
from kitchen.clock import Clock
from kitchen.every import Every
from kitchen.orders.models import Order, OrderStatusEvent
from kitchen.orders.read import ORDER_COLUMNS, order_record
from kitchen.orders.status import OrderStatus
from kitchen.settings import Settings
from kitchen.webhooks.models import LateOrder
from kitchen.webhooks.outbox import Outbox

BATCH = 200


class LateWatch:
    def __init__(self, engine: AsyncEngine, clock: Clock, settings: Settings, outbox: Outbox) -> None:
        self.engine = engine
        self.clock = clock
        self.settings = settings
        self.outbox = outbox
        self.every = Every(settings.webhook_late_seconds, self.tell_late, "late-orders", at_once=False)

    async def start(self) -> None:
        await self.every.start()

    async def stop(self) -> None:
        await self.every.stop()

    async def tell_late(self) -> int:
        """Write order.late for each open order past its pickup time not yet told; how many."""
        now = self.clock()
        told = 0
        # Who created each order (its first stay not from the channel's own history): one column
        # of the same select, not a query per order.
        creator = (
            select(OrderStatusEvent.actor)
            .where(OrderStatusEvent.order_id == Order.id, OrderStatusEvent.source != "channel")
            .order_by(OrderStatusEvent.id)
            .limit(1)
            .scalar_subquery()
        )
        async with self.engine.connect() as conn:
            if not await self.outbox.subscriptions(conn):
                return 0
            rows = await conn.execute(
                select(*ORDER_COLUMNS, creator.label("creator"))
                .where(
                    Order.status.in_((OrderStatus.RECEIVED, OrderStatus.PREPARING)),
                    Order.pickup_time < now,
                    Order.pickup_time > stale_before(now, self.settings.stale_after),
                    ~exists().where(LateOrder.order_id == Order.id),
                )
                .order_by(Order.pickup_time)
                .limit(BATCH)
            )
            late = [(order_record(tuple(row)[:-1]), row.creator) for row in rows]
        for order, created_by in late:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(insert(LateOrder).values(order_id=order.id, at=now))
                    told += await self.outbox.order_event(conn, order, created_by, now, "order.late")
            except IntegrityError:
                continue  # another process told it first
        if told:
            self.outbox.wake()
        return told
