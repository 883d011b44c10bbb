"""Analytics figures, computed by the database from the server-stamped status history.

What the date range [from, to) selects, figure by figure (a manager asking for "last week"
gets last week's orders, with everything that happened to them):
- time in status, on-time and slowest items: the orders created in the range;
- throughput: the clock hours of the range, each counting the orders received and the orders
  that first became READY in it;
- customers: the customers who ordered in the range, with their orders up to its end.
The brand filter always applies to the order. Channel-reported history is never read.

Every figure reads the summary tables (`orders/summaries/`), which the order service writes in
the same transaction as each status change (migration `analytics summaries` filled them from
the history before it), so half a year costs a few times what a week costs, not 25 times:
- counts, means, throughput and customers are exact;
- percentiles are percentile_cont's (linear interpolation between the two nearest values) over
  the durations each taken at its bucket's representative (`buckets.py`): within 0.9 % or 50 ms
  of percentile_cont over the exact durations, whichever is larger, and exact where a bucket
  holds one value.
Customers come from per-account totals, less the orders placed from the end of the range on
(none, for a range that ends now). Every figure is computed by the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, Select, SQLColumnExpression, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from kitchen.analytics import indexes  # noqa: F401  # registers the indexes these queries read through
from kitchen.analytics.customers import customers_of
from kitchen.analytics.hours import HOUR, local_hours, next_local_hour, offset_changes, offset_seconds
from kitchen.analytics.percentiles import Group, Summary, histogram_summary, rounded, summaries
from kitchen.analytics.periods import Period, asked_period, day_start, month_of, next_day_start, next_month_start
from kitchen.analytics.schemas import (
    BrandFigures,
    Customers,
    OnTime,
    SlowItem,
    StationFigures,
    StatusDuration,
    StatusDurations,
    ThroughputHour,
    TicketTime,
    TicketTimes,
)
from kitchen.analytics.stations import item_targets, station_figures
from kitchen.analytics.tuning import Tuning, untuned
from kitchen.board.rules import ON_BOARD, STALE_AFTER, stale_before
from kitchen.brands.models import Brand
from kitchen.clock import Clock, system_clock
from kitchen.menu.service import UNASSIGNED
from kitchen.orders.models import Order
from kitchen.orders.status import ItemStatus, OrderStatus
from kitchen.orders.summaries.tables import (
    BUMPED,
    COOKED,
    ITEM_BUMPED,
    ITEM_READY,
    ITEM_STATUS,
    LATE,
    ON_TIME,
    ORDER_READY,
    ORDER_STATUS,
    QUARTER_HOUR,
    TICKET,
    AnalyticsQuarterHour,
    AnalyticsSample,
)

ORDER_STATUSES = (OrderStatus.RECEIVED, OrderStatus.PREPARING, OrderStatus.READY)
ITEM_STATUSES = (ItemStatus.ORDERED, ItemStatus.PREPARING, ItemStatus.READY)


class AnalyticsQueries:
    """The analytics figures; each method is one or two SQL statements over the history tables."""

    def __init__(
        self,
        session: AsyncSession,
        clock: Clock = system_clock,
        zone: ZoneInfo | None = None,
        tuning: Tuning = untuned,
        pack_seconds: int = 120,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.session = session
        self.clock = clock
        self.zone = zone or ZoneInfo("UTC")
        self.tuning = tuning
        self.pack_seconds = pack_seconds
        self.stale_after = stale_after
        self._tuned = False

    async def _tune(self) -> None:
        """Set the session up for figures (see `tuning.py`), once."""
        if not self._tuned:
            await self.tuning(self.session)
            self._tuned = True

    def period(self, start: datetime | None, end: datetime | None, brand_ids: Sequence[str] = ()) -> Period:
        """The range the caller asked for (see `periods.asked_period`); FieldError if it cannot be used."""
        return asked_period(start, end, brand_ids, self.clock)

    async def customers(self, period: Period) -> Customers:
        """See `customers.customers_of`."""
        await self._tune()
        return await customers_of(self.session, period)

    async def status_durations(self, period: Period) -> StatusDurations:
        """Time spent in each status by the orders created in the period, and by their items.

        A stay counts from the event that entered the status to the next server event of the
        same order or item (`ended_at`); a status still current is left out. An undo ends a
        stay like any change, and the status it returns to starts a new one.
        """
        await self._tune()
        return StatusDurations(
            orders=await self._durations(period, ORDER_STATUS, ORDER_STATUSES),
            items=await self._durations(period, ITEM_STATUS, ITEM_STATUSES),
        )

    async def _any_sample(self, measure: str, brand_ids: Sequence[str], low: datetime, high: datetime) -> bool:
        s = AnalyticsSample
        conditions = [s.measure == measure, s.created_at >= low, s.created_at < high]
        if brand_ids:
            conditions.append(s.brand_id.in_(brand_ids))
        return (await self.session.scalar(select(literal_column("1")).where(*conditions).limit(1))) is not None

    async def _widened(self, period: Period, measure: str) -> Period:
        """`period` grown to whole UTC days, then whole UTC months, wherever the time added holds no
        sample of `measure` (of its brands): the figures stay the same, and whole days and months
        are read from the histograms instead of the samples (a range ending now, or starting
        before the first order, needs no loose ends at all)."""
        start, end = period.start, period.end
        if start >= end:
            return period
        for floor, ceiling in ((day_start, next_day_start), (month_of, next_month_start)):
            # Months only from whole days: a loose end that stays loose is not worth a look.
            low, whole_day = floor(start), day_start(start) == start or floor is day_start
            if low < start and whole_day and not await self._any_sample(measure, period.brand_ids, low, start):
                start = low
            high, whole_day = ceiling(end), day_start(end) == end or floor is day_start
            if end < high and whole_day and not await self._any_sample(measure, period.brand_ids, end, high):
                end = high
        return Period(start, end, period.brand_ids)

    async def _summary(
        self, period: Period, measure: str, keys: Sequence[str] = (), group: Group = "key"
    ) -> dict[str, Summary]:
        """The figures of `measure` over `period` per key (or per brand), read through the fewest buckets."""
        widened = await self._widened(period, measure)
        return summaries(await self.session.execute(histogram_summary(widened, measure, keys, group)))

    async def _durations(self, period: Period, measure: str, statuses: Sequence[str]) -> list[StatusDuration]:
        found = await self._summary(period, measure, statuses)
        return [
            StatusDuration(
                status=status,
                count=found[status].n if status in found else 0,
                avg_seconds=rounded(found[status].mean) if status in found else None,
                p50_seconds=rounded(found[status].p50) if status in found else None,
                p90_seconds=rounded(found[status].p90) if status in found else None,
            )
            for status in statuses
        ]

    async def throughput(self, period: Period) -> list[ThroughputHour]:
        """Orders received and orders ready in each clock hour of the kitchen's zone, oldest first.

        The range is widened to whole clock hours (a range from 09:30 shows the whole 09:00
        hour). Received: the order's createdAt. Ready: its first server READY event, so an
        order recalled and bumped again counts once, in the hour it was first bumped. Hours
        with no orders are 0; across a daylight-saving change the hours follow the clock
        (the hour that does not exist is absent, the repeated one appears twice, each with
        its own offset).
        """
        await self._tune()
        hours = local_hours(period.start, period.end, self.zone)
        if not hours:
            return []
        start, end = hours[0], next_local_hour(hours[-1], self.zone)
        changes = list(offset_changes([*hours, end], self.zone))

        def number(value: int) -> ColumnElement[int]:
            # Inlined integers, not parameters: PostgreSQL groups by this expression.
            return literal_column(str(int(value)), Integer)

        q = AnalyticsQuarterHour
        epoch = q.quarter * number(QUARTER_HOUR)
        offset = number(offset_seconds(start, self.zone))
        if changes:
            since_change = [(epoch >= number(since), number(new)) for since, new in reversed(changes)]
            offset = case(*since_change, else_=offset)
        hour_start = ((epoch + offset) // number(HOUR) * number(HOUR) - offset).label("hour")
        # Local clock hours begin on UTC quarter hours in every zone, so whole quarters add up exactly.
        conditions = [
            q.quarter >= math.floor(start.timestamp()) // QUARTER_HOUR,
            q.quarter < math.floor(end.timestamp()) // QUARTER_HOUR,
        ]
        if period.brand_ids:
            conditions.append(q.brand_id.in_(period.brand_ids))
        counts = select(hour_start, func.sum(q.received).label("received"), func.sum(q.ready).label("ready")).where(
            *conditions
        )
        by_hour = {int(row.hour): row for row in await self.session.execute(counts.group_by(hour_start))}
        return [
            ThroughputHour(
                hour=hour.astimezone(self.zone),
                received=int(by_hour[int(hour.timestamp())].received) if int(hour.timestamp()) in by_hour else 0,
                ready=int(by_hour[int(hour.timestamp())].ready) if int(hour.timestamp()) in by_hour else 0,
            )
            for hour in hours
        ]

    def _open_late(self, period: Period, now: datetime) -> Select[str, int]:
        """Per brand, the orders of the period not READY (nor final) whose pickup time has passed."""
        conditions = [
            Order.status.in_((OrderStatus.RECEIVED, OrderStatus.PREPARING)),
            Order.pickup_time < now,
            Order.created_at >= period.start,
            Order.created_at < period.end,
        ]
        if period.brand_ids:
            conditions.append(Order.brand_id.in_(period.brand_ids))
        return select(Order.brand_id, func.count().label("n")).where(*conditions).group_by(Order.brand_id)

    async def abandoned(self, period: Period) -> int:
        """Orders of the period still open or ready so long past their pickup time that they
        left the boards (`KITCHEN_STALE_HOURS`): the courier never came, the channel never cancelled."""
        now = self.clock()
        conditions = [
            Order.status.in_(ON_BOARD),
            Order.pickup_time <= stale_before(now, self.stale_after),
            Order.created_at >= period.start,
            Order.created_at < period.end,
        ]
        if period.brand_ids:
            conditions.append(Order.brand_id.in_(period.brand_ids))
        return int(await self.session.scalar(select(func.count()).select_from(Order).where(*conditions)) or 0)

    async def on_time(self, period: Period) -> OnTime:
        """Of the orders created in the period that are due, how many were READY by their pickupTime.

        Due: the order reached READY (its first server READY event: a recall and a second bump
        do not move it), or it is still open (neither READY nor final) after its pickupTime, which
        makes it late already. Cancelled orders are not counted. The lateness of the orders that
        were READY late (READY minus pickupTime) is given as median and 90th percentile.
        """
        await self._tune()
        found = await self._summary(period, ORDER_READY)
        open_late = sum(int(row.n) for row in await self.session.execute(self._open_late(period, self.clock())))
        on_time = found[ON_TIME].n if ON_TIME in found else 0
        late = found.get(LATE)
        orders = on_time + (late.n if late else 0)
        due = orders + open_late
        return OnTime(
            orders=orders,
            on_time=on_time,
            open_late=open_late,
            due=due,
            rate=round(on_time / due, 4) if due else None,
            late_p50_seconds=rounded(late.p50) if late else None,
            late_p90_seconds=rounded(late.p90) if late else None,
            abandoned=await self.abandoned(period),
        )

    async def slowest_items(self, period: Period) -> list[SlowItem]:
        """PLUs of the orders created in the period, slowest median first, by time from ORDERED to READY.

        An item is ORDERED when its order comes in and READY at its first server READY event.
        Only items completed on their own are timed: an item made READY together with other
        items of its order (a bump) says how long the ticket took, not the item, so it is counted
        in `bumped` instead. PLUs only ever bumped come last, untimed. Items that never got to
        READY (open or cancelled) are left out. `name` is the PLU's name (the greatest, should
        orders disagree).
        """
        await self._tune()
        timed = await self._summary(period, ITEM_READY)
        bumped = await self._summary(period, ITEM_BUMPED)
        targets = await item_targets(self.session, period, sorted(timed.keys() | bumped.keys()))
        rows = [
            SlowItem(
                plu=plu,
                name=(timed.get(plu) or bumped[plu]).label,
                count=timed[plu].n if plu in timed else 0,
                bumped=bumped[plu].n if plu in bumped else 0,
                p50_seconds=rounded(timed[plu].p50) if plu in timed else None,
                p90_seconds=rounded(timed[plu].p90) if plu in timed else None,
                station=targets.get(plu, (UNASSIGNED, None))[0],
                target_seconds=targets.get(plu, (UNASSIGNED, None))[1],
            )
            for plu in timed.keys() | bumped.keys()
        ]
        return sorted(rows, key=lambda row: (row.p50_seconds is None, -(row.p50_seconds or 0), row.plu))

    async def stations(self, period: Period) -> list[StationFigures]:
        """See `stations.station_figures`."""
        await self._tune()
        return await station_figures(self.session, period, self.clock(), self.pack_seconds)

    async def ticket_times(self, period: Period) -> TicketTimes:
        """Time from createdAt to the first READY of the orders created in the period, cooked
        orders (the last item completed on its own) apart from bumped ones."""
        await self._tune()
        found = await self._summary(period, TICKET)

        def ticket(key: str) -> TicketTime:
            row = found.get(key)
            if row is None:
                return TicketTime(count=0, avg_seconds=None, p50_seconds=None, p90_seconds=None)
            return TicketTime(
                count=row.n, avg_seconds=rounded(row.mean), p50_seconds=rounded(row.p50), p90_seconds=rounded(row.p90)
            )

        return TicketTimes(cooked=ticket(COOKED), bumped=ticket(BUMPED))

    async def brands(self, period: Period) -> list[BrandFigures]:
        """Per brand with orders in the period: orders received, the on-time figures of `on_time`,
        and the median ticket time (cooked and bumped orders together), most orders first."""
        await self._tune()
        received = await self._received_by_brand(period)
        open_late = {
            row.brand_id: int(row.n) for row in await self.session.execute(self._open_late(period, self.clock()))
        }
        tickets = await self._summary(period, TICKET, group="brand_id")
        ready = await self._ready_by_brand(period)
        names = {row[0]: row[1] for row in await self.session.execute(select(Brand.id, Brand.name))}
        rows = []
        for brand_id in received.keys() | open_late.keys() | ready.keys():
            on_time, late = ready.get(brand_id, (0, 0))
            due = on_time + late + open_late.get(brand_id, 0)
            rows.append(
                BrandFigures(
                    brand_id=brand_id,
                    name=names.get(brand_id),
                    orders=received.get(brand_id, 0),
                    due=due,
                    on_time=on_time,
                    open_late=open_late.get(brand_id, 0),
                    on_time_rate=round(on_time / due, 4) if due else None,
                    ticket_p50_seconds=rounded(tickets[brand_id].p50) if brand_id in tickets else None,
                )
            )
        return sorted(rows, key=lambda row: (-row.orders, row.brand_id))

    async def _ready_by_brand(self, period: Period) -> dict[str, tuple[int, int]]:
        """(on time, late) orders per brand that reached READY."""
        counts: dict[str, tuple[int, int]] = {}
        for verdict in (ON_TIME, LATE):
            for brand_id, row in (await self._summary(period, ORDER_READY, (verdict,), group="brand_id")).items():
                on_time, late = counts.get(brand_id, (0, 0))
                counts[brand_id] = (on_time + row.n, late) if verdict == ON_TIME else (on_time, late + row.n)
        return counts

    async def _received_by_brand(self, period: Period) -> dict[str, int]:
        """Orders created in the period per brand: whole quarter hours from their counters, the
        loose ends (a range not on quarter hours) from the orders themselves."""
        first = -(-math.floor(period.start.timestamp()) // QUARTER_HOUR)  # the first whole quarter
        last = math.floor(period.end.timestamp()) // QUARTER_HOUR
        received: dict[str, int] = {}

        def brands_of(column: SQLColumnExpression[str]) -> list[ColumnElement[bool]]:
            return [column.in_(period.brand_ids)] if period.brand_ids else []

        loose = [(period.start, period.end)]
        if first < last:
            q = AnalyticsQuarterHour
            whole = select(q.brand_id, func.sum(q.received)).where(
                q.quarter >= first, q.quarter < last, *brands_of(q.brand_id)
            )
            for brand_id, n in await self.session.execute(whole.group_by(q.brand_id)):
                received[brand_id] = received.get(brand_id, 0) + int(n)
            edges = (
                datetime.fromtimestamp(first * QUARTER_HOUR, UTC),
                datetime.fromtimestamp(last * QUARTER_HOUR, UTC),
            )
            loose = [(period.start, edges[0]), (edges[1], period.end)]
        for low, high in loose:
            if low >= high:
                continue
            counted = select(Order.brand_id, func.count()).where(
                Order.created_at >= low, Order.created_at < high, *brands_of(Order.brand_id)
            )
            for brand_id, n in await self.session.execute(counted.group_by(Order.brand_id)):
                received[brand_id] = received.get(brand_id, 0) + int(n)
        return received
