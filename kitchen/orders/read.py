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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, bindparam, cast, func, literal_column, null, select, true, union_all, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from kitchen.db import DriverStatement
from kitchen.orders.models import ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.schemas import Customer, DeliveryAddress, HistoryEntry, ItemView, OrderView


@dataclass(slots=True)
class EventRecord:
    """One history row of an order or of an item (`id` is None for a row written but not read back)."""

    id: int | None
    status: str
    at: datetime
    ended_at: datetime | None
    source: str
    actor: str | None


@dataclass(slots=True)
class ItemRecord:
    id: int
    plu: str
    name: str
    quantity: int
    status: str
    history: list[EventRecord] = field(default_factory=list)  # in the order written


@dataclass(slots=True)
class OrderRecord:
    """The whole order: its row, its items in the order they were sent, and both history streams."""

    id: str
    account: str
    brand_id: str
    channel_order_id: str
    customer_name: str
    customer_phone: str | None
    delivery_street: str | None
    delivery_city: str | None
    delivery_postal_code: str | None
    pickup_time: datetime
    channel_created_at: datetime | None
    status: str
    version: int
    payload_hash: str
    last_change_source: str | None
    cancel_acknowledged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    items: list[ItemRecord] = field(default_factory=list)
    history: list[EventRecord] = field(default_factory=list)  # in the order written


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
    Order.version,
    Order.payload_hash,
    Order.last_change_source,
    Order.cancel_acknowledged_at,
    Order.created_at,
    Order.updated_at,
)

ORDER_ROW = select(*_ORDER_COLUMNS).where(Order.id == bindparam("order_id"))

# SQLite locks the whole database for writing, and a transaction takes that lock with its first
# write: this UPDATE changes nothing (`updated_at` is named so its onupdate does not fire) but
# makes concurrent changes run one after another, each reading what the one before committed.
LOCK_ORDER_SQLITE = (
    update(Order)
    .where(Order.id == bindparam("order_id"))
    .values(version=Order.version, updated_at=Order.updated_at)
    .returning(*_ORDER_COLUMNS)
)

ITEM, ORDER_EVENT, ITEM_EVENT = 0, 1, 2
_TIME = OrderStatusEvent.__table__.c.at.type
# Items and both history streams in one statement; the items part comes first and casts its
# empty columns, so every column keeps its type (and SQLite's times are parsed back).
_parts = union_all(
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
ORDER_PARTS = DriverStatement(select(_parts).order_by(_parts.c.kind, _parts.c.id))

# PostgreSQL plans a prepared statement anew for each execution while it estimates that a plan
# for any parameters would cost more, and its estimate of `unnest` over an array parameter always
# says so: the one write statement of a change or a new order (writes.py) was planned every
# time, which cost as much CPU as running it (0.38 ms of PostgreSQL CPU per change, measured).
# The statement that opens such a transaction selects this too; it lasts until the transaction ends.
GENERIC_PLANS = func.set_config("plan_cache_mode", "force_generic_plan", true())

# On PostgreSQL an order is read whole in one statement: its row, and its parts as one array per
# column (one row to send and decode, the order's columns once; a join repeated them per part).
_ordering = (_parts.c.kind, _parts.c.id)
_part_arrays = select(*(func.array_agg(aggregate_order_by(column, *_ordering)) for column in _parts.c)).subquery()
_row = select(*_ORDER_COLUMNS).where(Order.id == bindparam("order_id")).cte("order_row")
READ_ORDER_POSTGRES = DriverStatement(select(*_row.c, *_part_arrays.c).select_from(_row.join(_part_arrays, true())))

# A change locks the order's row (FOR UPDATE) in the same statement. The parts come from the
# statement's snapshot, taken before the lock was granted: if a change of this order committed
# in between, the locked row's version (the newest) differs from the snapshot's, and the parts
# are read again (every change bumps the version). It also switches this transaction to
# generic plans (GENERIC_PLANS).
_locked = select(*_ORDER_COLUMNS).where(Order.id == bindparam("order_id")).with_for_update().cte("locked")
_seen_version = select(Order.version).where(Order.id == bindparam("order_id")).scalar_subquery()
LOCK_AND_READ_POSTGRES = DriverStatement(
    select(*_locked.c, _seen_version.label("seen_version"), GENERIC_PLANS.label("plans"), *_part_arrays.c).select_from(
        _locked.join(_part_arrays, true())
    )
)
_ORDER_WIDTH = len(_ORDER_COLUMNS)


def order_record(row: Sequence[Any]) -> OrderRecord:
    """An order's row (the columns of `ORDER_ROW`, in order) without its items and history yet."""
    return OrderRecord(*row)


def _add_parts(order: OrderRecord, rows: Iterable[Sequence[Any]]) -> OrderRecord:
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


async def _read_parts(conn: AsyncConnection, order: OrderRecord) -> OrderRecord:
    return _add_parts(order, await ORDER_PARTS.rows(conn, {"order_id": order.id}))


def _part_rows(arrays: Sequence[Any]) -> Iterable[Sequence[Any]]:
    """The rows of `ORDER_PARTS` from its columns as arrays (None: no parts at all)."""
    return zip(*arrays, strict=True) if arrays[0] is not None else ()


async def read_order(conn: AsyncConnection, order_id: str) -> OrderRecord | None:
    """The whole order, or None when there is no such order."""
    if conn.dialect.name == "postgresql":
        rows = await READ_ORDER_POSTGRES.rows(conn, {"order_id": order_id})
        if not rows:
            return None
        return _add_parts(order_record(rows[0][:_ORDER_WIDTH]), _part_rows(rows[0][_ORDER_WIDTH:]))
    row = (await conn.execute(ORDER_ROW, {"order_id": order_id})).first()
    return None if row is None else await _read_parts(conn, order_record(row))


async def lock_order(conn: AsyncConnection, order_id: str) -> OrderRecord | None:
    """Lock the order for a change and read it whole, as the last change left it; None if unknown.

    Until the transaction ends, no other change of this order can lock it.
    """
    if conn.dialect.name != "postgresql":
        locked = (await conn.execute(LOCK_ORDER_SQLITE, {"order_id": order_id})).first()
        return None if locked is None else await _read_parts(conn, order_record(locked))
    rows = await LOCK_AND_READ_POSTGRES.rows(conn, {"order_id": order_id})
    if not rows:
        return None
    order = order_record(rows[0][:_ORDER_WIDTH])
    if rows[0][_ORDER_WIDTH] != order.version:
        return await _read_parts(conn, order)  # another change committed while we waited for the lock
    return _add_parts(order, _part_rows(rows[0][_ORDER_WIDTH + 2 :]))  # after seen_version and plans


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
