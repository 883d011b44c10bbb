"""The kitchen's load now, and the watch that records a quote per brand every 30 s.

`kitchen_load` reads (queries.py) and applies the pure rules (quote.py); `LoadWatch` records what
it found in `kitchen_quotes` and calls `on_busy_change` when a brand's busy flag flips.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kitchen.analytics.periods import Period
from kitchen.board.rules import start_by
from kitchen.every import Every
from kitchen.load import queries
from kitchen.load.models import KitchenQuote
from kitchen.load.quote import (
    Accuracy,
    OpenLine,
    StationLoad,
    TypicalLine,
    accuracy,
    is_busy,
    minutes,
    most_at_once,
    most_common,
    prep_time,
    quote_seconds,
    station_loads,
    typical_size,
)
from kitchen.menu.service import UNASSIGNED
from kitchen.settings import Settings

log = logging.getLogger("kitchen.load")
WATCH_SECONDS = 30.0
# A brand whose latest quote is younger than this was recorded this turn by another process.
RECORDED_WITHIN = timedelta(seconds=WATCH_SECONDS / 2)
# An order's quote is the one in force when it came in: its brand's latest, if at most this old
# (an older one says the watch was not running, and the order is not counted).
QUOTE_IN_FORCE = timedelta(minutes=5)
TYPICAL_REFRESH = timedelta(minutes=10)

BusyHook = Callable[[str, bool, float], Awaitable[None]]


async def no_busy_change(brand_id: str, busy: bool, quote_minutes: float) -> None:
    """The default `on_busy_change`: nobody is told."""


@dataclass(frozen=True, slots=True)
class BrandQuote:
    brand_id: str
    name: str
    minutes: float
    busy: bool
    typical_order: tuple[TypicalLine, ...]


@dataclass(frozen=True, slots=True)
class KitchenLoad:
    at: datetime
    stations: list[StationLoad]
    cooks: dict[str, int]
    brands: list[BrandQuote]


@dataclass(frozen=True, slots=True)
class LoadRules:
    """The settings the load is computed with."""

    pack_seconds: int
    stale_after: timedelta
    busy_quote_minutes: float

    @classmethod
    def of(cls, settings: Settings) -> LoadRules:
        return cls(settings.pack_seconds, settings.stale_after, settings.busy_quote_minutes)


class TypicalOrders:
    """The last 7 days' orders a typical order is made of, read again at most every
    `TYPICAL_REFRESH` per process: a week's shape does not change in minutes, and reading it is
    most of the cost of the load (0.4 s of a busy week on PostgreSQL)."""

    def __init__(self) -> None:
        self._found: dict[str, queries.RecentOrders] | None = None
        self._at: datetime | None = None

    async def recent_orders(self, session: AsyncSession, now: datetime) -> dict[str, queries.RecentOrders]:
        if self._found is None or self._at is None or not self._at <= now < self._at + TYPICAL_REFRESH:
            self._found, self._at = await queries.recent_orders(session, now), now
        return self._found


async def kitchen_load(
    session: AsyncSession, now: datetime, rules: LoadRules, typical: TypicalOrders | None = None
) -> KitchenLoad:
    """The load on every station now, and a quote for every brand with a typical order
    (`typical`: the process's cache of the last week's orders; None reads them now)."""
    typical = typical or TypicalOrders()
    measured = await queries.prep_times_measured(session, now)
    menus = await queries.menus(session)

    def prep(brand_id: str, plu: str) -> tuple[str, int | None]:
        entry = menus.get(brand_id, {}).get(plu)
        return (entry.station, entry.prep_seconds) if entry else (UNASSIGNED, None)

    lines = []
    for row in await queries.open_lines(session, now, rules.stale_after):
        prep_seconds = prep_time(measured.get((row.brand_id, row.plu), []), row.menu_prep_seconds).seconds
        # Start-by with the menu's prep time, as the boards show it.
        due = start_by(row.pickup_time, row.menu_prep_seconds, rules.pack_seconds)
        lines.append(OpenLine(row.station, prep_seconds, due, row.started_at))
    loads = station_loads(lines, now)
    stays = await queries.preparing_stays(session, now)
    cooks = {
        station: max(1, most_at_once([(start, end) for s, start, end in stays if s == station]))
        for station in sorted({s for s, _, _ in stays} | set(loads))
    }
    work = {station: load.work_seconds for station, load in loads.items()}

    recent = await typical.recent_orders(session, now)
    names = await queries.brand_names(session)
    typical_orders: dict[str, tuple[TypicalLine, ...]] = {}
    for brand_id in sorted(set(names) | set(menus) | set(recent)):
        plus = _typical_plus(recent.get(brand_id), menus.get(brand_id, {}))
        if not plus:
            continue
        order = []
        for plu in plus:
            station, menu_seconds = prep(brand_id, plu)
            name = recent[brand_id].plu_names[plu] if brand_id in recent else menus[brand_id][plu].name
            order.append(TypicalLine(plu, name, station, prep_time(measured.get((brand_id, plu), []), menu_seconds)))
        typical_orders[brand_id] = tuple(order)
    # Whether a brand is busy depends on whether it was (is_busy's hysteresis): its last recorded flag.
    previous = await queries.latest_quotes(session, typical_orders)
    brands = []
    for brand_id, typical_order in typical_orders.items():
        quote = minutes(quote_seconds(typical_order, work, cooks, rules.pack_seconds))
        was_busy = brand_id in previous and previous[brand_id].busy
        brands.append(
            BrandQuote(
                brand_id=brand_id,
                name=names.get(brand_id, brand_id),
                minutes=quote,
                busy=is_busy(quote, rules.busy_quote_minutes, was_busy),
                typical_order=typical_order,
            )
        )
    return KitchenLoad(now, list(loads.values()), cooks, brands)


def _typical_plus(recent: queries.RecentOrders | None, menu: dict[str, queries.MenuLine]) -> list[str]:
    """A brand's typical order: its most common PLUs of the last 7 days, as many as its median
    order has lines; with no orders then, one line per station of its menu (the slowest there)."""
    if recent is not None:
        return most_common(recent.plu_orders, typical_size(recent.by_line_count))
    slowest: dict[str, queries.MenuLine] = {}
    for line in sorted(menu.values(), key=lambda line: (-(line.prep_seconds or 0), line.plu)):
        slowest.setdefault(line.station, line)
    return sorted(line.plu for line in slowest.values())


async def quote_accuracy(session: AsyncSession, period: Period) -> Accuracy:
    """How far the quotes in force when the period's orders came in were from their ready times:
    error = (first READY - createdAt) - quoted, in minutes, over the orders READY."""
    errors = [
        (order.ready_at - order.created_at).total_seconds() / 60 - order.quoted_minutes
        for order in await queries.quoted_orders(session, period)
        if order.ready_at is not None and order.created_at - order.quoted_at <= QUOTE_IN_FORCE
    ]
    return accuracy(errors)


class LoadService:
    """The load and the quotes' accuracy, for a request's session."""

    def __init__(
        self, session: AsyncSession, clock: Callable[[], datetime], rules: LoadRules, typical: TypicalOrders
    ) -> None:
        self.session = session
        self.clock = clock
        self.rules = rules
        self.typical = typical

    async def now(self) -> KitchenLoad:
        """The load computed now (not the watch's last turn)."""
        return await kitchen_load(self.session, self.clock(), self.rules, self.typical)

    async def accuracy(self, period: Period) -> Accuracy:
        """See `quote_accuracy`."""
        return await quote_accuracy(self.session, period)


class LoadWatch:
    """Every `WATCH_SECONDS`: computes the load, records each brand's quote, and calls
    `on_busy_change(brand_id, busy, quote_minutes)` when a brand's busy flag flips."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        rules: LoadRules,
        on_busy_change: BusyHook = no_busy_change,
        typical: TypicalOrders | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.rules = rules
        self.on_busy_change = on_busy_change
        self.typical = typical or TypicalOrders()
        self.current: KitchenLoad | None = None
        # Not at once: the first turn comes a turn after start, when the process has settled.
        self._every = Every(WATCH_SECONDS, self.look, "load-watch", at_once=False)

    @property
    def busy(self) -> dict[str, bool]:
        """Each quoted brand's flag as last computed."""
        return {brand.brand_id: brand.busy for brand in self.current.brands} if self.current else {}

    async def look(self) -> KitchenLoad:
        """Compute and record the load now; tell `on_busy_change` of every flag that flipped."""
        now = self.clock()
        async with self.sessions() as session:
            load = await kitchen_load(session, now, self.rules, self.typical)
            flips = await record(session, load)
        self.current = load
        for brand in flips:
            try:
                await self.on_busy_change(brand.brand_id, brand.busy, brand.minutes)
            except Exception:
                log.exception("on_busy_change failed for brand %s", brand.brand_id)
        return load

    async def start(self) -> None:
        await self._every.start()

    async def stop(self) -> None:
        await self._every.stop()


async def record(session: AsyncSession, load: KitchenLoad) -> list[BrandQuote]:
    """Write one quote per brand (unless another process has this turn) and commit; the brands
    whose flag differs from their last recorded one flipped.

    The last flag is read from the table, not kept in memory, so that of several processes (and
    across restarts) only the one that records a turn announces its flips.
    """
    await queries.hold_record_lock(session)
    previous = await queries.latest_quotes(session, [brand.brand_id for brand in load.brands])
    flipped = []
    for brand in load.brands:
        last = previous.get(brand.brand_id)
        if last is not None and load.at - last.at < RECORDED_WITHIN:
            continue
        session.add(KitchenQuote(brand_id=brand.brand_id, at=load.at, minutes=brand.minutes, busy=brand.busy))
        if brand.busy != (last.busy if last is not None else False):
            flipped.append(brand)
    await session.commit()
    return flipped
