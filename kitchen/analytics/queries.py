"""Analytics figures, computed by the database from the server-stamped status history.

What the date range [from, to) selects, figure by figure (a manager asking for "last week"
gets last week's orders, with everything that happened to them):
- time in status, on-time and slowest items: the orders created in the range;
- throughput: the clock hours of the range, each counting the orders received and the orders
  that first became READY in it;
- customers: the customers who ordered in the range, with their orders up to its end.
The brand filter always applies to the order. Channel-reported history is never read: every
query asks for `source <> 'channel'`. Percentiles interpolate linearly between the two nearest
values (PostgreSQL's `percentile_cont`); SQLite, which has no percentile function, gets the
same figure from window functions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Float,
    Integer,
    Select,
    SQLColumnExpression,
    Subquery,
    case,
    cast,
    exists,
    extract,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kitchen.analytics import indexes  # noqa: F401  # registers the indexes these queries read through
from kitchen.analytics.schemas import (
    CustomerBucket,
    CustomerBucketName,
    Customers,
    OnTime,
    SlowItem,
    StatusDuration,
    StatusDurations,
    ThroughputHour,
    TopCustomer,
)
from kitchen.orders.models import ID_LENGTH, ItemStatusEvent, Order, OrderItem, OrderStatusEvent
from kitchen.orders.schemas import as_utc
from kitchen.orders.service import Clock, system_clock
from kitchen.orders.status import ItemStatus, OrderStatus

DEFAULT_RANGE = timedelta(hours=24)
LONGEST_RANGE = timedelta(days=731)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_BRANDS = 100
TOP_CUSTOMERS = 10
HOUR = 3600
# Per analytics transaction on PostgreSQL: a week of item stays sorts in memory, not on disk.
WORK_MEM = "64MB"

ORDER_STATUSES = (OrderStatus.RECEIVED, OrderStatus.PREPARING, OrderStatus.READY)
ITEM_STATUSES = (ItemStatus.ORDERED, ItemStatus.PREPARING, ItemStatus.READY)
CUSTOMER_BUCKETS: tuple[CustomerBucketName, ...] = ("1", "2", "3-5", "6-10", "11+")

# Literals, not bound parameters, so PostgreSQL can match the partial indexes in indexes.py.
SERVER_STAMPED_SQL: ColumnElement[str] = literal_column("'channel'")
READY_SQL: ColumnElement[str] = literal_column("'READY'")

PercentileMethod = Literal["percentile_cont", "window"]


class InvalidPeriod(ValueError):
    """A date range or brand list the figures cannot be computed for, with the parameter at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Period:
    """The orders a figure covers: [start, end) in UTC, of `brand_ids` (empty: every brand)."""

    start: datetime
    end: datetime
    brand_ids: tuple[str, ...] = ()


def seconds_between(
    dialect: str, start: SQLColumnExpression[Any], end: SQLColumnExpression[Any]
) -> ColumnElement[float]:
    """`end - start` in seconds, to the microsecond.

    SQLite stores DateTimeUTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text: whole seconds come from
    strftime, the fraction from the text itself (julianday would round to milliseconds).
    """
    if dialect == "postgresql":
        return cast(extract("epoch", end - start), Double)
    whole = cast(func.strftime("%s", end), Float) - cast(func.strftime("%s", start), Float)
    return whole + (cast(func.substr(end, 20), Float) - cast(func.substr(start, 20), Float))


def whole_epoch_seconds(dialect: str, moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
    """Whole seconds since 1970 of a DateTimeUTC column."""
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", moment)), BigInteger)
    return cast(func.strftime("%s", moment), Integer)


def summarize(
    rows: Subquery,
    keys: Sequence[str],
    value: str,
    method: PercentileMethod,
    extra: Sequence[str] = (),
) -> Select[Any]:
    """Per group of `keys`: count, mean, median and 90th percentile of `value`, plus max() of `extra`.

    Both methods give percentile_cont's figure: with the n values of a group sorted, the p-th
    percentile lies at 0-based position h = (n - 1) * p, between the values at floor(h) and
    floor(h) + 1, linearly interpolated. The window form computes h in integer arithmetic,
    so both databases agree exactly.
    """
    group = [rows.c[key] for key in keys]
    v = rows.c[value]
    extras = [func.max(rows.c[name]).label(name) for name in extra]
    if method == "percentile_cont":
        return select(
            *group,
            *extras,
            func.count().label("n"),
            func.avg(v).label("mean"),
            func.percentile_cont(0.5).within_group(v).label("p50"),
            func.percentile_cont(0.9).within_group(v).label("p90"),
        ).group_by(*group)

    ranked = select(
        *group,
        *[rows.c[name] for name in extra],
        v.label("v"),
        (func.row_number().over(partition_by=group, order_by=v) - 1).label("i"),
        func.count().over(partition_by=group).label("n"),
    ).subquery("ranked")
    i, n, rv = ranked.c.i, ranked.c.n, ranked.c.v

    def percentile(percent: int) -> ColumnElement[float]:
        position = (n - 1) * percent  # h * 100, an integer
        below = func.max(case((i == position // 100, rv)))
        above = func.max(case((i == position // 100 + 1, rv)))
        fraction = func.max(position % 100) / 100.0
        return below + func.coalesce(above - below, 0.0) * fraction

    return select(
        *[ranked.c[key] for key in keys],
        *[func.max(ranked.c[name]).label(name) for name in extra],
        func.max(n).label("n"),
        func.avg(rv).label("mean"),
        percentile(50).label("p50"),
        percentile(90).label("p90"),
    ).group_by(*[ranked.c[key] for key in keys])


def rounded(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds), 3)


def local_hour_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant at which the kitchen's clock hour containing `moment` began.

    The same arithmetic as the SQL of `AnalyticsQueries.throughput`: shift by the offset in
    force at that moment, floor to the hour, shift back.
    """
    offset = _offset_seconds(moment, zone)
    epoch = math.floor(moment.timestamp())
    return datetime.fromtimestamp((epoch + offset) // HOUR * HOUR - offset, UTC)


def next_local_hour(hour: datetime, zone: ZoneInfo) -> datetime:
    """The start of the clock hour after the one starting at `hour`."""
    following = local_hour_start(hour + timedelta(seconds=HOUR), zone)
    return following if following > hour else hour + timedelta(seconds=HOUR)


def local_hours(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Start instants (UTC) of the kitchen's clock hours that overlap [start, end), oldest first."""
    hours: list[datetime] = []
    hour = local_hour_start(start, zone)
    while hour < end:
        hours.append(hour)
        hour = next_local_hour(hour, zone)
    return hours


def _offset_seconds(moment: datetime, zone: ZoneInfo) -> int:
    offset = moment.astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _offset_changes(hours: Sequence[datetime], zone: ZoneInfo) -> Iterator[tuple[int, int]]:
    """(epoch second, new UTC offset) of every change of the zone's offset among `hours`."""
    for earlier, later in itertools.pairwise(hours):
        before, after = _offset_seconds(earlier, zone), _offset_seconds(later, zone)
        if before == after:
            continue
        low, high = int(earlier.timestamp()), int(later.timestamp())
        while high - low > 1:  # the first second with the new offset
            middle = (low + high) // 2
            if _offset_seconds(datetime.fromtimestamp(middle, UTC), zone) == before:
                low = middle
            else:
                high = middle
        yield high, after


class AnalyticsQueries:
    """The analytics figures; each method is one or two SQL statements over the history tables."""

    def __init__(
        self,
        session: AsyncSession,
        clock: Clock = system_clock,
        zone: ZoneInfo | None = None,
        method: PercentileMethod | None = None,
    ) -> None:
        self.session = session
        self.clock = clock
        self.zone = zone or ZoneInfo("UTC")
        self.dialect = session.get_bind().dialect.name
        # PostgreSQL's own percentile_cont is the faster; the window form is what SQLite can do.
        self.method: PercentileMethod = method or ("percentile_cont" if self.dialect == "postgresql" else "window")
        self._tuned = False

    async def _tune(self) -> None:
        """On PostgreSQL, let this transaction sort in memory and skip JIT (it costs more than it saves here)."""
        if self.dialect == "postgresql" and not self._tuned:
            await self.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
            await self.session.execute(text("SET LOCAL jit = off"))
            self._tuned = True

    def period(self, start: datetime | None, end: datetime | None, brand_ids: Sequence[str] = ()) -> Period:
        """The range the caller asked for; naive times are UTC.

        `to` defaults to now and `from` to 24 hours before `to`.

        Raises InvalidPeriod for times before 2000 or from 2100 on, `from` after `to`,
        ranges longer than two years and implausible brand lists.
        """
        end = as_utc(end) if end is not None else None
        start = as_utc(start) if start is not None else None
        for field, moment in (("from", start), ("to", end)):
            if moment is not None and not EARLIEST <= moment < LATEST:
                raise InvalidPeriod(field, f"{field} must be in the years 2000 to 2099")
        end = end if end is not None else self.clock()
        start = start if start is not None else end - DEFAULT_RANGE
        if start > end:
            raise InvalidPeriod("from", "from must not be after to")
        if end - start > LONGEST_RANGE:
            raise InvalidPeriod("to", f"the range may span at most {LONGEST_RANGE.days} days")
        if len(brand_ids) > MAX_BRANDS:
            raise InvalidPeriod("brandId", f"at most {MAX_BRANDS} brands at once")
        for brand_id in brand_ids:
            if not 0 < len(brand_id) <= ID_LENGTH:
                raise InvalidPeriod("brandId", f"a brand id has 1 to {ID_LENGTH} characters")
        return Period(start, end, tuple(dict.fromkeys(brand_ids)))

    def _orders_of(self, period: Period) -> list[ColumnElement[bool]]:
        conditions = [Order.created_at >= period.start, Order.created_at < period.end]
        if period.brand_ids:
            conditions.append(Order.brand_id.in_(period.brand_ids))
        return conditions

    async def status_durations(self, period: Period) -> StatusDurations:
        """Time spent in each status by the orders created in the period, and by their items.

        A stay counts from the event that entered the status to the next server event of the
        same order or item (`ended_at`); a status still current is left out. An undo ends a
        stay like any change, and the status it returns to starts a new one.
        """
        await self._tune()
        return StatusDurations(
            orders=await self._durations(period, OrderStatusEvent, ORDER_STATUSES),
            items=await self._durations(period, ItemStatusEvent, ITEM_STATUSES),
        )

    async def _durations(
        self, period: Period, event: type[OrderStatusEvent | ItemStatusEvent], statuses: Sequence[str]
    ) -> list[StatusDuration]:
        stays = (
            select(event.status.label("status"), seconds_between(self.dialect, event.at, event.ended_at).label("s"))
            .join_from(Order, event, event.order_id == Order.id)
            .where(
                *self._orders_of(period),
                event.source != SERVER_STAMPED_SQL,
                event.ended_at.is_not(None),
                event.status.in_(statuses),
            )
            .subquery("stays")
        )
        found = {row.status: row for row in await self.session.execute(summarize(stays, ["status"], "s", self.method))}
        return [
            StatusDuration(
                status=status,
                count=int(found[status].n) if status in found else 0,
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
        changes = list(_offset_changes([*hours, end], self.zone))

        def hour_of(moment: SQLColumnExpression[Any]) -> ColumnElement[int]:
            # Inlined integers, not parameters: PostgreSQL groups by this expression.
            def number(value: int) -> ColumnElement[int]:
                return literal_column(str(int(value)), Integer)

            epoch = whole_epoch_seconds(self.dialect, moment)
            offset = number(_offset_seconds(start, self.zone))
            if changes:
                since_change = [(epoch >= number(since), number(new)) for since, new in reversed(changes)]
                offset = case(*since_change, else_=offset)
            return (epoch + offset) // number(HOUR) * number(HOUR) - offset

        received_hour = hour_of(Order.created_at).label("hour")
        received = (
            select(received_hour, func.count().label("orders"))
            .where(*self._orders_of(Period(start, end, period.brand_ids)))
            .group_by(received_hour)
        )
        earlier = aliased(OrderStatusEvent)
        ready_hour = hour_of(OrderStatusEvent.at).label("hour")
        first_ready = [
            OrderStatusEvent.status == READY_SQL,
            OrderStatusEvent.source != SERVER_STAMPED_SQL,
            OrderStatusEvent.at >= start,
            OrderStatusEvent.at < end,
            ~exists().where(
                earlier.order_id == OrderStatusEvent.order_id,
                earlier.status == READY_SQL,
                earlier.source != SERVER_STAMPED_SQL,
                earlier.at < OrderStatusEvent.at,
            ),
        ]
        if period.brand_ids:
            first_ready.append(
                OrderStatusEvent.order_id.in_(select(Order.id).where(Order.brand_id.in_(period.brand_ids)))
            )
        ready = (
            select(ready_hour, func.count(OrderStatusEvent.order_id.distinct()).label("orders"))
            .where(*first_ready)
            .group_by(ready_hour)
        )
        received_by_hour = {int(row.hour): int(row.orders) for row in await self.session.execute(received)}
        ready_by_hour = {int(row.hour): int(row.orders) for row in await self.session.execute(ready)}
        return [
            ThroughputHour(
                hour=hour.astimezone(self.zone),
                received=received_by_hour.get(int(hour.timestamp()), 0),
                ready=ready_by_hour.get(int(hour.timestamp()), 0),
            )
            for hour in hours
        ]

    async def customers(self, period: Period) -> Customers:
        """How many orders the customers who ordered in the period have placed in all, up to its end.

        `distribution` counts those customers by their order count (1, 2, 3-5, 6-10, 11+);
        `top` lists the ten with the most orders (ties: the most recent order first), with
        their first and last order. With a brand filter, only orders of those brands count.
        """
        await self._tune()
        brands = [Order.brand_id.in_(period.brand_ids)] if period.brand_ids else []
        active = select(Order.account).where(*self._orders_of(period)).distinct()
        lifetime = (
            select(
                Order.account.label("account"),
                func.count().label("orders"),
                func.min(Order.created_at).label("first_order_at"),
                func.max(Order.created_at).label("last_order_at"),
            )
            .where(Order.account.in_(active), Order.created_at < period.end, *brands)
            .group_by(Order.account)
            .cte("lifetime")
        )
        n = lifetime.c.orders
        bucket = case((n == 1, "1"), (n == 2, "2"), (n <= 5, "3-5"), (n <= 10, "6-10"), else_="11+")
        bucketed = select(bucket.label("bucket")).subquery("bucketed")
        counts = select(bucketed.c.bucket, func.count().label("customers")).group_by(bucketed.c.bucket)
        found = {row.bucket: int(row.customers) for row in await self.session.execute(counts)}
        top = select(lifetime).order_by(n.desc(), lifetime.c.last_order_at.desc(), lifetime.c.account)
        return Customers(
            distribution=[CustomerBucket(bucket=name, customers=found.get(name, 0)) for name in CUSTOMER_BUCKETS],
            top=[
                TopCustomer(
                    account=row.account,
                    order_count=int(row.orders),
                    first_order_at=row.first_order_at,
                    last_order_at=row.last_order_at,
                )
                for row in await self.session.execute(top.limit(TOP_CUSTOMERS))
            ],
        )

    async def on_time(self, period: Period) -> OnTime:
        """Of the orders created in the period that reached READY, how many did so by their pickupTime.

        READY means the order's first server READY event: a recall and a second bump do not
        move it. Orders not (yet) READY, cancelled ones included, are not counted. The late
        ones' lateness (READY minus pickupTime) is given as median and 90th percentile.
        """
        await self._tune()
        first_ready = (
            select(Order.pickup_time.label("pickup_time"), func.min(OrderStatusEvent.at).label("ready_at"))
            .join_from(Order, OrderStatusEvent, OrderStatusEvent.order_id == Order.id)
            .where(
                *self._orders_of(period),
                OrderStatusEvent.status == READY_SQL,
                OrderStatusEvent.source != SERVER_STAMPED_SQL,
            )
            .group_by(Order.id, Order.pickup_time)
            .subquery("first_ready")
        )
        late = seconds_between(self.dialect, first_ready.c.pickup_time, first_ready.c.ready_at)
        lateness = select(case((late > 0, "late"), else_="on_time").label("verdict"), late.label("s")).subquery()
        verdicts = await self.session.execute(summarize(lateness, ["verdict"], "s", self.method))
        found = {row.verdict: row for row in verdicts}
        on_time = int(found["on_time"].n) if "on_time" in found else 0
        late_rows = found.get("late")
        orders = on_time + (int(late_rows.n) if late_rows else 0)
        return OnTime(
            orders=orders,
            on_time=on_time,
            rate=round(on_time / orders, 4) if orders else None,
            late_p50_seconds=rounded(late_rows.p50) if late_rows else None,
            late_p90_seconds=rounded(late_rows.p90) if late_rows else None,
        )

    async def slowest_items(self, period: Period) -> list[SlowItem]:
        """PLUs of the orders created in the period, slowest median first, by time from ORDERED to READY.

        An item is ORDERED when its order comes in (its first ORDERED event carries the
        order's createdAt) and READY at its first server READY event; items that never got
        there (open or cancelled) are left out. `name` is the PLU's name (the greatest, should
        orders disagree).
        """
        await self._tune()
        first_ready = (
            select(
                ItemStatusEvent.item_id.label("item_id"),
                Order.created_at.label("ordered_at"),
                func.min(ItemStatusEvent.at).label("ready_at"),
            )
            .join_from(Order, ItemStatusEvent, ItemStatusEvent.order_id == Order.id)
            .where(
                *self._orders_of(period),
                ItemStatusEvent.status == READY_SQL,
                ItemStatusEvent.source != SERVER_STAMPED_SQL,
            )
            .group_by(ItemStatusEvent.item_id, Order.created_at)
            .subquery("first_ready")
        )
        cooking = (
            select(
                OrderItem.plu.label("plu"),
                OrderItem.name.label("name"),
                seconds_between(self.dialect, first_ready.c.ordered_at, first_ready.c.ready_at).label("s"),
            )
            .join_from(first_ready, OrderItem, OrderItem.id == first_ready.c.item_id)
            .subquery("cooking")
        )
        ranked = summarize(cooking, ["plu"], "s", self.method, extra=["name"]).subquery("by_plu")
        query = select(ranked).order_by(ranked.c.p50.desc(), ranked.c.plu)
        return [
            SlowItem(
                plu=row.plu,
                name=row.name,
                count=int(row.n),
                p50_seconds=float(rounded(row.p50) or 0.0),
                p90_seconds=float(rounded(row.p90) or 0.0),
            )
            for row in await self.session.execute(query)
        ]
