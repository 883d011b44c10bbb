"""What the load reads: the open lines, the last hour's cooking, the last week's orders, the quotes given.

Lines are routed as on the boards: the station the brand's menu names for the PLU now, or
`unassigned`. Only server-stamped history is read (never a channel's own report).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, literal, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kitchen.analytics.periods import Period
from kitchen.board.rules import stale_before
from kitchen.brands.models import Brand
from kitchen.load.models import KitchenQuote
from kitchen.menu.models import MenuItem
from kitchen.menu.service import UNASSIGNED
from kitchen.orders.models import EventSource, ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.status import OPEN_ITEM_STATUSES, ItemStatus, OrderStatus

# Measured prep times and each station's cooks come from the last hour.
RECENT = timedelta(hours=1)
# The cooking of the last hour is read from the orders created in the last 12 hours: a range of the
# created_at index, not a scan of the whole history (an order cooked later than that is a rare pre-order).
COOKED_WITHIN = timedelta(hours=12)
# A brand's typical order is made of its orders of the last 7 days.
TYPICAL_OVER = timedelta(days=7)
OPEN_ORDERS = (OrderStatus.RECEIVED, OrderStatus.PREPARING)
SERVER = ItemStatusEvent.source != EventSource.CHANNEL


def _station() -> ColumnElement[str]:
    return func.coalesce(MenuItem.station, literal(UNASSIGNED))


def _menu_entry() -> ColumnElement[bool]:
    """The menu entry that routes an item of an order (joined outer: a PLU may be on no menu)."""
    return (MenuItem.brand_id == Order.brand_id) & (MenuItem.plu == OrderItem.plu)


@dataclass(frozen=True, slots=True)
class OpenLineRow:
    brand_id: str
    plu: str
    station: str
    menu_prep_seconds: int | None
    pickup_time: datetime
    started_at: datetime | None  # its open PREPARING stay began then; None while ORDERED


async def open_lines(session: AsyncSession, now: datetime, stale_after: timedelta) -> list[OpenLineRow]:
    """Every line still to be made on the boards: ORDERED or PREPARING, of an open order not abandoned."""
    e = ItemStatusEvent
    started = (e.item_id == OrderItem.id) & (e.status == ItemStatus.PREPARING) & e.ended_at.is_(None) & SERVER
    statement = (
        select(Order.brand_id, OrderItem.plu, _station(), MenuItem.prep_seconds, Order.pickup_time, e.at)
        .select_from(OrderItem)
        .join(Order, Order.id == OrderItem.order_id)
        .outerjoin(MenuItem, _menu_entry())
        .outerjoin(e, started)
        .where(
            Order.status.in_(OPEN_ORDERS),
            Order.pickup_time > stale_before(now, stale_after),
            OrderItem.status.in_(OPEN_ITEM_STATUSES),
        )
    )
    return [OpenLineRow(*row) for row in (await session.execute(statement)).all()]


async def prep_times_measured(session: AsyncSession, now: datetime) -> dict[tuple[str, str], list[float]]:
    """Per (brand, PLU): the seconds from PREPARING to READY of each line made READY in the last hour
    on its own (no other line of its order made READY by the same change: a bump times the ticket)."""
    preparing, ready, other = aliased(ItemStatusEvent), aliased(ItemStatusEvent), aliased(ItemStatusEvent)
    with_others = exists().where(
        other.order_id == ready.order_id,
        other.at == ready.at,
        other.status == ItemStatus.READY,
        other.item_id != ready.item_id,
        other.source != EventSource.CHANNEL,
    )
    statement = (
        select(Order.brand_id, OrderItem.plu, preparing.at, ready.at)
        .select_from(Order)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .join(
            preparing,
            (preparing.item_id == OrderItem.id)
            & (preparing.status == ItemStatus.PREPARING)
            & (preparing.source != EventSource.CHANNEL),
        )
        .join(
            ready,
            (ready.item_id == preparing.item_id)
            & (ready.at == preparing.ended_at)
            & (ready.status == ItemStatus.READY)
            & (ready.source != EventSource.CHANNEL),
        )
        .where(
            Order.created_at >= now - COOKED_WITHIN,
            Order.created_at <= now,
            ready.at >= now - RECENT,
            ready.at <= now,
            ~with_others,
        )
    )
    measured: dict[tuple[str, str], list[float]] = defaultdict(list)
    for brand_id, plu, started_at, ready_at in await session.execute(statement):
        measured[brand_id, plu].append((ready_at - started_at).total_seconds())
    return dict(measured)


async def preparing_stays(session: AsyncSession, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """Per line PREPARING at some moment of the last hour: its station and that stay, cut to the hour."""
    e = ItemStatusEvent
    since = now - RECENT
    statement = (
        select(_station(), e.at, e.ended_at)
        .select_from(Order)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .outerjoin(MenuItem, _menu_entry())
        .join(e, (e.item_id == OrderItem.id) & (e.status == ItemStatus.PREPARING) & SERVER)
        .where(
            Order.created_at >= now - COOKED_WITHIN,
            Order.created_at <= now,
            e.at < now,
            or_(e.ended_at.is_(None), e.ended_at > since),
        )
    )
    return [
        (station, max(start, since), min(end or now, now))
        for station, start, end in (await session.execute(statement)).all()
    ]


@dataclass(frozen=True, slots=True)
class RecentOrders:
    """A brand's orders of the last 7 days: how many had how many lines, and in how many each PLU was."""

    by_line_count: dict[int, int]
    plu_orders: dict[str, int]
    plu_names: dict[str, str]


async def recent_orders(session: AsyncSession, now: datetime) -> dict[str, RecentOrders]:
    """Per brand with orders created in the last 7 days: what `RecentOrders` holds."""
    in_range = (Order.created_at >= now - TYPICAL_OVER, Order.created_at <= now)
    per_order = (
        select(Order.brand_id, func.count(OrderItem.id).label("lines"))
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(*in_range)
        .group_by(Order.id, Order.brand_id)
        .subquery("per_order")
    )
    sizes = select(per_order.c.brand_id, per_order.c.lines, func.count()).group_by(
        per_order.c.brand_id, per_order.c.lines
    )
    plus = (
        select(Order.brand_id, OrderItem.plu, func.count(func.distinct(Order.id)), func.max(OrderItem.name))
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(*in_range)
        .group_by(Order.brand_id, OrderItem.plu)
    )
    found: dict[str, RecentOrders] = {}

    def of(brand_id: str) -> RecentOrders:
        return found.setdefault(brand_id, RecentOrders({}, {}, {}))

    for brand_id, lines, orders in await session.execute(sizes):
        of(brand_id).by_line_count[int(lines)] = int(orders)
    for brand_id, plu, orders, name in await session.execute(plus):
        of(brand_id).plu_orders[plu] = int(orders)
        of(brand_id).plu_names[plu] = name
    return found


@dataclass(frozen=True, slots=True)
class MenuLine:
    plu: str
    name: str
    station: str
    prep_seconds: int | None


async def menus(session: AsyncSession) -> dict[str, dict[str, MenuLine]]:
    """Every brand's menu, by PLU (a brand's menu is small)."""
    statement = select(MenuItem.brand_id, MenuItem.plu, MenuItem.name, MenuItem.station, MenuItem.prep_seconds)
    found: dict[str, dict[str, MenuLine]] = defaultdict(dict)
    for brand_id, plu, name, station, prep in await session.execute(statement):
        found[brand_id][plu] = MenuLine(plu, name, station, prep)
    return dict(found)


async def brand_names(session: AsyncSession) -> dict[str, str]:
    names: dict[str, str] = {}
    for brand_id, name in await session.execute(select(Brand.id, Brand.name)):
        names[brand_id] = name
    return names


async def latest_quotes(session: AsyncSession, brand_ids: Iterable[str]) -> dict[str, KitchenQuote]:
    """Each brand's latest recorded quote (an index lookup per brand: a kitchen has a handful)."""
    found = {}
    for brand_id in brand_ids:
        latest = await session.scalar(
            select(KitchenQuote)
            .where(KitchenQuote.brand_id == brand_id)
            .order_by(KitchenQuote.at.desc(), KitchenQuote.id.desc())
            .limit(1)
        )
        if latest is not None:
            found[brand_id] = latest
    return found


# Quotes are recorded by one process at a time (PostgreSQL): the others find this turn's rows.
RECORD_LOCK = 7_201_141


async def hold_record_lock(session: AsyncSession) -> None:
    """Until the transaction ends, no other process records quotes (PostgreSQL; SQLite's write lock
    does the same there)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RECORD_LOCK})


@dataclass(frozen=True, slots=True)
class QuotedOrder:
    created_at: datetime
    ready_at: datetime | None  # its first server READY
    quoted_at: datetime
    quoted_minutes: float


async def quoted_orders(session: AsyncSession, period: Period) -> list[QuotedOrder]:
    """The orders created in the period that have a quote of their brand at or before their
    creation: the latest such quote, and the order's first server READY (None: not ready yet)."""
    earlier = aliased(KitchenQuote)
    in_force = (
        select(earlier.id)
        .where(earlier.brand_id == Order.brand_id, earlier.at <= Order.created_at)
        .order_by(earlier.at.desc(), earlier.id.desc())
        .limit(1)
        .correlate(Order)
        .scalar_subquery()
    )
    o = OrderStatusEvent
    first_ready = (
        select(func.min(o.at))
        .where(o.order_id == Order.id, o.status == OrderStatus.READY, o.source != EventSource.CHANNEL)
        .correlate(Order)
        .scalar_subquery()
    )
    statement = (
        select(Order.created_at, first_ready, KitchenQuote.at, KitchenQuote.minutes)
        .select_from(Order)
        .join(KitchenQuote, KitchenQuote.id == in_force)
        .where(Order.created_at >= period.start, Order.created_at < period.end, *period.brand_filter(Order.brand_id))
    )
    return [QuotedOrder(*row) for row in (await session.execute(statement)).all()]
