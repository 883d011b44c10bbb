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
from typing import Any

import msgspec
from sqlalchemy import Integer, and_, bindparam, cast, literal_column, null, or_, select, union_all

from kitchen.db import DriverStatement
from kitchen.orders.lines import decode_modifiers, decode_strings, encode_list
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
    Order.note,
    Order.allergens,
)

ORDER_ROW = select(*ORDER_COLUMNS).where(Order.id == bindparam("order_id"))

ITEM, ORDER_EVENT, ITEM_EVENT = 0, 1, 2
_TIME = OrderStatusEvent.__table__.c.at.type
_REASON = OrderStatusEvent.__table__.c.reason.type
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
        cast(null(), _REASON).label("reason"),
        OrderItem.note,
        OrderItem.modifiers,
        OrderItem.allergens,
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
        OrderStatusEvent.reason,
        null(),
        null(),
        null(),
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
        null(),
        null(),
        null(),
        null(),
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
    return {name: getattr(order, name) for name in NEW_ORDER_FIELDS} | {"allergens": encode_list(order.allergens)}


def item_values(item: ItemRecord) -> dict[str, Any]:
    """A new item's columns as stored, by column name (besides its order, status and id)."""
    return {
        "plu": item.plu,
        "name": item.name,
        "quantity": item.quantity,
        "note": item.note,
        "modifiers": encode_list([msgspec.to_builtins(modifier) for modifier in item.modifiers]),
        "allergens": encode_list(item.allergens),
    }


def order_record(row: Sequence[Any]) -> OrderRecord:
    """An order's row (the columns of `ORDER_COLUMNS`, in order) without its items and history yet."""
    values = list(row)
    values[-1] = decode_strings(values[-1])  # allergens, the last column, are stored as JSON text
    return OrderRecord(*values)


def item_record(
    line: int,
    item_id: int,
    plu: str,
    name: str,
    quantity: int,
    status: str,
    note: str | None,
    modifiers: str | None,
    allergens: str | None,
) -> ItemRecord:
    """An item from its stored columns (modifiers and allergens as stored JSON text)."""
    return ItemRecord(
        item_id, plu, name, quantity, status, line, note, decode_modifiers(modifiers), decode_strings(allergens)
    )


def add_parts(order: OrderRecord, rows: Iterable[Sequence[Any]]) -> OrderRecord:
    """Fill in the order's items and both history streams from rows of `ORDER_PARTS`."""
    items: dict[int, ItemRecord] = {}
    order.history = []
    for kind, row_id, item_id, plu, name, quantity, status, at, ended_at, source, actor, reason, *details in rows:
        if kind == ITEM:
            items[row_id] = item_record(len(items) + 1, row_id, plu, name, quantity, status, *details)
        elif kind == ORDER_EVENT:
            order.history.append(EventRecord(row_id, status, at, ended_at, source, actor, reason))
        elif kind == ITEM_EVENT:
            items[item_id].history.append(EventRecord(row_id, status, at, ended_at, source, actor))
    order.items = list(items.values())
    return order


def _events(events: Iterable[OrderStatusEvent] | Iterable[ItemStatusEvent]) -> list[EventRecord]:
    return [
        EventRecord(
            e.id, e.status, e.at, e.ended_at, e.source, e.actor, e.reason if isinstance(e, OrderStatusEvent) else None
        )
        for e in events
    ]


def from_orm(order: Order) -> OrderRecord:
    """The record of an ORM order loaded with its items and histories (the list endpoint's rows)."""
    record = order_record([getattr(order, column.key) for column in ORDER_COLUMNS])
    record.items = [
        item_record(
            line, item.id, item.plu, item.name, item.quantity, item.status, item.note, item.modifiers, item.allergens
        )
        for line, item in enumerate(order.items, start=1)
    ]
    for item, orm_item in zip(record.items, order.items, strict=True):
        item.history = _events(orm_item.history)
    record.history = _events(order.history)
    return record


def _history(events: Sequence[EventRecord]) -> list[HistoryEntry]:
    return [
        HistoryEntry(status=e.status, timestamp=e.at, source=e.source, actor=e.actor, reason=e.reason) for e in events
    ]


def order_view(order: OrderRecord) -> OrderView:
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
                line=item.line,
                plu=item.plu,
                name=item.name,
                quantity=item.quantity,
                status=item.status,
                status_history=_history(item.history),
                note=item.note,
                modifiers=list(item.modifiers),
                allergens=list(item.allergens),
            )
            for item in order.items
        ],
        status_history=_history(order.history),
        note=order.note,
        allergens=list(order.allergens),
        created_at=order.created_at,
        updated_at=order.updated_at,
    )
