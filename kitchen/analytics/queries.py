"""Analytics figures, computed by the database from the server-stamped status history.

What the date range [from, to) selects, figure by figure (a manager asking for "last week"
gets last week's orders, with everything that happened to them):
- time in status, on-time and slowest items: the orders created in the range;
- throughput: the clock hours of the range, each counting the orders received and the orders
  that first became READY in it;
- customers: the customers who ordered in the range, with their orders up to its end.
The brand filter always applies to the order. Channel-reported history is never read.

Every figure reads the summary tables of `summaries.py`, which the order service writes in
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

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    SQLColumnExpression,
    Subquery,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from kitchen.analytics import indexes  # noqa: F401  # registers the indexes these queries read through
from kitchen.analytics.schemas import (
    BrandFigures,
    CustomerBucket,
    CustomerBucketName,
    Customers,
    OnTime,
    SlowItem,
    StatusDuration,
    StatusDurations,
    ThroughputHour,
    TicketTime,
    TicketTimes,
    TopCustomer,
)
from kitchen.brands.models import Brand
from kitchen.clock import Clock, system_clock
from kitchen.orders.models import ID_LENGTH, Order
from kitchen.orders.schemas import as_utc
from kitchen.orders.status import ItemStatus, OrderStatus
from kitchen.orders.summaries.buckets import estimate
from kitchen.orders.summaries.tables import (
    BUMPED,
    COOKED,
    DAY,
    ITEM_BUMPED,
    ITEM_READY,
    ITEM_STATUS,
    LATE,
    ON_TIME,
    ORDER_READY,
    ORDER_STATUS,
    QUARTER_HOUR,
    TICKET,
    AnalyticsCustomer,
    AnalyticsHistogram,
    AnalyticsQuarterHour,
    AnalyticsSample,
    day_number,
    month_number,
    month_start,
)

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


def rounded(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds), 3)


def _day_start(moment: datetime, up: bool = False) -> datetime:
    day = day_number(moment)
    start = datetime.fromtimestamp(day * DAY, UTC)
    return start + timedelta(days=1) if up and start < moment else start


def _next_day_start(moment: datetime) -> datetime:
    return _day_start(moment, up=True)


def _month_of(moment: datetime) -> datetime:
    return month_start(month_number(moment))


def _next_month_start(moment: datetime) -> datetime:
    first = _month_of(moment)
    return first if first == moment else month_start(month_number(moment) + 1)


@dataclass(frozen=True, slots=True)
class Spans:
    """[start, end) cut into whole UTC months, whole UTC days and the loose ends."""

    months: tuple[int, int] | None  # [first, last) month numbers
    days: tuple[tuple[int, int], ...]  # [first, last) day numbers
    loose: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Spans:
        first_day, last_day = _day_start(start, up=True), _day_start(end, up=False)
        if first_day >= last_day:
            return cls(None, (), ((start, end),) if start < end else ())
        loose = tuple((a, b) for a, b in ((start, first_day), (last_day, end)) if a < b)
        first_month = month_number(first_day) + (0 if first_day.day == 1 else 1)
        last_month = month_number(last_day)
        if first_month >= last_month:
            return cls(None, ((day_number(first_day), day_number(last_day)),), loose)
        days = tuple(
            (day_number(a), day_number(b))
            for a, b in ((first_day, month_start(first_month)), (month_start(last_month), last_day))
            if a < b
        )
        return cls((first_month, last_month), days, loose)


Group = Literal["key", "brand_id"]


@dataclass(frozen=True, slots=True)
class Summary:
    """One group's figures of a measure: how many samples, their mean, median and 90th percentile."""

    key: str
    label: str
    n: int
    mean: float
    p50: float
    p90: float


def histogram_summary(period: Period, measure: str, keys: Sequence[str] = (), group: Group = "key") -> Select[Any]:
    """Per `group` (the samples' key, or their brand) of `measure` over the orders of `period`:
    the buckets where its median and 90th percentile lie (`bucket_summary`).

    Reads whole months and whole days from `analytics_histograms` and the loose ends from
    `analytics_samples`.
    """
    h, s = AnalyticsHistogram, AnalyticsSample
    spans = Spans.of(period.start, period.end)
    parts: list[Any] = []

    def histogram(span: str, low: int, high: int) -> Any:
        conditions = [h.span == span, h.measure == measure, h.period >= low, h.period < high]
        if period.brand_ids:
            conditions.append(h.brand_id.in_(period.brand_ids))
        if keys:
            conditions.append(h.key.in_(keys))
        return select(
            getattr(h, group).label("key"), h.label, h.bucket, h.count.label("n"), h.total, h.low, h.high
        ).where(*conditions)

    if spans.months is not None:
        parts.append(histogram("month", *spans.months))
    parts.extend(histogram("day", low, high) for low, high in spans.days)
    for low, high in spans.loose:
        conditions = [s.measure == measure, s.created_at >= low, s.created_at < high]
        if period.brand_ids:
            conditions.append(s.brand_id.in_(period.brand_ids))
        if keys:
            conditions.append(s.key.in_(keys))
        parts.append(
            select(
                getattr(s, group).label("key"),
                func.max(s.label).label("label"),
                s.bucket,
                func.count().label("n"),
                func.sum(s.seconds).label("total"),
                func.min(s.seconds).label("low"),
                func.max(s.seconds).label("high"),
            )
            .where(*conditions)
            .group_by(getattr(s, group), s.bucket)
        )
    if not parts:
        parts.append(histogram("day", 0, 0))
    return bucket_summary(parts[0].subquery("buckets") if len(parts) == 1 else union_all(*parts).subquery("buckets"))


PERCENTILES = (50, 90)


def bucket_summary(rows: Subquery) -> Select[Any]:
    """Per `key` of duration buckets (key, label, bucket, n, total, low, high): n, the mean, and
    for each percentile the buckets it lies between.

    With the N samples of a key in order, the p-th percentile lies at 0-based position
    h = (N - 1) * p, between the samples at floor(h) and floor(h) + 1, linearly interpolated
    (percentile_cont). The statement finds the buckets holding those two samples (`p50_0`,
    `p50_1`: each with its count, the smallest and largest duration it counted, and where in it
    the sample lies, `_rank`) and h's fraction, in integer arithmetic, so both databases agree
    exactly; `summaries` turns them into seconds. The mean is sum(total) / N, exact.
    """
    merged = (
        select(
            rows.c.key,
            rows.c.bucket,
            func.max(rows.c.label).label("label"),
            cast(func.sum(rows.c.n), BigInteger).label("n"),
            func.sum(rows.c.total).label("total"),
            func.min(rows.c.low).label("low"),
            func.max(rows.c.high).label("high"),
        )
        .group_by(rows.c.key, rows.c.bucket)
        .subquery("merged")
    )
    running = select(
        merged,
        cast(func.sum(merged.c.n).over(partition_by=merged.c.key, order_by=merged.c.bucket), BigInteger).label("upto"),
        cast(func.sum(merged.c.n).over(partition_by=merged.c.key), BigInteger).label("n_all"),
    ).subquery("running")
    r = running.c

    def at_rank(i: ColumnElement[int], column: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.max(case(((r.upto - r.n <= i) & (i < r.upto), column)))

    columns: list[ColumnElement[Any]] = []
    for percent in PERCENTILES:
        position = (r.n_all - 1) * percent  # h * 100, an integer
        for neighbour in (0, 1):
            index = position // 100 + neighbour
            columns += [
                at_rank(index, r.bucket).label(f"p{percent}_{neighbour}"),
                at_rank(index, r.n).label(f"p{percent}_{neighbour}_n"),
                at_rank(index, index - (r.upto - r.n)).label(f"p{percent}_{neighbour}_rank"),
                at_rank(index, r.low).label(f"p{percent}_{neighbour}_low"),
                at_rank(index, r.high).label(f"p{percent}_{neighbour}_high"),
            ]
        columns.append(func.max(position % 100).label(f"p{percent}_fraction"))
    return select(
        r.key,
        func.max(r.label).label("label"),
        func.max(r.n_all).label("n"),
        (func.sum(r.total) / func.max(r.n_all)).label("mean"),
        *columns,
    ).group_by(r.key)


def _percentile(row: Any, percent: int) -> float:
    """The percentile from the buckets `bucket_summary` found (see `buckets.py` for its error)."""

    def sample(neighbour: int) -> float | None:
        name = f"p{percent}_{neighbour}"
        if getattr(row, name) is None:
            return None
        parts = ("", "_n", "_rank", "_low", "_high")
        return estimate(*(getattr(row, name + part) for part in parts))

    below, above = sample(0), sample(1)
    assert below is not None  # a key has at least one sample
    if above is None:
        return below
    return below + (above - below) * int(getattr(row, f"p{percent}_fraction")) / 100


def summaries(rows: Iterable[Any]) -> dict[str, Summary]:
    """The rows of `bucket_summary` as figures in seconds, by key."""
    return {
        row.key: Summary(row.key, row.label, int(row.n), float(row.mean), _percentile(row, 50), _percentile(row, 90))
        for row in rows
    }


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
    ) -> None:
        self.session = session
        self.clock = clock
        self.zone = zone or ZoneInfo("UTC")
        self.dialect = session.get_bind().dialect.name
        self._tuned = False

    async def _tune(self) -> None:
        """On PostgreSQL, read from one snapshot, sort in memory and skip JIT (it costs more than it saves here).

        One snapshot (REPEATABLE READ), when the session has not begun its transaction yet: a
        figure may look at the samples twice (`_widened`), and must see the same ones both times.
        """
        if self.dialect == "postgresql" and not self._tuned:
            if not self.session.in_transaction():
                await self.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            await self.session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
            await self.session.execute(text("SET LOCAL jit = off"))
            self._tuned = True

    def period(self, start: datetime | None, end: datetime | None, brand_ids: Sequence[str] = ()) -> Period:
        """The range the caller asked for; naive times are UTC.

        `to` defaults to now and `from` to 24 hours before `to`.

        Raises InvalidPeriod for times before 2000 or from 2100 on, `from` after `to`,
        ranges longer than two years and implausible brand lists.
        """
        try:
            end = as_utc(end, "to") if end is not None else None
            start = as_utc(start, "from") if start is not None else None
        except ValueError as exc:
            raise InvalidPeriod(str(exc).split(":", 1)[0], str(exc)) from exc
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
        for floor, ceiling in ((_day_start, _next_day_start), (_month_of, _next_month_start)):
            # Months only from whole days: a loose end that stays loose is not worth a look.
            low, whole_day = floor(start), _day_start(start) == start or floor is _day_start
            if low < start and whole_day and not await self._any_sample(measure, period.brand_ids, low, start):
                start = low
            high, whole_day = ceiling(end), _day_start(end) == end or floor is _day_start
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
        changes = list(_offset_changes([*hours, end], self.zone))

        def number(value: int) -> ColumnElement[int]:
            # Inlined integers, not parameters: PostgreSQL groups by this expression.
            return literal_column(str(int(value)), Integer)

        q = AnalyticsQuarterHour
        epoch = q.quarter * number(QUARTER_HOUR)
        offset = number(_offset_seconds(start, self.zone))
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

    async def customers(self, period: Period) -> Customers:
        """How many orders the customers who ordered in the period have placed in all, up to its end.

        `distribution` counts those customers by their order count (1, 2, 3-5, 6-10, 11+);
        `top` lists the ten with the most orders (ties: the most recent order first), with
        their first and last order. With a brand filter, only orders of those brands count.
        """
        await self._tune()
        c, later, earlier = AnalyticsCustomer, aliased(Order), aliased(Order)
        ids = period.brand_ids

        def of_brands(brand_id: SQLColumnExpression[str]) -> list[ColumnElement[bool]]:
            return [brand_id.in_(ids)] if ids else []

        # A customer ordered in the period when their last order before its end is at or after
        # its start. Lifetime totals (analytics_customers) minus the orders from the end on, which
        # for a period ending now are none: no pass over the orders themselves.
        candidates = select(c.account).where(c.last_order_at >= period.start, *of_brands(c.brand_id))
        totals = (
            select(
                c.account.label("account"),
                func.sum(c.orders).label("total"),
                func.min(c.first_order_at).label("first_order_at"),
                func.max(c.last_order_at).label("last_order_at"),
            )
            .where(c.account.in_(candidates), *of_brands(c.brand_id))
            .group_by(c.account)
            .subquery("totals")
        )
        after = (
            select(later.account.label("account"), func.count().label("orders"))
            .where(later.created_at >= period.end, *of_brands(later.brand_id))
            .group_by(later.account)
            .subquery("after")
        )
        last_before_end = (
            select(func.max(earlier.created_at))
            .where(earlier.account == totals.c.account, earlier.created_at < period.end, *of_brands(earlier.brand_id))
            .scalar_subquery()
        )
        up_to_end = (
            select(
                totals.c.account,
                (totals.c.total - func.coalesce(after.c.orders, 0)).label("orders"),
                totals.c.first_order_at,
                case((after.c.orders.is_(None), totals.c.last_order_at), else_=last_before_end).label("last_order_at"),
            )
            .join_from(totals, after, after.c.account == totals.c.account, isouter=True)
            .subquery("up_to_end")
        )
        lifetime = (
            select(up_to_end).where(up_to_end.c.orders > 0, up_to_end.c.last_order_at >= period.start).cte("lifetime")
        )
        n = lifetime.c.orders
        top = (
            select(
                literal_column("'top'").label("kind"),
                lifetime.c.account.label("name"),
                n.label("number"),
                lifetime.c.first_order_at,
                lifetime.c.last_order_at,
            )
            .order_by(n.desc(), lifetime.c.last_order_at.desc(), lifetime.c.account)
            .limit(TOP_CUSTOMERS)
            .subquery("top")
        )
        bucket = case((n == 1, "1"), (n == 2, "2"), (n <= 5, "3-5"), (n <= 10, "6-10"), else_="11+")
        buckets = select(
            literal_column("'bucket'"),
            bucket,
            func.count(),
            func.min(lifetime.c.first_order_at),
            func.max(lifetime.c.last_order_at),
        ).group_by(bucket)
        # Both answers from one statement, so the orders are grouped once.
        rows = (await self.session.execute(union_all(select(top), buckets))).all()
        found = {row.name: int(row.number) for row in rows if row.kind == "bucket"}
        names = await self._latest_names([row.name for row in rows if row.kind == "top"], period)
        return Customers(
            distribution=[CustomerBucket(bucket=name, customers=found.get(name, 0)) for name in CUSTOMER_BUCKETS],
            top=[
                TopCustomer(
                    account=row.name,
                    name=names.get(row.name, ""),
                    order_count=int(row.number),
                    first_order_at=row.first_order_at,
                    last_order_at=row.last_order_at,
                )
                for row in sorted(
                    (row for row in rows if row.kind == "top"),
                    key=lambda row: (-row.number, -row.last_order_at.timestamp(), row.name),
                )
            ],
        )

    async def _latest_names(self, accounts: Sequence[str], period: Period) -> dict[str, str]:
        """The customer name on each account's latest order up to the period's end.

        One index probe per account (the top customers are ten): a join on each account's latest
        time made PostgreSQL scan every order.
        """
        if not accounts:
            return {}
        names = union_all(
            *(
                select(
                    literal(account).label("account"),
                    select(Order.customer_name)
                    .where(Order.account == account, Order.created_at < period.end)
                    .order_by(Order.created_at.desc())
                    .limit(1)
                    .scalar_subquery()
                    .label("name"),
                )
                for account in accounts
            )
        )
        return {row.account: row.name or "" for row in await self.session.execute(names)}

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
        rows = [
            SlowItem(
                plu=plu,
                name=(timed.get(plu) or bumped[plu]).label,
                count=timed[plu].n if plu in timed else 0,
                bumped=bumped[plu].n if plu in bumped else 0,
                p50_seconds=rounded(timed[plu].p50) if plu in timed else None,
                p90_seconds=rounded(timed[plu].p90) if plu in timed else None,
            )
            for plu in timed.keys() | bumped.keys()
        ]
        return sorted(rows, key=lambda row: (row.p50_seconds is None, -(row.p50_seconds or 0), row.plu))

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
