"""What the boards read: their tickets, the all-day totals, the brand catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.board.rules import STALE_AFTER, on_board_in_sql, position
from kitchen.board.station import Route, Routes, Station
from kitchen.brands.models import Brand
from kitchen.menu.models import MenuItem
from kitchen.menu.service import UNASSIGNED
from kitchen.orders.lines import Modifier, decode_modifiers
from kitchen.orders.models import FINAL_SERVER_STAY, Order, OrderItem, OrderStatusEvent
from kitchen.orders.read import ORDER_COLUMNS, item_record, order_record
from kitchen.orders.records import OrderRecord
from kitchen.orders.status import ItemStatus, OrderStatus

MAX_TICKETS = 500


@dataclass(frozen=True, slots=True)
class AllDayLine:
    plu: str
    name: str
    quantity: int
    modifiers: tuple[Modifier, ...] = ()  # the same PLU made another way is a row of its own


TICKET_ITEM_COLUMNS = (
    OrderItem.order_id,
    OrderItem.id,
    OrderItem.plu,
    OrderItem.name,
    OrderItem.quantity,
    OrderItem.status,
    OrderItem.note,
    OrderItem.modifiers,
    OrderItem.allergens,
)


async def board_orders(
    session: AsyncSession, station: Station, now: datetime, stale_after: timedelta = STALE_AFTER
) -> list[OrderRecord]:
    """Every ticket a station shows, in board order: two statements, no ORM objects.

    The records carry no history: a ticket does not show it.
    """
    statement = (
        select(*ORDER_COLUMNS)
        .where(on_board_in_sql(now, stale_after))
        .order_by(Order.pickup_time, Order.id)  # which tickets a board past its cap keeps: the soonest
        .limit(MAX_TICKETS)
    )
    if station.brand_ids:
        statement = statement.where(Order.brand_id.in_(station.brand_ids))
    orders = {row.id: order_record(row) for row in (await session.execute(statement)).all()}
    if orders:
        for order_id, *columns in await session.execute(
            select(OrderItem.order_id, *TICKET_ITEM_COLUMNS[1:])
            .where(OrderItem.order_id.in_(orders))
            .order_by(OrderItem.id)
        ):
            items = orders[order_id].items
            items.append(item_record(len(items) + 1, *columns))
    return sorted(orders.values(), key=position)


async def routes(session: AsyncSession, orders: Iterable[OrderRecord]) -> Routes:
    """Where the lines of `orders` are cooked: the menus of their brands (a brand's menu is small)."""
    brand_ids = {order.brand_id for order in orders}
    if not brand_ids:
        return {}
    statement = select(MenuItem.brand_id, MenuItem.plu, MenuItem.station, MenuItem.prep_seconds).where(
        MenuItem.brand_id.in_(brand_ids)
    )
    return {(brand_id, plu): Route(station, prep) for brand_id, plu, station, prep in await session.execute(statement)}


async def station_names(session: AsyncSession) -> list[str]:
    """The stations the menus name, by name: the boards a kitchen can open."""
    return list((await session.scalars(select(MenuItem.station).distinct().order_by(MenuItem.station))).all())


async def all_day(
    session: AsyncSession, station: Station, abandoned_before: datetime | None = None
) -> list[AllDayLine]:
    """How many of each PLU the station still has to make, by its modifiers: items not yet READY.

    Orders picked up by `abandoned_before` left the boards (see rules.stale_before): not counted.
    """
    statement = (
        select(OrderItem.plu, OrderItem.modifiers, func.min(OrderItem.name), func.sum(OrderItem.quantity))
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            Order.status.in_((OrderStatus.RECEIVED, OrderStatus.PREPARING)),
            OrderItem.status.in_((ItemStatus.ORDERED, ItemStatus.PREPARING)),
        )
        # Modifiers are stored as sent (JSON text): the same options in the same order group together.
        .group_by(OrderItem.plu, OrderItem.modifiers)
        .order_by(func.sum(OrderItem.quantity).desc(), OrderItem.plu, OrderItem.modifiers)
    )
    if station.brand_ids:
        statement = statement.where(Order.brand_id.in_(station.brand_ids))
    if abandoned_before is not None:
        statement = statement.where(Order.pickup_time > abandoned_before)
    if not station.is_expo:
        routed = (MenuItem.brand_id == Order.brand_id) & (MenuItem.plu == OrderItem.plu)
        route = func.coalesce(MenuItem.station, literal(UNASSIGNED))
        statement = statement.outerjoin(MenuItem, routed).where(route.in_((station.name, UNASSIGNED)))
    return [
        AllDayLine(plu, name, int(quantity), tuple(decode_modifiers(modifiers)))
        for plu, modifiers, name, quantity in (await session.execute(statement)).all()
    ]


async def brands(session: AsyncSession) -> dict[str, Brand]:
    return {brand.id: brand for brand in (await session.scalars(select(Brand).order_by(Brand.name))).all()}


@dataclass(frozen=True, slots=True)
class FinishedOrder:
    """An order picked up or cancelled here: when it became final, and who made it so."""

    order: OrderRecord  # without items or history: the Recent list shows neither
    at: datetime
    actor: str | None


async def recently_finished(session: AsyncSession, since: datetime) -> list[FinishedOrder]:
    """Orders that became PICKED_UP or CANCELLED here at or after `since`, newest first.

    Read from the history, not from `updated_at` (a cook's "seen" of a cancellation moves that):
    the open final stays, which their own partial index holds; channel reports are not ours.
    """
    # The index's predicate word for word, on the history table alone, so SQLite uses it too.
    final = (
        select(OrderStatusEvent.order_id, OrderStatusEvent.status, OrderStatusEvent.at, OrderStatusEvent.actor)
        .where(text(FINAL_SERVER_STAY), OrderStatusEvent.at >= since)
        .subquery()
    )
    statement = (
        select(*ORDER_COLUMNS, final.c.at.label("finished_at"), final.c.actor.label("finished_by"))
        .join(final, final.c.order_id == Order.id)
        .where(Order.status == final.c.status)
        .order_by(final.c.at.desc(), Order.id)
        .limit(MAX_TICKETS)
    )
    width = len(ORDER_COLUMNS)
    return [
        FinishedOrder(order_record(row[:width]), row.finished_at, row.finished_by)
        for row in (await session.execute(statement)).all()
    ]
