"""Reading an order for the API straight from rows: three statements, no ORM objects.

GET /api/orders/{id} is the hottest read; building ORM objects (with their identity map and
relationship bookkeeping) cost more than the queries themselves, and a read changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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
    return assemble_order_view(row, [(item, history[item.id]) for item in items], history[None])


class OrderFields(Protocol):
    """What a view needs of an order: an ORM `Order` and a row of `_ORDER_COLUMNS` both have it."""

    @property
    def id(self) -> str: ...
    @property
    def account(self) -> str: ...
    @property
    def brand_id(self) -> str: ...
    @property
    def channel_order_id(self) -> str: ...
    @property
    def customer_name(self) -> str: ...
    @property
    def customer_phone(self) -> str | None: ...
    @property
    def delivery_street(self) -> str | None: ...
    @property
    def delivery_city(self) -> str | None: ...
    @property
    def delivery_postal_code(self) -> str | None: ...
    @property
    def pickup_time(self) -> datetime: ...
    @property
    def channel_created_at(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...


class ItemFields(Protocol):
    @property
    def plu(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def status(self) -> str: ...


def assemble_order_view(
    order: OrderFields, items: Sequence[tuple[ItemFields, list[HistoryEntry]]], history: list[HistoryEntry]
) -> OrderView:
    """The one place an order becomes its API shape, whether it was read as rows or as ORM objects."""
    has_address = any((order.delivery_street, order.delivery_city, order.delivery_postal_code))
    return OrderView(
        id=order.id,
        account=order.account,
        brand_id=order.brand_id,
        channel_order_id=order.channel_order_id,
        customer=Customer(name=order.customer_name, phone_number=order.customer_phone),
        delivery_address=DeliveryAddress(
            street=order.delivery_street, city=order.delivery_city, postal_code=order.delivery_postal_code
        )
        if has_address
        else None,
        pickup_time=order.pickup_time,
        created=order.channel_created_at,
        status=order.status,
        items=[
            ItemView(
                plu=item.plu,
                name=item.name,
                quantity=item.quantity,
                status=item.status,
                status_history=item_history,
            )
            for item, item_history in items
        ],
        status_history=history,
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
