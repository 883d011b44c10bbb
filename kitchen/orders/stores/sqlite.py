"""The SQLite store: the planner's rows written statement by statement with SQLAlchemy Core.

SQLite cannot modify data in a CTE; it runs in-process, so a round trip costs little and the
same rows as PostgreSQL's one statement go out one statement each.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, case, insert, null, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kitchen.db import DriverStatement
from kitchen.orders.changes import NewOrderChange, StatusChange
from kitchen.orders.models import ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.read import (
    ORDER_COLUMNS,
    ORDER_PARTS,
    ORDER_ROW,
    SAME_ORDER,
    add_parts,
    item_values,
    new_order_values,
    order_record,
)
from kitchen.orders.records import OrderRecord
from kitchen.orders.status import OrderStatus
from kitchen.orders.stores import Notice
from kitchen.orders.summaries.rows import SummaryRows
from kitchen.orders.summaries.tables import CUSTOMERS, HISTOGRAMS, QUARTER_HOURS, SAMPLES
from kitchen.webhooks.outbox import PendingEvent, write_events

# SQLite locks the whole database for writing, and a transaction takes that lock with its first
# write: this UPDATE changes nothing (`updated_at` is named so its onupdate does not fire) but
# makes concurrent changes run one after another, each reading what the one before committed.
_LOCK_ORDER = (
    update(Order)
    .where(Order.id == bindparam("order_id"))
    .values(version=Order.version, updated_at=Order.updated_at)
    .returning(*ORDER_COLUMNS)
)
_SAME_ORDER = DriverStatement(SAME_ORDER)
_SET_ITEM_STATUS = update(OrderItem).where(OrderItem.id == bindparam("item_id")).values(status=bindparam("new_status"))
_ITEM_EVENT = insert(ItemStatusEvent)
# A "seen" belongs to a cancellation: an order that is no longer cancelled (brought back) has none.
_CHANGED_ORDER = (
    update(Order)
    .where(Order.id == bindparam("order_id"))
    .values(
        status=bindparam("new_status"),
        updated_at=bindparam("now"),
        last_change_source=bindparam("source"),
        version=Order.version + 1,
        cancel_acknowledged_at=case(
            (bindparam("new_status") == OrderStatus.CANCELLED, Order.cancel_acknowledged_at), else_=null()
        ),
    )
)
_ORDER_EVENT = insert(OrderStatusEvent)


async def _notify(conn: AsyncConnection, notice: Notice | None) -> None:
    # The SQLite feed publishes after the commit and gives no notice; one given anyway is sent as
    # asked (and fails, SQLite having no pg_notify): a change never commits without its notice.
    if notice is not None:
        channel, message = notice
        await conn.execute(text("SELECT pg_notify(:channel, :message)"), {"channel": channel, "message": message})


async def _write_summaries(conn: AsyncConnection, rows: SummaryRows) -> None:
    if rows.samples:
        await conn.execute(insert(SAMPLES), rows.samples)
        await conn.execute(HISTOGRAMS.upsert(rows.histograms))
    if rows.quarters:
        await conn.execute(QUARTER_HOURS.upsert(rows.quarters))
    for customer in rows.customers:
        await conn.execute(CUSTOMERS.upsert([customer]))


class SQLiteStore:
    """Orders on SQLite (the embedded default): a few Core statements per read and per change."""

    async def _read_parts(self, conn: AsyncConnection, order: OrderRecord) -> OrderRecord:
        return add_parts(order, await ORDER_PARTS.rows(conn, {"order_id": order.id}))

    async def read_order(self, conn: AsyncConnection, order_id: str) -> OrderRecord | None:
        row = (await conn.execute(ORDER_ROW, {"order_id": order_id})).first()
        return None if row is None else await self._read_parts(conn, order_record(row))

    async def lock_order(self, conn: AsyncConnection, order_id: str) -> OrderRecord | None:
        locked = (await conn.execute(_LOCK_ORDER, {"order_id": order_id})).first()
        return None if locked is None else await self._read_parts(conn, order_record(locked))

    async def find_same(
        self, conn: AsyncConnection, order_id: str | None, brand_id: str, channel_order_id: str
    ) -> list[tuple[str, str]]:
        rows = await _SAME_ORDER.rows(
            conn, {"id": order_id, "brand_id": brand_id, "channel_order_id": channel_order_id}
        )
        return [(found, stored_hash) for found, stored_hash in rows]

    async def write_new_order(self, conn: AsyncConnection, new: NewOrderChange, notice: Notice | None) -> list[int]:
        order = new.order
        await conn.execute(insert(Order).values(id=order.id, **new_order_values(order)))
        item_ids: list[int] = []
        for item in order.items:  # one by one: the ids follow the order the channel sent the items in
            inserted = insert(OrderItem).values(order_id=order.id, status=new.item_status, **item_values(item))
            item_ids.append((await conn.execute(inserted.returning(OrderItem.id))).scalar_one())
        item_event = {"order_id": order.id, "status": new.item_status, "at": order.created_at}
        await conn.execute(
            _ITEM_EVENT,
            [{**item_event, "item_id": item_id, "source": new.source, "actor": new.actor} for item_id in item_ids],
        )
        await conn.execute(
            _ORDER_EVENT,
            [
                {"order_id": order.id, "status": status, "at": at, "source": source, "actor": actor}
                for status, at, source, actor in new.order_events
            ],
        )
        await _write_summaries(conn, new.summaries)
        await _notify(conn, notice)
        return item_ids

    async def write_status_change(
        self, conn: AsyncConnection, change: StatusChange, notice: Notice | None, events: Sequence[PendingEvent] = ()
    ) -> None:
        writes = change.writes
        now, source, actor = writes.now, writes.source, writes.actor
        # The stays end before the new ones begin: the database allows one open stay per stream.
        if writes.ended_item_events:
            ended = ItemStatusEvent.id.in_(writes.ended_item_events)
            await conn.execute(update(ItemStatusEvent).where(ended).values(ended_at=now))
        if writes.ended_order_events:
            ended = OrderStatusEvent.id.in_(writes.ended_order_events)
            await conn.execute(update(OrderStatusEvent).where(ended).values(ended_at=now))
        if writes.items:
            await conn.execute(_SET_ITEM_STATUS, [{"item_id": i, "new_status": s} for i, s in writes.items])
            event = {"order_id": writes.order_id, "at": now, "source": source, "actor": actor}
            await conn.execute(_ITEM_EVENT, [{**event, "item_id": i, "status": s} for i, s in writes.items])
        if writes.order_entered:
            entered = {"order_id": writes.order_id, "status": writes.order_status, "at": now, "source": source}
            await conn.execute(_ORDER_EVENT, {**entered, "actor": actor, "reason": writes.reason})
        await conn.execute(
            _CHANGED_ORDER,
            {"order_id": writes.order_id, "new_status": writes.order_status, "now": now, "source": source},
        )
        await _write_summaries(conn, change.summaries)
        await write_events(conn, events, now)
        await _notify(conn, notice)

    async def write_acknowledgement(self, conn: AsyncConnection, order: OrderRecord, notice: Notice | None) -> None:
        await conn.execute(
            update(Order)
            .where(Order.id == order.id)
            .values(cancel_acknowledged_at=order.cancel_acknowledged_at, updated_at=order.updated_at)
        )
        await _notify(conn, notice)
