"""Reading an order for the API straight from rows: three statements, no ORM objects.

GET /api/orders/{id} is the hottest read; building ORM objects (with their identity map and
relationship bookkeeping) cost more than the queries themselves, and a read changes nothing.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.orders.models import ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.schemas import Customer, DeliveryAddress, HistoryEntry, ItemView, OrderView

_ORDER_COLUMNS = (
    Order.id,
    Order.account,
    Order.brand_id,
    Order.channel_order_id,
    Order.customer_name,
    Order.customer_phone,
    Order.delivery_street,
    Order.delivery_city,
    Order.delivery_postal_code,
    Order.pickup_time,
    Order.channel_created_at,
    Order.status,
    Order.created_at,
    Order.updated_at,
)


async def order_view(session: AsyncSession, order_id: str) -> OrderView | None:
    """The order as the API shows it, or None when there is no such order."""
    row = (await session.execute(select(*_ORDER_COLUMNS).where(Order.id == order_id))).first()
    if row is None:
        return None
    items = (
        await session.execute(
            select(OrderItem.id, OrderItem.plu, OrderItem.name, OrderItem.quantity, OrderItem.status)
            .where(OrderItem.order_id == order_id)
            .order_by(OrderItem.id)
        )
    ).all()
    # Both history streams in one statement, oldest first (ties keep the order they were written).
    events = union_all(
        select(
            literal(None).label("item_id"),
            OrderStatusEvent.status,
            OrderStatusEvent.at,
            OrderStatusEvent.source,
            OrderStatusEvent.actor,
            OrderStatusEvent.id,
        ).where(OrderStatusEvent.order_id == order_id),
        select(
            ItemStatusEvent.item_id,
            ItemStatusEvent.status,
            ItemStatusEvent.at,
            ItemStatusEvent.source,
            ItemStatusEvent.actor,
            ItemStatusEvent.id,
        ).where(ItemStatusEvent.order_id == order_id),
    ).subquery()
    history: defaultdict[int | None, list[HistoryEntry]] = defaultdict(list)
    for item_id, status, at, source, actor, _ in await session.execute(
        select(events).order_by(events.c.at, events.c.id)
    ):
        history[item_id].append(HistoryEntry(status=status, timestamp=at, source=source, actor=actor))
    has_address = any((row.delivery_street, row.delivery_city, row.delivery_postal_code))
    return OrderView(
        id=row.id,
        account=row.account,
        brand_id=row.brand_id,
        channel_order_id=row.channel_order_id,
        customer=Customer(name=row.customer_name, phone_number=row.customer_phone),
        delivery_address=DeliveryAddress(
            street=row.delivery_street, city=row.delivery_city, postal_code=row.delivery_postal_code
        )
        if has_address
        else None,
        pickup_time=row.pickup_time,
        created=row.channel_created_at,
        status=row.status,
        items=[
            ItemView(
                plu=item.plu,
                name=item.name,
                quantity=item.quantity,
                status=item.status,
                status_history=history[item.id],
            )
            for item in items
        ],
        status_history=history[None],
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
