"""What is on a board, where on it, and how urgent: one rule, decided on the server.

The bulk read (`queries.board_orders`) states `belongs_on_board` in SQL so a full board is one
statement; `tests/test_board_rules.py` holds the two statements of the rule to the same answers.
The board's script only displays what these say: it places tickets by `position` and switches a
ticket's colour at the `soon_at` / `late_at` moments the server wrote on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from sqlalchemy import ColumnElement, and_, or_

from kitchen.orders.models import Order
from kitchen.orders.records import OrderRecord
from kitchen.orders.status import OrderStatus

ON_BOARD = (OrderStatus.RECEIVED, OrderStatus.PREPARING, OrderStatus.READY)
# An unacknowledged cancellation older than this has surely been seen; it stops cluttering the board.
CANCELLED_SHOWN_FOR = timedelta(hours=12)
# KITCHEN_STALE_HOURS' default: an order this long past its pickup time is abandoned.
STALE_AFTER = timedelta(hours=6)
# Positions count seconds from here, so that every pickup time a record can hold sorts as text.
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def belongs_on_board(order: OrderRecord, now: datetime, stale_after: timedelta = STALE_AFTER) -> bool:
    """Open and ready orders, and cancellations nobody has acknowledged in the last 12 hours.

    An open or ready order whose pickup time is more than `stale_after` past was abandoned (the
    courier never came, the channel never cancelled): it leaves the boards, not the API.
    """
    if order.status in ON_BOARD:
        return order.pickup_time > stale_before(now, stale_after)
    return (
        order.status == OrderStatus.CANCELLED
        and order.cancel_acknowledged_at is None
        and order.updated_at > now - CANCELLED_SHOWN_FOR
    )


def stale_before(now: datetime, stale_after: timedelta) -> datetime:
    """Open orders with a pickup time at or before this were abandoned."""
    return now - stale_after if now - _EPOCH > stale_after else _EPOCH


def pickup_column(order: OrderRecord, now: datetime, stale_after: timedelta = STALE_AFTER) -> str | None:
    """Where the couriers' screen shows the order: "preparing", "ready", or None (not on it).

    The boards' own rule decides what is shown at all, so the two never disagree; a cancellation
    the boards still strike through is the cooks' business, not a courier's.
    """
    if not belongs_on_board(order, now, stale_after) or order.status == OrderStatus.CANCELLED:
        return None
    return "ready" if order.status == OrderStatus.READY else "preparing"


def on_board_in_sql(now: datetime, stale_after: timedelta = STALE_AFTER) -> ColumnElement[bool]:
    """`belongs_on_board` as a WHERE clause, for reading a whole board in one statement."""
    return or_(
        and_(Order.status.in_(ON_BOARD), Order.pickup_time > stale_before(now, stale_after)),
        and_(
            Order.status == OrderStatus.CANCELLED,
            Order.cancel_acknowledged_at.is_(None),
            Order.updated_at > now - CANCELLED_SHOWN_FOR,
        ),
    )


def section_of(order: OrderRecord) -> str:
    """Where on the board the ticket stands: "open", "ready" or "cancelled"."""
    return {OrderStatus.READY: "ready", OrderStatus.CANCELLED: "cancelled"}.get(OrderStatus(order.status), "open")


def position(order: OrderRecord, by: datetime | None = None) -> str:
    """The ticket's place within its section, as text that sorts: cancellations first, then soonest pickup.

    Cancellations come first because a cook must stop cooking them; the id breaks ties, so
    every board shows the same order. A station's card sorts `by` its first line's start-by.
    """
    first = "0" if order.status == OrderStatus.CANCELLED else "1"
    seconds = int(((by or order.pickup_time) - _EPOCH).total_seconds())
    return f"{first}{seconds:012d}{order.id}"


def start_by(pickup_time: datetime, prep_seconds: int | None, pack_seconds: int) -> datetime:
    """When a line must go on for its ticket to be packed by the pickup: pickup - prep - packing.

    A line nobody has timed starts by the pickup time itself. A pickup in the first hours of
    year 1 starts at the earliest moment a datetime holds.
    """
    if prep_seconds is None:
        return pickup_time
    lead = timedelta(seconds=prep_seconds + pack_seconds)
    return pickup_time - lead if pickup_time - _EPOCH > lead else _EPOCH


# Within a minute either side of its start-by a line is to "start now".
START_NOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class StartBy:
    """A line's start-by as the cook reads it; the board's script keeps the words up with the clock."""

    at: datetime
    local: str  # its time on the kitchen's clock, "12:41"
    text: str  # "start 12:41", "start now", "3 min behind"
    behind: bool  # it should have started


def start_by_now(at: datetime, now: datetime, zone: tzinfo) -> StartBy:
    """`at` as a cook reads it `now`: "start 12:41" ahead, "start now" around it, "3 min behind" after."""
    seconds = (now - at).total_seconds()
    local = at.astimezone(zone).strftime("%H:%M")
    if seconds < -START_NOW_SECONDS:
        return StartBy(at, local, "start " + local, behind=False)
    if seconds < START_NOW_SECONDS:
        return StartBy(at, local, "start now", behind=False)
    return StartBy(at, local, f"{int(seconds // 60)} min behind", behind=True)


@dataclass(frozen=True, slots=True)
class Urgency:
    """How the ticket races its pickup time now, and when that changes (None: it never will)."""

    now: str  # "ok", "soon" or "late"
    soon_at: datetime | None
    late_at: datetime | None


def urgency(order: OrderRecord, now: datetime, amber_seconds: int, section: str | None = None) -> Urgency:
    """Late once the pickup time has passed, soon within `amber_seconds` of it; only open tickets race.

    `section` is where the ticket stands on this board (a station's card is done when its lines are).
    """
    if (section or section_of(order)) != "open":
        return Urgency("ok", None, None)
    late_at = order.pickup_time
    # A pickup in the first minutes of year 1 has no "soon" before it that a datetime can hold.
    soon_at = max(late_at, _EPOCH + timedelta(seconds=amber_seconds)) - timedelta(seconds=amber_seconds)
    state = "late" if now > late_at else "soon" if now >= soon_at else "ok"
    return Urgency(state, soon_at, late_at)
