"""What the boards read: open tickets, one ticket, the all-day totals, the brand catalog."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from kitchen.board.station import Station
from kitchen.brands.models import Brand
from kitchen.orders.models import Order, OrderItem
from kitchen.orders.records import OrderRecord
from kitchen.orders.status import ItemStatus, OrderStatus

ON_BOARD = (OrderStatus.RECEIVED, OrderStatus.PREPARING, OrderStatus.READY)
# An unacknowledged cancellation older than this has surely been seen; it stops cluttering the board.
CANCELLED_SHOWN_FOR = timedelta(hours=12)
MAX_TICKETS = 500


@dataclass(frozen=True, slots=True)
class AllDayLine:
    plu: str
    name: str
    quantity: int


def _on_board(now: datetime) -> Select[Order]:
    return select(Order).where(
        or_(
            Order.status.in_(ON_BOARD),
            and_(
                Order.status == OrderStatus.CANCELLED,
                Order.cancel_acknowledged_at.is_(None),
                Order.updated_at > now - CANCELLED_SHOWN_FOR,
            ),
        )
    )


@dataclass(frozen=True, slots=True)
class TicketItem:
    plu: str
    name: str
    quantity: int
    status: str


@dataclass(frozen=True, slots=True)
class TicketOrder:
    """What a ticket shows of an order, read as plain rows: a full board is hundreds of them."""

    id: str
    brand_id: str
    channel_order_id: str
    customer_name: str
    status: str
    pickup_time: datetime
    created_at: datetime
    updated_at: datetime
    version: int
    last_change_source: str | None
    items: list[TicketItem]


async def board_orders(session: AsyncSession, station: Station, now: datetime) -> list[TicketOrder]:
    """Every ticket a station shows, soonest pickup first: two statements, no ORM objects."""
    statement = (
        _on_board(now)
        .with_only_columns(
            Order.id,
            Order.brand_id,
            Order.channel_order_id,
            Order.customer_name,
            Order.status,
            Order.pickup_time,
            Order.created_at,
            Order.updated_at,
            Order.version,
            Order.last_change_source,
        )
        .order_by(Order.pickup_time, Order.id)
        .limit(MAX_TICKETS)
    )
    if station.brand_ids:
        statement = statement.where(Order.brand_id.in_(station.brand_ids))
    rows = (await session.execute(statement)).all()
    items: dict[str, list[TicketItem]] = {row.id: [] for row in rows}
    if items:
        for order_id, plu, name, quantity, status in await session.execute(
            select(OrderItem.order_id, OrderItem.plu, OrderItem.name, OrderItem.quantity, OrderItem.status)
            .where(OrderItem.order_id.in_(items))
            .order_by(OrderItem.id)
        ):
            items[order_id].append(TicketItem(plu, name, quantity, status))
    return [TicketOrder(**row._asdict(), items=items[row.id]) for row in rows]


def belongs_on_board(order: Order | OrderRecord) -> bool:
    """Open and ready orders, and cancellations nobody has acknowledged yet."""
    if order.status in ON_BOARD:
        return True
    return order.status == OrderStatus.CANCELLED and order.cancel_acknowledged_at is None


async def board_order(session: AsyncSession, order_id: str) -> Order | None:
    """The order as a ticket, or None when it no longer belongs on a board."""
    order = await session.scalar(
        select(Order)
        .where(Order.id == order_id)
        .options(selectinload(Order.items))
        .execution_options(populate_existing=True)
    )
    return order if order is not None and belongs_on_board(order) else None


async def all_day(session: AsyncSession, station: Station) -> list[AllDayLine]:
    """How many of each PLU the station still has to make: items not yet READY, by quantity."""
    statement = (
        select(OrderItem.plu, func.min(OrderItem.name), func.sum(OrderItem.quantity))
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.status.in_((OrderStatus.RECEIVED, OrderStatus.PREPARING)),
            OrderItem.status.in_((ItemStatus.ORDERED, ItemStatus.PREPARING)),
        )
        .group_by(OrderItem.plu)
        .order_by(func.sum(OrderItem.quantity).desc(), OrderItem.plu)
    )
    if station.brand_ids:
        statement = statement.where(Order.brand_id.in_(station.brand_ids))
    return [AllDayLine(plu, name, int(quantity)) for plu, name, quantity in (await session.execute(statement)).all()]


async def brands(session: AsyncSession) -> dict[str, Brand]:
    return {brand.id: brand for brand in (await session.scalars(select(Brand).order_by(Brand.name))).all()}
