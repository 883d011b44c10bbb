"""An order as plain records, read with prebuilt Core statements: no ORM objects on the hot paths.

GET, PATCH and POST all answer with the whole order, and one worker has to serve hundreds of them
a second: building ORM objects (identity map, relationship bookkeeping) and building statements
anew on every request cost more than the queries themselves. So an order is read with two
statements made once at import (the order's row, then its items and both history streams in one
UNION), and the records are what the service changes and the API shows. A change locks and reads
the order in one statement on PostgreSQL (`lock_order`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, and_, bindparam, cast, literal_column, null, or_, select, union_all

from kitchen.db import DriverStatement
from kitchen.orders.models import ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.records import EventRecord, ItemRecord, OrderRecord
from kitchen.orders.schemas import Customer, DeliveryAddress, HistoryEntry, ItemView, OrderView

ORDER_COLUMNS = (
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
    Order.version,
    Order.payload_hash,
    Order.last_change_source,
    Order.cancel_acknowledged_at,
    Order.created_at,
    Order.updated_at,
)

ORDER_ROW = select(*ORDER_COLUMNS).where(Order.id == bindparam("order_id"))

ITEM, ORDER_EVENT, ITEM_EVENT = 0, 1, 2
_TIME = OrderStatusEvent.__table__.c.at.type
# Items and both history streams in one statement; the items part comes first and casts its
# empty columns, so every column keeps its type (and SQLite's times are parsed back).
PARTS = union_all(
    select(
        literal_column(str(ITEM), Integer).label("kind"),
        OrderItem.id,
        OrderItem.id.label("item_id"),
        OrderItem.plu,
        OrderItem.name,
        OrderItem.quantity,
        OrderItem.status,
        cast(null(), _TIME).label("at"),
        cast(null(), _TIME).label("ended_at"),
        OrderItem.status.label("source"),  # unused for items; any string column
        OrderItem.status.label("actor"),
    ).where(OrderItem.order_id == bindparam("order_id")),
    select(
        literal_column(str(ORDER_EVENT), Integer),
        OrderStatusEvent.id,
        null(),
        null(),
        null(),
        null(),
        OrderStatusEvent.status,
        OrderStatusEvent.at,
        OrderStatusEvent.ended_at,
        OrderStatusEvent.source,
        OrderStatusEvent.actor,
    ).where(OrderStatusEvent.order_id == bindparam("order_id")),
    select(
        literal_column(str(ITEM_EVENT), Integer),
        ItemStatusEvent.id,
        ItemStatusEvent.item_id,
        null(),
        null(),
        null(),
        ItemStatusEvent.status,
        ItemStatusEvent.at,
        ItemStatusEvent.ended_at,
        ItemStatusEvent.source,
        ItemStatusEvent.actor,
    ).where(ItemStatusEvent.order_id == bindparam("order_id")),
).subquery()
# Items in the order they were sent; each history in the order it was written (by id), which the
# service's stamps make time order too (see service.change_stamp).
ORDER_PARTS = DriverStatement(select(PARTS).order_by(PARTS.c.kind, PARTS.c.id))

# The order a create payload names: by its id, or by the channel's (brandId, channelOrderId).
SAME_ORDER = select(Order.id, Order.payload_hash).where(
    or_(
        Order.id == bindparam("id"),
        and_(Order.brand_id == bindparam("brand_id"), Order.channel_order_id == bindparam("channel_order_id")),
    )
)


# The columns of a new order's row, besides its id (the rest start empty).
NEW_ORDER_FIELDS = tuple(
    column.key for column in ORDER_COLUMNS if column.key not in ("id", "last_change_source", "cancel_acknowledged_at")
)


def new_order_values(order: OrderRecord) -> dict[str, Any]:
    """The new order's row, by column name."""
    return {name: getattr(order, name) for name in NEW_ORDER_FIELDS}


def order_record(row: Sequence[Any]) -> OrderRecord:
    """An order's row (the columns of `ORDER_ROW`, in order) without its items and history yet."""
    return OrderRecord(*row)


def add_parts(order: OrderRecord, rows: Iterable[Sequence[Any]]) -> OrderRecord:
    """Fill in the order's items and both history streams from rows of `ORDER_PARTS`."""
    items: dict[int, ItemRecord] = {}
    order.history = []
    for kind, row_id, item_id, plu, name, quantity, status, at, ended_at, source, actor in rows:
        if kind == ITEM:
            items[row_id] = ItemRecord(row_id, plu, name, quantity, status)
        elif kind == ORDER_EVENT:
            order.history.append(EventRecord(row_id, status, at, ended_at, source, actor))
        elif kind == ITEM_EVENT:
            items[item_id].history.append(EventRecord(row_id, status, at, ended_at, source, actor))
    order.items = list(items.values())
    return order


class EventFields(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def source(self) -> str: ...
    @property
    def actor(self) -> str | None: ...


class ItemFields(Protocol):
    @property
    def plu(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def history(self) -> Sequence[EventFields]: ...


class OrderFields(Protocol):
    """What a view needs of an order: an `OrderRecord` and an ORM `Order` both have it."""

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
    @property
    def items(self) -> Sequence[ItemFields]: ...
    @property
    def history(self) -> Sequence[EventFields]: ...


def _history(events: Sequence[EventFields]) -> list[HistoryEntry]:
    return [HistoryEntry(status=e.status, timestamp=e.at, source=e.source, actor=e.actor) for e in events]


def order_view(order: OrderFields) -> OrderView:
    """The one place an order becomes its API shape (histories in the order they were written)."""
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
                status_history=_history(item.history),
            )
            for item in order.items
        ],
        status_history=_history(order.history),
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
