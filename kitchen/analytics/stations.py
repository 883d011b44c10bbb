"""Figures per station: how long its lines wait and cook, and how it keeps to start-by and prep targets.

A line belongs to the station its brand's menu routes its PLU to now (`unassigned` when none
does), as on the boards: a manager who fixes a menu sees the figures move with it.

These read the server-stamped item history of the range's orders, one statement streamed in one
pass, not the summary tables (those are keyed by status and PLU, and a menu can re-route a PLU
after the fact). Percentiles are exact (percentile_cont's interpolation) over the range's lines;
a week of a busy kitchen is tens of thousands of rows, read in well under a second.

For each station, over the lines of the orders created in the range:
- time in each item status, over the stays that have ended (as `status_durations`);
- started by start-by: of the lines started (a first PREPARING), how many by their start-by
  (pickup time less prep seconds less `KITCHEN_PACK_SECONDS`; a line with no prep time, by its pickup
  time), and the median of start minus start-by (negative: early);
- within target: of the lines with a prep time that were started and finished, how many went
  from their first PREPARING to their first READY within it;
- on time: of the lines due (READY, or still open with their ready-by passed, order neither
  final nor cancelled), how many were READY by their ready-by: the pickup time less packing,
  when the bag must be filled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.analytics.periods import Period
from kitchen.analytics.schemas import StationFigures, StatusDuration
from kitchen.board.rules import start_by
from kitchen.menu.models import MenuItem
from kitchen.menu.service import UNASSIGNED
from kitchen.orders.models import EventSource, ItemStatusEvent, Order, OrderItem
from kitchen.orders.status import ItemStatus, OrderStatus

ITEM_STATUSES = (ItemStatus.ORDERED, ItemStatus.PREPARING, ItemStatus.READY)
OPEN = (OrderStatus.RECEIVED, OrderStatus.PREPARING)
ROWS_AT_ONCE = 2000


def percentile(values: list[float], fraction: float) -> float | None:
    """percentile_cont over `values` (sorted): linear between the two nearest ranks."""
    if not values:
        return None
    position = (len(values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass
class _Line:
    """One line and its server-stamped history, as the statement streams it."""

    station: str
    prep_seconds: int | None
    pickup_time: datetime
    order_status: str
    status: str
    started_at: datetime | None = None
    ready_at: datetime | None = None
    stays: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class _Station:
    lines: int = 0
    stays: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    started: int = 0
    started_by_start_by: int = 0
    start_late: list[float] = field(default_factory=list)
    timed: int = 0
    within_target: int = 0
    due: int = 0
    on_time: int = 0
    open_late: int = 0

    def count(self, line: _Line, now: datetime, pack_seconds: int) -> None:
        self.lines += 1
        for status, stay in line.stays:
            self.stays[status].append(stay)
        if line.started_at is not None:
            self.started += 1
            lateness = (line.started_at - start_by(line.pickup_time, line.prep_seconds, pack_seconds)).total_seconds()
            self.start_late.append(lateness)
            self.started_by_start_by += lateness <= 0
            if line.ready_at is not None and line.prep_seconds is not None:
                self.timed += 1
                self.within_target += (line.ready_at - line.started_at).total_seconds() <= line.prep_seconds
        ready_by = line.pickup_time - timedelta(seconds=pack_seconds)
        if line.ready_at is not None:
            self.due += 1
            self.on_time += line.ready_at <= ready_by
        elif line.order_status in OPEN and line.status != ItemStatus.READY and ready_by < now:
            self.due += 1
            self.open_late += 1

    def figures(self, name: str) -> StationFigures:
        for values in (*self.stays.values(), self.start_late):
            values.sort()
        statuses = []
        for status in ITEM_STATUSES:
            stays = self.stays.get(status, [])
            statuses.append(
                StatusDuration(
                    status=status,
                    count=len(stays),
                    avg_seconds=seconds(sum(stays) / len(stays)) if stays else None,
                    p50_seconds=seconds(percentile(stays, 0.5)),
                    p90_seconds=seconds(percentile(stays, 0.9)),
                )
            )
        return StationFigures(
            station=name,
            lines=self.lines,
            statuses=statuses,
            started=self.started,
            started_by_start_by=self.started_by_start_by,
            started_by_start_by_rate=rate(self.started_by_start_by, self.started),
            start_late_p50_seconds=seconds(percentile(self.start_late, 0.5)),
            timed=self.timed,
            within_target=self.within_target,
            within_target_rate=rate(self.within_target, self.timed),
            due=self.due,
            on_time=self.on_time,
            open_late=self.open_late,
            on_time_rate=rate(self.on_time, self.due),
        )


async def station_figures(
    session: AsyncSession, period: Period, now: datetime, pack_seconds: int
) -> list[StationFigures]:
    """The figures of every station with lines in the period, by name (`unassigned` last)."""
    e = ItemStatusEvent
    routed = (MenuItem.brand_id == Order.brand_id) & (MenuItem.plu == OrderItem.plu)
    statement = (
        select(
            OrderItem.id,
            func.coalesce(MenuItem.station, literal(UNASSIGNED)),
            MenuItem.prep_seconds,
            Order.pickup_time,
            Order.status,
            OrderItem.status,
            e.status,
            e.at,
            e.ended_at,
        )
        .join(Order, Order.id == OrderItem.order_id)
        .outerjoin(MenuItem, routed)
        .outerjoin(e, (e.item_id == OrderItem.id) & (e.source != EventSource.CHANNEL))
        .where(Order.created_at >= period.start, Order.created_at < period.end)
        .order_by(OrderItem.id, e.id)
    )
    if period.brand_ids:
        statement = statement.where(Order.brand_id.in_(period.brand_ids))
    stations: defaultdict[str, _Station] = defaultdict(_Station)
    line: _Line | None = None
    line_id = None
    result = await session.stream(statement.execution_options(yield_per=ROWS_AT_ONCE))
    async for item_id, station, prep, pickup, order_status, status, event, at, ended_at in result:
        if item_id != line_id:
            if line is not None:
                stations[line.station].count(line, now, pack_seconds)
            line_id, line = item_id, _Line(station, prep, pickup, order_status, status)
        assert line is not None
        if event is None:
            continue  # no server-stamped history (a channel-reported line)
        if event == ItemStatus.PREPARING and line.started_at is None:
            line.started_at = at
        if event == ItemStatus.READY and line.ready_at is None:
            line.ready_at = at
        if ended_at is not None:
            line.stays.append((event, (ended_at - at).total_seconds()))
    if line is not None:
        stations[line.station].count(line, now, pack_seconds)
    order = sorted(stations, key=lambda name: (name == UNASSIGNED, name))
    return [stations[name].figures(name) for name in order]


async def item_targets(session: AsyncSession, period: Period, plus: list[str]) -> dict[str, tuple[str, int | None]]:
    """Per PLU, the station a menu routes it to and its prep target (brands that disagree: the
    first station by name, the longest target), over the period's brands."""
    if not plus:
        return {}
    statement = (
        select(MenuItem.plu, func.min(MenuItem.station), func.max(MenuItem.prep_seconds))
        .where(MenuItem.plu.in_(plus))
        .group_by(MenuItem.plu)
    )
    if period.brand_ids:
        statement = statement.where(MenuItem.brand_id.in_(period.brand_ids))
    return {plu: (station, prep) for plu, station, prep in await session.execute(statement)}
