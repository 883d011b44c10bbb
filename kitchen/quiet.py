"""A channel gone quiet: a brand that should have had orders by now and has had none.

Commercial displays stay calm and green when a delivery channel stops sending orders; a
kitchen hears of it from a customer an hour later. Here each brand's usual rate is learnt from
its own history, and a silence too long to be chance raises an alarm on every board and the
dashboard, in `/metrics`, until orders come again or a manager acknowledges or mutes it; the
channels' webhooks hear of it (brand.quiet, brand.normal) whatever the manager answered.

The rule, per brand, in the kitchen's time zone:
- its **usual rate** for an hour of the week is the median of its orders in that same hour
  (same weekday, same clock hour) over the last `WEEKS` weeks, read from the exact per-quarter-hour
  counters the order service keeps (`analytics_quarter_hours`);
- a brand is **open** today once it has had an order since the kitchen's midnight: a brand that
  has had none (closed for the day, or not yet open) never alarms;
- since its last order, the orders it would usually have had are the usual rates summed over the
  time since (part hours pro rata). Orders arrive as a Poisson process, so the chance of that
  silence is e^-expected; below `CHANCE` (1 %), that is, once more than ln(100) = 4.6 orders were
  expected, the silence is not chance: alarm. A brand usually taking 12 orders an hour alarms
  after 23 minutes of silence; one taking 2 an hour, after 2 h 18 min.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from advanced_alchemy.base import DefaultBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from kitchen.brands.models import Brand
from kitchen.every import Every
from kitchen.metrics import QUIET_BRANDS
from kitchen.orders.models import ID_LENGTH, Order
from kitchen.orders.summaries.tables import QUARTER_HOUR, AnalyticsQuarterHour, quarter_number

WEEKS = 4
CHANCE = 0.01
EXPECTED_LIMIT = math.log(1 / CHANCE)  # 4.6 orders: e^-4.6 = 1 %
HOUR = timedelta(hours=1)
WATCH_SECONDS = 30.0  # how often each process looks again
# Longer than this, a silence says a brand has shut, not that a channel broke: look no further back.
LONGEST_SILENCE = timedelta(hours=12)


class QuietMute(DefaultBase):
    """A manager's answer to a brand's alarm: seen (until orders come again) or muted until a time."""

    __tablename__ = "quiet_mutes"

    brand_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    # Acknowledged: quiet while the brand's last order is still this one.
    seen_last_order_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    muted_until: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True))
    by: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))


@dataclass(frozen=True, slots=True)
class QuietBrand:
    brand_id: str
    brand_name: str
    last_order_at: datetime
    silent_minutes: int
    usual_orders: int  # orders usually taken in that time
    muted: bool = False  # a manager answered it: off the boards, still told to the channels

    @property
    def text(self) -> str:
        return f"No orders for {self.brand_name} in {self.silent_minutes} min; usually {self.usual_orders} in that time"


def hours_between(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, float]]:
    """The kitchen's clock hours that [start, end) touches, each with the share of it inside."""
    hour = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        following = (hour.astimezone(ZoneInfo("UTC")) + HOUR).astimezone(zone)
        inside = min(end, following) - max(start, hour)
        hours.append((hour, inside / HOUR))
        hour = following
    return hours


def weeks_before(hour: datetime, weeks: int = WEEKS) -> list[datetime]:
    """The same clock hour on the same weekday, 1 to `weeks` weeks before (wall time, across DST)."""
    return [(hour.replace(tzinfo=None) - timedelta(weeks=k)).replace(tzinfo=hour.tzinfo) for k in range(1, weeks + 1)]


def expected_orders(hours: Sequence[tuple[datetime, float]], usual: Callable[[datetime], float]) -> float:
    """Orders usually taken over these (hour, share) pieces: each hour's usual rate, pro rata."""
    return sum(usual(hour) * share for hour, share in hours)


def is_quiet(expected: float) -> bool:
    """A silence over which `expected` orders usually come has a chance of e^-expected."""
    return expected > EXPECTED_LIMIT


async def _hour_counts(session: AsyncSession, brand_ids: set[str], hours: set[datetime]) -> dict[tuple[str, int], int]:
    """Orders received per (brand, quarter hour) in these clock hours."""
    quarters = {quarter_number(hour) + q for hour in hours for q in range(int(HOUR.total_seconds()) // QUARTER_HOUR)}
    if not quarters or not brand_ids:
        return {}
    q = AnalyticsQuarterHour
    statement = (
        select(q.brand_id, q.quarter, func.sum(q.received))
        .where(q.brand_id.in_(brand_ids), q.quarter.in_(quarters))
        .group_by(q.brand_id, q.quarter)
    )
    return {(brand_id, quarter): int(n) for brand_id, quarter, n in await session.execute(statement)}


async def quiet_brands(
    session: AsyncSession, now: datetime, zone: ZoneInfo, with_muted: bool = False
) -> list[QuietBrand]:
    """The brands whose silence since their last order is too long to be chance, and not muted
    (`with_muted`: the muted ones too, marked)."""
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    # Only today's orders, and none older than the longest silence looked at: a range of the
    # created_at index, however long the history.
    since = max(today, now - LONGEST_SILENCE)
    newest = (
        select(Order.brand_id, func.max(Order.created_at))
        .where(Order.created_at >= since, Order.created_at <= now)
        .group_by(Order.brand_id)
    )
    last_orders: dict[str, datetime] = dict((await session.execute(newest)).all())
    if not last_orders:
        return []
    pieces = {brand_id: hours_between(at, now, zone) for brand_id, at in last_orders.items()}
    past_hours = {earlier for hours in pieces.values() for hour, _ in hours for earlier in weeks_before(hour)}
    counts = await _hour_counts(session, set(last_orders), past_hours)

    def usual_for(brand_id: str) -> Callable[[datetime], float]:
        def usual(hour: datetime) -> float:
            per_week = []
            for earlier in weeks_before(hour):
                first = quarter_number(earlier)
                per_week.append(sum(counts.get((brand_id, first + q), 0) for q in range(4)))
            return statistics.median(per_week)

        return usual

    names = {b.id: b.name for b in (await session.scalars(select(Brand))).all()}
    mutes = {m.brand_id: m for m in (await session.scalars(select(QuietMute))).all()}
    quiet = []
    for brand_id, last_at in sorted(last_orders.items()):
        expected = expected_orders(pieces[brand_id], usual_for(brand_id))
        muted = _muted(mutes.get(brand_id), last_at, now)
        if not is_quiet(expected) or (muted and not with_muted):
            continue
        minutes = int((now - last_at).total_seconds() // 60)
        quiet.append(QuietBrand(brand_id, names.get(brand_id, brand_id), last_at, minutes, round(expected), muted))
    return quiet


def _muted(mute: QuietMute | None, last_order_at: datetime, now: datetime) -> bool:
    if mute is None:
        return False
    if mute.muted_until is not None and mute.muted_until > now:
        return True
    return mute.seen_last_order_at is not None and mute.seen_last_order_at >= last_order_at


async def answer_alarm(
    session: AsyncSession, brand_id: str, by: str, now: datetime, mute_for: timedelta | None = None
) -> None:
    """A manager has seen a brand's alarm: quiet until its next order, or (`mute_for`) until a time."""
    mute = await session.get(QuietMute, brand_id) or QuietMute(brand_id=brand_id)
    if mute_for is None:
        last_order = select(func.max(Order.created_at)).where(Order.brand_id == brand_id)
        mute.seen_last_order_at, mute.muted_until = await session.scalar(last_order), None
    else:
        mute.seen_last_order_at, mute.muted_until = None, now + mute_for
    mute.by, mute.at = by, now
    session.add(mute)
    await session.commit()


class QuietWatch:
    """Looks at every brand every `WATCH_SECONDS` and tells `announce` when the alarms change, and
    `tell` (the channels' webhooks: webhooks/quiet.py) every time which brands are quiet, muted or not."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        zone: ZoneInfo,
        announce: Callable[[list[QuietBrand]], Awaitable[None]],
        tell: Callable[[list[QuietBrand]], Awaitable[None]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.zone = zone
        self.announce = announce
        self.tell = tell
        self.current: list[QuietBrand] = []
        self._every = Every(WATCH_SECONDS, self.look, "quiet-watch", at_once=True)

    async def look(self) -> list[QuietBrand]:
        """Look now; announce when the alarms (or their minutes) changed."""
        async with self.sessions() as session:
            with_muted = await quiet_brands(session, self.clock(), self.zone, with_muted=True)
        found = [quiet for quiet in with_muted if not quiet.muted]
        if self.tell is not None:
            await self.tell(with_muted)
        if found != self.current:
            for brand_id in {q.brand_id for q in self.current} - {q.brand_id for q in found}:
                QUIET_BRANDS.labels(brand_id).set(0)
            for quiet in found:
                QUIET_BRANDS.labels(quiet.brand_id).set(1)
            self.current = found
            await self.announce(found)
        return found

    async def start(self) -> None:
        await self._every.start()

    async def stop(self) -> None:
        await self._every.stop()
